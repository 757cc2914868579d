"""The commands the tests run as a user would: the ones installed beside the interpreter that
runs the suite (a virtual environment's bin/, which need not be on PATH)."""

from __future__ import annotations

import sys
from pathlib import Path

ICEGATHER = str(Path(sys.executable).with_name("icegather"))
