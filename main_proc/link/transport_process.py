"""Starting and stopping a transport process of our own.

The process serves on an ``ipc://`` socket in a fresh directory that only this user can open
(``tempfile.mkdtemp`` creates it with mode 0700), and lives exactly as long as the pipe on its
stdin: if this process dies, the kernel closes the pipe and the transport exits by itself,
removing that directory. It runs isolated (``python -I``): neither the current directory nor
``PYTHON*`` variables can put other modules in place of icegather's.
Its exit is noticed at once through a pidfd (Linux 5.3+), without a thread; where the kernel
has no ``pidfd_open`` (older kernels, gVisor, valgrind's emulation), one thread waits for it and
tells every wait.

The transport confines itself (``transport_proc.sandbox``) and then cannot write to a file, so
its standard error is a pipe whatever this process's is (a file, under pytest or in CI): a
thread copies what comes through it to this process's standard error. A transport killed by
its seccomp filter (SIGSYS) tried something its sandbox forbids: a sandbox violation, reported
as such rather than as a crash.

The command line spawns it as soon as its arguments parse, before it validates the rest of its
input or loads asyncio and ZeroMQ itself, so that both processes start up at the same time
(input found bad then kills it): this module imports asyncio only in the methods that wait.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import IO

from icegather.main_proc.link.transport_error import TransportError
from icegather.shared import runtime_dirs
from icegather.shared.platform_support import unsupported_platform

# How long a transport may take to release its allocations and exit once asked to.
STOP_TIMEOUT = 5.0
# The status a transport exits with to be restarted, to read files replaced since it confined
# itself (``transport_proc.service.RESTART_STATUS``): planned, not a crash.
RESTART_STATUS = os.EX_TEMPFAIL


class TransportProcess:
    def __init__(self, popen: subprocess.Popen[bytes], runtime_dir: str) -> None:
        self.popen = popen
        self.runtime_dir = runtime_dir
        self.endpoint = f"ipc://{runtime_dir}/transport"
        # Without pidfd: who the one thread that waits for the exit tells (None: no thread yet).
        self._exit_lock = threading.Lock()
        self._exit_listeners: list[Callable[[], object]] | None = None

    @classmethod
    def start(cls, log_level: str = "WARNING", sandbox: bool = True, forward_stderr: bool = True) -> TransportProcess:
        """Start a transport, confined unless ``sandbox`` is False (for debugging). What it writes
        on its standard error is copied to ours, or, without ``forward_stderr``, held in its pipe
        until ``forward_stderr()``: the command line's bad input is one line, whatever a transport
        started before it was found says."""
        unsupported = unsupported_platform()
        if unsupported is not None:
            raise TransportError(unsupported)
        runtime_dir = tempfile.mkdtemp(prefix=runtime_dirs.PREFIX, dir=made_runtime_parent())
        command = [
            sys.executable, "-I", "-m", "icegather.transport_proc",
            "--bind", f"ipc://{runtime_dir}/transport",
            "--watch-stdin",
            "--remove-runtime-dir",
            "--log-level", log_level,
        ]
        if not sandbox:
            command.append("--no-sandbox")
        # A session of its own: Ctrl-C at the terminal reaches this process, which ends the
        # transport through its stdin (its allocations released), never a transport still
        # starting, which would leave its directory behind.
        popen = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 start_new_session=True)
        process = cls(popen, runtime_dir)
        if forward_stderr:
            process.forward_stderr()
        return process

    def forward_stderr(self) -> None:
        """Copy what the process writes on its standard error to ours, from now on."""
        assert self.popen.stderr is not None
        threading.Thread(target=copy_to_stderr, args=(self.popen.stderr,), name="transport stderr", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    async def wait_exit(self) -> str:
        """Wait until the process exits; return a description of how it ended."""
        import asyncio

        if self.popen.returncode is not None:
            return describe_exit(self.popen.returncode)
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not exited.done():
                exited.set_result(None)

        pidfd: int | None = None
        forget: Callable[[], None] | None = None
        try:
            pidfd = os.pidfd_open(self.popen.pid)
        except (OSError, AttributeError):  # no pidfd here (the kernel, or a Python built without)
            forget = self._when_exited(lambda: loop.call_soon_threadsafe(readable))
        else:
            loop.add_reader(pidfd, readable)
        try:
            # Not once it has exited: the thread may have told its listeners before this one came.
            if self.popen.poll() is None:
                await exited
        finally:
            if pidfd is not None:
                loop.remove_reader(pidfd)
                os.close(pidfd)
            if forget is not None:
                forget()
        return describe_exit(self.popen.wait())

    def _when_exited(self, listener: Callable[[], object]) -> Callable[[], None]:
        """Have ``listener`` called once the process has exited, from the one thread that waits
        for it (a daemon: it never holds this process up at its own exit); return what forgets
        it again, for a wait that ends first."""
        with self._exit_lock:
            if self._exit_listeners is None:
                # Started first: a thread that fails to start leaves the next wait to try again.
                threading.Thread(target=self._wait_for_exit, name=f"transport {self.pid} exit", daemon=True).start()
                self._exit_listeners = []
            self._exit_listeners.append(listener)

        def forget() -> None:
            with self._exit_lock, contextlib.suppress(ValueError):  # told, and gone, already
                assert self._exit_listeners is not None
                self._exit_listeners.remove(listener)

        return forget

    def _wait_for_exit(self) -> None:
        self.popen.wait()
        with self._exit_lock:
            assert self._exit_listeners is not None
            listeners, self._exit_listeners = self._exit_listeners, []
        for listener in listeners:
            with contextlib.suppress(RuntimeError):  # its event loop was closed meanwhile
                listener()

    def kill(self) -> None:
        """End a process that failed (hung, misbehaving) at once: SIGKILL, no grace."""
        if self.popen.returncode is None:
            self.popen.kill()
            self.popen.wait()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def ask_to_exit(self) -> None:
        """Close its stdin: it releases its TURN allocations, then exits by itself."""
        if self.popen.stdin is not None and not self.popen.stdin.closed:
            self.popen.stdin.close()

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask the process to exit and wait for it without blocking the event loop; kill it if
        it has not exited after ``timeout`` (releasing allocations takes well under a second)."""
        import asyncio

        self.ask_to_exit()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.wait_exit(), timeout)
        self.kill()  # a no-op for a process that exited, but for the runtime directory


def made_runtime_parent() -> str:
    """Where this user's transports keep their sockets (``shared.runtime_dirs``): made once with
    mode 0700 and kept; refused if it is anything else."""
    try:
        return str(runtime_dirs.made_parent())
    except runtime_dirs.UnsafeRuntimeDir as exc:
        raise TransportError(str(exc)) from None


def copy_to_stderr(pipe: IO[bytes]) -> None:
    """Copy the transport's standard error to ours until it closes (the transport ended)."""
    with pipe:
        for line in pipe:
            sys.stderr.write(line.decode("utf-8", "replace"))
            sys.stderr.flush()


def describe_exit(returncode: int) -> str:
    if returncode == RESTART_STATUS:
        return f"restarted to read new configuration files (exit status {RESTART_STATUS})"
    if returncode == -signal.SIGSYS:
        return "was stopped by its sandbox: a sandbox violation (SIGSYS, a system call it may not make)"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exited with status {returncode}"
