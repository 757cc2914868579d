"""Running ``icegather audit`` as a user does, for the audit's tests: the installed command,
loopback local addresses only, NDJSON read back into records."""

from __future__ import annotations

import json
import os
import subprocess

from commands import ICEGATHER

LOOPBACK = ["--local-address", "127.0.0.1", "--local-address", "::1"]
FAST = ["--rto", "0.05", "--max-sends", "2", "--final-wait", "2"]


def audit(*args: str, env: dict[str, str] | None = None) -> tuple[int, list[dict]]:
    result = subprocess.run([ICEGATHER, "audit", "--json", *LOOPBACK, *args], capture_output=True, text=True,
                            timeout=120, env={**os.environ, **(env or {})})
    assert result.stderr == ""
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()]


def checks(records: list[dict]) -> list[dict]:
    return [record for record in records if record["type"] == "auditcheck"]
