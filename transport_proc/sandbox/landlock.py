"""Landlock through its three system calls (Linux 5.13+), with ctypes: no library wraps them
in Python's standard library, and the kernel's interface is three calls and two structs.

``restrict`` confines the calling thread and the threads it creates afterwards (with ABI 7 and
earlier there is no flag to confine threads that already exist), so it is called before any
other thread is started.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable

from icegather.transport_proc.sandbox.libc import checked, libc
from icegather.transport_proc.sandbox.policy import PathRule, handled_access, scopes

# x86_64 and aarch64 (and every architecture since 5.13) share these numbers.
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def abi_version() -> int:
    """The kernel's Landlock ABI; 0 when it has none (too old, or not in its LSM list)."""
    version = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), LANDLOCK_CREATE_RULESET_VERSION)
    return max(int(version), 0)


def _ruleset_size(abi: int) -> int:
    # The struct grew with ABI 4 (network) and 6 (scopes); an older kernel takes the old size.
    return 8 if abi < 4 else 16 if abi < 6 else 24


def restrict(abi: int, rules: Iterable[PathRule]) -> None:
    """Confine this thread (and the threads it creates) to ``rules``: every file access right
    that ``abi`` knows is handled, so that what no rule allows is refused (EACCES). A rule's
    path that does not exist is left out: it allows nothing then."""
    attr = _RulesetAttr(handled_access(abi), 0, scopes(abi))
    ruleset = checked(libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr),
                                   ctypes.c_size_t(_ruleset_size(abi)), 0), "landlock_create_ruleset")
    try:
        for rule in rules:
            try:
                fd = os.open(rule.path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                beneath = _PathBeneathAttr(rule.access & handled_access(abi), fd)
                checked(libc.syscall(SYS_LANDLOCK_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH,
                                     ctypes.byref(beneath), 0), f"landlock_add_rule {rule.path}")
            finally:
                os.close(fd)
        checked(libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)

