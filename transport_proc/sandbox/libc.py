"""libc through ctypes, for the system calls Python's ``os`` lacks (Landlock's)."""

from __future__ import annotations

import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def checked(result: int, what: str) -> int:
    """``result`` of a call that returns -1 (or less) on failure, which raises ``OSError``."""
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result
