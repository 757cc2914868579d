"""The transport's confinement, in the order its start-up allows (``docs/architecture.md``,
"The sandbox"):

1. ``prepare``, while the process still has one thread: what later needs a file is done now
   (OpenSSL reads its configuration, a first name lookup loads the resolver's configuration and
   modules, lazily imported modules are imported); then resource limits, no
   capabilities, no new privileges, and Landlock, which confines this thread and every thread
   created after it: ZeroMQ's I/O thread and asyncio's resolver threads.
2. The service binds its IPC socket (Landlock lets it make that one socket file).
3. ``seal``: the seccomp filter, on every thread at once (TSYNC), compiled for the threads
   there are then (the calls about a thread are allowed for the transport's own only).
"""

from __future__ import annotations

import os
import resource
import socket
import ssl
import stat
import subprocess
import threading
import time
from dataclasses import dataclass

from icegather.shared.protocol.restart_causes import RestartCause
from icegather.shared.structs import SandboxInfo
from icegather.transport_proc.sandbox import landlock, limits
from icegather.transport_proc.sandbox.file_watch import FileWatch
from icegather.transport_proc.sandbox.policy import RESOLVER_FILES, path_rules, syscall_rules
from icegather.transport_proc.sandbox.seccomp_filter import SeccompFilter


class SandboxError(OSError):
    """A layer that this kernel supports could not be put in place."""


@dataclass(frozen=True)
class SandboxPlan:
    # The ipc:// socket's path, or None for tcp://.
    ipc_socket: str | None
    remove_runtime_dir: bool
    # tcp:// with CURVE: the directory of the accepted clients' keys, read once bound.
    curve_clients: str | None
    max_jobs: int


def pipe_streams_that_are_files() -> None:
    """Standard output or error that is a regular file (``2>>LOG``, a test runner's capture)
    becomes a pipe into ``cat``, which appends to that file: once confined, the transport can
    no longer write to any file itself (its file size limit is 0). ``cat`` does nothing but copy,
    and ends when the transport does."""
    for fd in (1, 2):
        try:
            is_file = stat.S_ISREG(os.fstat(fd).st_mode)
        except OSError:  # closed: nothing to write to
            continue
        if is_file:
            read, write = os.pipe()
            subprocess.Popen(["cat"], stdin=read, stdout=fd, close_fds=True)
            os.dup2(write, fd)
            os.close(read)
            os.close(write)


def warm_up() -> None:
    """Everything the service would otherwise do on first use and can no longer do confined."""
    import concurrent.futures.thread  # noqa: F401  asyncio's default executor, imported lazily
    import encodings.idna  # noqa: F401  host names are encoded with it

    from icegather.transport_proc.audit.tls_probe import VERSIONS, version_context
    from icegather.transport_proc.stun.tls_contexts import tls_context

    tls_context(False)  # OpenSSL reads its configuration once, on its first context
    for version in VERSIONS:
        version_context(version)
    # glibc reads nsswitch.conf, hosts and gai.conf and loads the sources' modules on the first
    # lookup; later lookups re-read only the files Landlock leaves readable.
    socket.getaddrinfo("localhost", None)


def certificate_files() -> tuple[str, ...]:
    """The CA certificates a verifying TLS context reads (``SSL_CERT_FILE``, or the system's
    bundle). The context is made on first use, so that a transport that verifies no certificate
    never reads them: 17 ms of every one-shot check's start otherwise. The directory of hashed
    links (``capath``) is not granted: its files live elsewhere, and the bundle holds the same
    certificates."""
    cafile = ssl.get_default_verify_paths().cafile
    return (cafile,) if cafile else ()


def observed(status_fd: int, enabled: bool, landlock_abi: int, landlock_enforced: bool) -> SandboxInfo:
    """The confinement as the kernel reports it: ``/proc/self/status`` (read through
    ``status_fd``) and the process's limits; Landlock has no such report, so the caller says."""
    text = os.pread(status_fd, 16384, 0).decode("ascii", "replace")
    status = {key: value.strip() for key, _, value in (line.partition(":") for line in text.splitlines())}
    return SandboxInfo(
        enabled=enabled,
        no_new_privs=status.get("NoNewPrivs") == "1",
        seccomp_mode=int(status.get("Seccomp", "0")),
        seccomp_filters=int(status.get("Seccomp_filters", "0")),
        landlock_abi=landlock_abi,
        landlock_enforced=landlock_enforced,
        capabilities=int(status.get("CapEff", "0"), 16),
        max_file_size=_hard_limit(resource.RLIMIT_FSIZE),
        max_core_size=_hard_limit(resource.RLIMIT_CORE),
        max_open_files=_hard_limit(resource.RLIMIT_NOFILE),
    )


def unconfined() -> SandboxInfo:
    """What a transport run with ``--no-sandbox`` reports."""
    fd = os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
    try:
        return observed(fd, False, landlock.abi_version(), False)
    finally:
        os.close(fd)


def _one_thread_left(within: float = 1.0) -> bool:
    """Whether the kernel lists one thread only. A Python thread that was joined may still be
    exiting in the kernel for a moment (Python's join does not wait for that), so a thread
    that has just ended is waited for; there is no event to wait on."""
    deadline = time.monotonic() + within
    while len(os.listdir("/proc/self/task")) > 1:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def _hard_limit(which: int) -> int:
    hard = resource.getrlimit(which)[1]
    return -1 if hard == resource.RLIM_INFINITY else hard


class Sandbox:
    def __init__(self, plan: SandboxPlan) -> None:
        self.plan = plan
        self.landlock_abi = landlock.abi_version()
        self.landlock_enforced = False
        # With Landlock, which holds the files it grants by inode: tells when one is replaced.
        self.file_watch: FileWatch | None = None
        # Kept open: once confined, /proc/self/status can no longer be opened, only re-read.
        self._status = os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
        # The same for the list of threads, which ``seal`` reads.
        self._threads = os.open("/proc/self/task", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def prepare(self) -> None:
        if threading.active_count() > 1 or not _one_thread_left():
            raise SandboxError("the transport must confine itself before it starts any thread")
        warm_up()
        self._filter = SeccompFilter()  # libseccomp is a file
        # The open files that --max-jobs typical jobs need, at most the hard limit; the service
        # admits each job by what it may hold within what is left (``TransportService``).
        limits.set_limits(self.plan.max_jobs)
        limits.drop_capabilities()
        limits.forbid_new_privileges()
        if self.landlock_abi > 0:
            plan = self.plan
            certificates = certificate_files()
            rules = path_rules(plan.ipc_socket, plan.remove_runtime_dir, plan.curve_clients, certificates)
            watched: dict[RestartCause, tuple[str, ...]] = {
                "resolver_files_replaced": RESOLVER_FILES, "certificate_files_replaced": certificates,
            }
            self.file_watch = FileWatch.open(watched)  # just before the rules hold the files
            landlock.restrict(self.landlock_abi, rules)
            self.landlock_enforced = True

    def seal(self) -> None:
        # ZeroMQ's threads exist now (its context made the IPC socket); none has been started
        # since without being listed, as nothing else runs until the filter is on.
        threads = tuple(sorted(int(name) for name in os.listdir(self._threads)))
        os.close(self._threads)
        self._filter.load(syscall_rules(os.getpid(), threads))

    def info(self) -> SandboxInfo:
        return observed(self._status, True, self.landlock_abi, self.landlock_enforced)
