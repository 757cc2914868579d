"""Print the lowest version of each dependency that pyproject.toml allows, as pip pins
(``aioice>=0.13`` -> ``aioice==0.13``), so that CI can test the floors we declare."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8"))
for requirement in project["project"]["dependencies"]:
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)(,.*)?", requirement)
    if match is None:
        raise SystemExit(f"no floor to pin in {requirement!r}: declare one with >=")
    print(f"{match[1]}=={match[2]}")
