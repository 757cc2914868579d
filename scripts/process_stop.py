"""Ending a child process that the benchmarks and tests started."""

from __future__ import annotations

import subprocess
from typing import Any


def stop(process: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM, and SIGKILL if ``process`` has not ended within ``timeout`` seconds; its pipes
    are drained meanwhile, since a child blocked writing to a full pipe could not end."""
    process.terminate()
    try:
        process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
