"""The seccomp-bpf filter, compiled by libseccomp from ``policy.syscall_rules``.

ctypes over Debian's ``libseccomp.so.2`` rather than a PyPI binding (``pyseccomp`` has had no
release since 2021), and no hand-assembled BPF: libseccomp knows each architecture's system
call numbers and checks the architecture of every call, which hand-written BPF gets wrong.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterable

from icegather.transport_proc.sandbox.policy import ArgIs, SyscallRule

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO = 0x00050000
SCMP_CMP_NE = 1
SCMP_CMP_EQ = 4
SCMP_CMP_MASKED_EQ = 7
SCMP_FLTATR_ACT_BADARCH = 2
SCMP_FLTATR_CTL_TSYNC = 4
SCMP_FLTATR_CTL_OPTIMIZE = 8
# A binary tree of system call numbers (libseccomp 2.5) instead of a list to walk: the calls
# the kernel cannot cache (those whose arguments are checked: socket, ioctl, mmap...) are
# decided in a few comparisons.
OPTIMIZE_BINARY_TREE = 2
NR_SCMP_ERROR = -1
# KILL_PROCESS needs API level 3 (libseccomp 2.4 on Linux 4.14), TSYNC level 2.
REQUIRED_API_LEVEL = 3


class SeccompUnavailable(OSError):
    """libseccomp is missing, or the kernel lacks what the filter needs."""


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def _load_library() -> ctypes.CDLL:
    try:  # by its soname: ctypes.util.find_library would run ldconfig in a subprocess
        library = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as exc:
        raise SeccompUnavailable(errno.ENOENT, f"libseccomp is missing ({exc}); apt install libseccomp2") from None
    library.seccomp_init.restype = ctypes.c_void_p
    library.seccomp_init.argtypes = [ctypes.c_uint32]
    library.seccomp_release.argtypes = [ctypes.c_void_p]
    library.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    library.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    library.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    library.seccomp_load.argtypes = [ctypes.c_void_p]
    library.seccomp_api_get.restype = ctypes.c_uint
    return library


def _action(rule: SyscallRule) -> int:
    if rule.action == "allow":
        return SCMP_ACT_ALLOW
    if rule.action == "kill":
        return SCMP_ACT_KILL_PROCESS
    return SCMP_ACT_ERRNO | errno.ENOSYS


def _comparison(condition: ArgIs) -> _ArgCmp:
    if condition.negate:
        return _ArgCmp(condition.index, SCMP_CMP_NE, condition.equals, 0)
    if condition.mask == -1:
        return _ArgCmp(condition.index, SCMP_CMP_EQ, condition.equals, 0)
    return _ArgCmp(condition.index, SCMP_CMP_MASKED_EQ, condition.mask, condition.equals)


def _check(result: int, what: str) -> None:
    if result < 0:  # libseccomp returns -errno
        raise SeccompUnavailable(-result, f"{what}: {os.strerror(-result)}")


class SeccompFilter:
    """libseccomp, loaded while the process can still open its file; ``load`` then compiles a
    filter and puts it in place. A call that no rule takes fails with EPERM; a call of another
    architecture's ABI (a way around the numbers the filter knows) kills the process."""

    def __init__(self) -> None:
        self._library = _load_library()
        if self._library.seccomp_api_get() < REQUIRED_API_LEVEL:
            raise SeccompUnavailable(errno.ENOSYS, "the kernel or libseccomp lacks seccomp API level 3")

    def load(self, rules: Iterable[SyscallRule]) -> None:
        """Compile ``rules`` and put the filter on every thread of the process (TSYNC: ZeroMQ's
        I/O thread too)."""
        context = self._library.seccomp_init(SCMP_ACT_ERRNO | errno.EPERM)
        if not context:
            raise SeccompUnavailable(errno.ENOMEM, "seccomp_init failed")
        try:
            self._add(context, rules)
            _check(self._library.seccomp_load(context), "seccomp_load")
        finally:
            self._library.seccomp_release(context)

    def _add(self, context: int, rules: Iterable[SyscallRule]) -> None:
        library = self._library
        for attribute, value in ((SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), (SCMP_FLTATR_CTL_TSYNC, 1),
                                 (SCMP_FLTATR_CTL_OPTIMIZE, OPTIMIZE_BINARY_TREE)):
            _check(library.seccomp_attr_set(context, attribute, value), f"seccomp_attr_set {attribute}")
        for rule in rules:
            number = library.seccomp_syscall_resolve_name(rule.name.encode())
            if number == NR_SCMP_ERROR:
                continue  # not a system call on this architecture
            comparisons = (_ArgCmp * len(rule.conditions))(*map(_comparison, rule.conditions))
            _check(library.seccomp_rule_add_array(context, _action(rule), number, len(rule.conditions), comparisons),
                   f"seccomp rule for {rule.name}")
