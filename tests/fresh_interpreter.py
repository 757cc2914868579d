"""Running a few lines in a fresh interpreter, for what one process can only tell of itself
(which modules it loaded, how its collector is set)."""

from __future__ import annotations

import subprocess
import sys


def printed_by(source: str) -> str:
    """What ``source`` prints when run by a fresh, isolated interpreter (``python -I``); it must
    exit 0."""
    result = subprocess.run([sys.executable, "-I", "-c", source], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
