"""The process-wide layers that need no filter: resource limits, no capabilities, and no new
privileges (what OpenSSH's privilege-separated child sets before its seccomp filter)."""

from __future__ import annotations

import ctypes
import os
import resource
import signal

from icegather.transport_proc.sandbox.policy import open_files_limit

PR_SET_NO_NEW_PRIVS = 38
LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _fail(what: str) -> None:
    code = ctypes.get_errno()
    raise OSError(code, f"{what}: {os.strerror(code)}")


def set_limits(max_jobs: int) -> None:
    """No file may grow (the transport writes no file: its output goes to pipes), no core dump
    (it would hold what the transport read), and open files bounded to what ``max_jobs`` typical
    jobs need. Soft and hard limits alike, so that they cannot be raised again."""
    # A write to a regular file then fails with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    limit = open_files_limit(max_jobs, hard if hard != resource.RLIM_INFINITY else 2**31 - 1)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def drop_capabilities() -> None:
    """A transport run as root keeps none of root's capabilities (dropping needs none)."""
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()  # all zero: no capability, effective, permitted or inheritable
    if _libc.capset(ctypes.byref(header), data) != 0:
        _fail("capset")


def forbid_new_privileges() -> None:
    """No exec can gain privileges again (set-uid files, file capabilities); Landlock and
    seccomp need it of an unprivileged process."""
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _fail("prctl(PR_SET_NO_NEW_PRIVS)")
