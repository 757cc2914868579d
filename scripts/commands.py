"""The icegather command as a user runs it: the one installed beside the interpreter that runs
the scripts and the tests (a virtual environment's bin/, which need not be on PATH)."""

from __future__ import annotations

import sys
from pathlib import Path

ICEGATHER = str(Path(sys.executable).with_name("icegather"))
