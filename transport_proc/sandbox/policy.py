"""What the confined transport may still do, as data: the files Landlock leaves readable, the
system calls seccomp allows (and with which arguments), and the resource limits. Sans-IO: the
layers that apply it (``landlock``, ``seccomp_filter``, ``limits``) read these tables.

The model is Firefox's socket process (``SandboxFilter.cpp``, ``SocketProcessSandboxPolicy``)
and Chromium's network-service policy (``bpf_network_policy_linux.cc``): sockets of the
Internet families only, no process creation, no file system but what name resolution reads.
"""

from __future__ import annotations

import os
import socket
import termios
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# --- Landlock -----------------------------------------------------------------------------

# Access rights, by the ABI that introduced them (include/uapi/linux/landlock.h).
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_SOCK = 1 << 9
ABI_1_ACCESS = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

# What glibc's getaddrinfo reads on each lookup (it re-reads a file whose time changed):
# nsswitch.conf says which sources to ask, hosts is the "files" source, resolv.conf the DNS
# servers, gai.conf the order of addresses, host.conf the "files" source's options. Debian's
# glibc (2.34 and later) has the files and dns sources built in; any other source's module is
# loaded by the lookup made before confinement.
RESOLVER_FILES = ("/etc/nsswitch.conf", "/etc/hosts", "/etc/resolv.conf", "/etc/gai.conf", "/etc/host.conf")


def handled_access(abi: int) -> int:
    """Every file access right this ABI can refuse: all of them are handled, so that only
    what a rule grants is allowed."""
    if abi < 1:
        return 0
    return ABI_1_ACCESS | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0) | (IOCTL_DEV if abi >= 5 else 0)


def scopes(abi: int) -> int:
    """With ABI 6, no signal to a process outside the sandbox and no connection to an abstract
    Unix socket made outside it."""
    return SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0


@dataclass(frozen=True)
class PathRule:
    """``access`` granted on ``path`` and, for a directory, everything beneath it."""

    path: str
    access: int


def path_rules(
    ipc_socket: str | None, remove_runtime_dir: bool, curve_clients: str | None, certificates: tuple[str, ...] = ()
) -> tuple[PathRule, ...]:
    """The files the confined transport may touch: the resolver's, read-only; for an
    ``ipc://`` endpoint, making its socket in its directory (bound once confined); for
    ``tcp://``, reading the accepted clients' CURVE keys. With ``remove_runtime_dir``, for a
    directory the main process made for this transport alone (``shared.runtime_dirs``):
    removing the socket in it, and it, a right on its parent, which holds such directories only.
    A Landlock right covers everything beneath its directory, so no removal is granted in a
    directory someone else chose: a confined transport there leaves its socket behind, and the
    next one removes it before it confines itself. ``certificates``: the trusted CA certificates'
    files, read-only (public data), for the first verifying TLS context, made on first use."""
    rules = [PathRule(path, READ_FILE) for path in (*RESOLVER_FILES, *certificates)]
    if curve_clients is not None:
        rules.append(PathRule(curve_clients, READ_FILE | READ_DIR))
    if ipc_socket is not None:
        directory = Path(ipc_socket).parent
        rules.append(PathRule(str(directory), MAKE_SOCK | (REMOVE_FILE if remove_runtime_dir else 0)))
        if remove_runtime_dir:
            rules.append(PathRule(str(directory.parent), REMOVE_DIR))
    return tuple(rules)


# --- seccomp ------------------------------------------------------------------------------

Action = Literal["allow", "kill", "enosys"]


@dataclass(frozen=True)
class ArgIs:
    """A condition on argument ``index`` of a system call: ``(value & mask) == equals``
    (``mask`` -1: the whole value), or ``!=`` with ``negate``."""

    index: int
    equals: int
    mask: int = -1
    negate: bool = False


@dataclass(frozen=True)
class SyscallRule:
    """``action`` for system call ``name`` when every condition holds (a call no rule takes
    fails with EPERM: the default)."""

    name: str
    action: Action
    conditions: tuple[ArgIs, ...] = ()


# Allowed whatever the arguments: memory, I/O on descriptors the transport holds, waiting,
# time, threads' own housekeeping, and the socket calls on sockets socket() allowed. File
# names reach only what Landlock leaves open: the resolver's files (openat, and stat for its
# reload check), and the IPC socket and its directory (unlink, rmdir).
ALLOWED = (
    "read", "readv", "pread64", "write", "writev", "pwrite64", "close", "lseek", "fcntl", "dup", "dup3",
    "fstat", "newfstatat", "statx", "unlink", "unlinkat", "rmdir",
    "brk", "munmap", "mremap", "madvise",
    "poll", "ppoll", "select", "pselect6", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
    "eventfd2",
    "clock_gettime", "clock_getres", "gettimeofday", "clock_nanosleep", "nanosleep",
    "futex", "set_robust_list", "rseq", "sched_yield", "set_tid_address", "exit", "exit_group",
    "restart_syscall",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
    "getpid", "gettid", "getuid", "geteuid", "getgid", "getegid", "uname", "sysinfo", "getrandom", "getrlimit",
    "connect", "bind", "accept4", "getsockname", "getpeername", "getsockopt", "setsockopt",
    "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
)

# Only an attacker makes these: the process is killed (SIGSYS), and the main process reports
# a sandbox violation. Everything else that is not allowed fails with EPERM, so that a library
# probing for a feature (a late import, a fork for a helper program) fails cleanly.
KILLED = (
    "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "mount", "umount2", "pivot_root", "chroot", "setns", "unshare", "mount_setattr", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "open_by_handle_at", "name_to_handle_at",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "bpf", "perf_event_open",
    "userfaultfd", "add_key", "request_key", "keyctl", "reboot", "swapon", "swapoff", "acct", "quotactl",
    "iopl", "ioperm", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
)

SOCK_TYPE_MASK = 0xF
PR_SET_NAME = 15
PROT_EXEC = 0x4
CLONE_THREAD = 0x10000
# ioctl requests that CPython and ZeroMQ make on their own descriptors: non-blocking mode,
# bytes waiting, close-on-exec, and the terminal check of isatty().
IOCTLS = (termios.FIONBIO, termios.FIONREAD, termios.FIOCLEX, termios.FIONCLEX, termios.TCGETS)


# Calls about a process or thread named by their first argument, allowed for the transport's
# own only: ZeroMQ's threads read their scheduling and set it again unchanged as they start
# (glibc names the thread by its id), glibc asks for the CPUs it may run on, and limits may be
# read (below). For another process of the same user, setting SCHED_IDLE or reading its
# limits needs no capability: an attack on the user's other programs.
OWN_ONLY = ("sched_getscheduler", "sched_getparam", "sched_setscheduler", "sched_getaffinity")


def syscall_rules(pid: int, threads: tuple[int, ...] = ()) -> tuple[SyscallRule, ...]:
    """The whole seccomp policy of the process ``pid``, whose threads are ``threads`` when the
    filter is loaded (their ids; later threads are asyncio's resolver threads, which make none
    of the ``OWN_ONLY`` calls)."""
    # 0 is "the calling thread" to each of these calls; the process's id is its first thread's.
    own = tuple(dict.fromkeys((0, pid, *threads)))
    rules = [SyscallRule(name, "allow") for name in ALLOWED]
    rules += [SyscallRule(name, "kill") for name in KILLED]
    # socket(): Internet families, UDP or TCP (the protocol 0 or named), whatever the
    # SOCK_NONBLOCK/CLOEXEC flags: not MPTCP, UDP-Lite, SCTP or ICMP, which the same family and
    # type reach with another protocol, each more kernel code open to attack.
    rules += [
        SyscallRule("socket", "allow", (ArgIs(0, family), ArgIs(1, kind, SOCK_TYPE_MASK), ArgIs(2, protocol)))
        for family in (socket.AF_INET, socket.AF_INET6)
        for kind, named in ((socket.SOCK_DGRAM, socket.IPPROTO_UDP), (socket.SOCK_STREAM, socket.IPPROTO_TCP))
        for protocol in (0, named)
    ]
    # Memory that can hold code is what an exploit needs next; CPython makes none once started.
    rules += [SyscallRule(name, "allow", (ArgIs(2, 0, PROT_EXEC),)) for name in ("mmap", "mprotect")]
    # Threads (asyncio's resolver pool) but no processes. clone3 passes its flags in memory,
    # where seccomp cannot look: ENOSYS makes glibc fall back to clone, whose flags it can.
    rules.append(SyscallRule("clone", "allow", (ArgIs(0, CLONE_THREAD, CLONE_THREAD),)))
    rules.append(SyscallRule("clone3", "enosys"))
    # Files only for reading: nothing is written once confined, and without Landlock (an older
    # kernel) this is what keeps the transport from creating, truncating or writing the user's.
    rules.append(SyscallRule("openat", "allow", (ArgIs(2, os.O_RDONLY, os.O_ACCMODE | os.O_CREAT | os.O_TRUNC),)))
    # Signals to itself (raise, abort) only; a signal to another process is an attack.
    for name in ("kill", "tgkill"):
        rules.append(SyscallRule(name, "allow", (ArgIs(0, pid),)))
        rules.append(SyscallRule(name, "kill", (ArgIs(0, pid, negate=True),)))
    rules += [SyscallRule(name, "allow", (ArgIs(0, target),)) for name in OWN_ONLY for target in own]
    # Its own limits may be read, not raised (root could raise the hard ones).
    rules += [SyscallRule("prlimit64", "allow", (ArgIs(0, target), ArgIs(2, 0))) for target in own]
    rules.append(SyscallRule("prctl", "allow", (ArgIs(0, PR_SET_NAME),)))  # a thread's name
    rules += [SyscallRule("ioctl", "allow", (ArgIs(1, request),)) for request in IOCTLS]
    return tuple(rules)


# --- resource limits ----------------------------------------------------------------------

# The open files of a typical job, which the limit is sized by: the command line's check of a
# STUN and a TURN URL from a dual-stack host, with the relay check and the IPv6 ask (2 host
# sockets and 4 per address for the TURN URL). Each job is admitted by its own need
# (``Job.files_needed``).
FILES_PER_JOB = 10
# The process's own: standard streams, the event loop's, ZeroMQ's, the resolver's.
BASE_FILES = 256


def open_files_limit(max_jobs: int, hard_limit: int) -> int:
    """The open-file limit that ``max_jobs`` typical jobs need, never above the current hard
    limit."""
    return min(BASE_FILES + FILES_PER_JOB * max_jobs, hard_limit)


def file_budget(files_limit: int) -> int:
    """What the jobs may hold together under an open-file limit of ``files_limit``: beyond it
    a job is refused cleanly rather than failing on a socket it cannot open."""
    return max(0, files_limit - BASE_FILES)
