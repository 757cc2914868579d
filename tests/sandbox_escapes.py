"""A transport service in which tests try to escape its sandbox.

    python -I tests/sandbox_escapes.py --bind ipc://DIR/transport [the transport's options]

The service starts exactly as ``python -m icegather.transport_proc`` starts it (``main``), with
one change: once the service is serving (confined: right after ``Sandbox.seal`` loaded the
seccomp filter; with ``--no-sandbox``: right after it observed that it is not confined), it
writes ``{"ready": PID, "sandbox": {...}}`` to standard output and then reads attempts from
standard input, one JSON object ``{"try": NAME, "arg": TEXT}`` a line. Each runs on the event
loop's thread, the one that parses what STUN and TURN servers send, and its outcome is written
as one JSON line: ``{"try": NAME, "trying": true}`` first (a call that kills the process ends
the output there), then ``{"try": NAME, "ok": true, "value": ...}`` or ``{"try": NAME, "ok":
false, "errno": "EACCES", "error": TEXT}``. The end of standard input stops the service.

Everything an attempt needs is imported here, before the service confines itself (confined, it
could no longer read a module's file), or by the service itself; and no more of the service than
``main`` imports before it confines itself, so that its start takes the same course.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import json
import mmap
import os
import resource
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from icegather.shared.structs import SandboxInfo
from icegather.transport_proc import __main__ as transport
from icegather.transport_proc.sandbox import confinement

PTRACE_SEIZE = 0x4206
ETH_P_ALL = 3
ECHO_TIMEOUT = 10.0

_libc = ctypes.CDLL(None, use_errno=True)


def _checked(result: int) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def _address(arg: str) -> tuple[str, int]:
    host, _, port = arg.rpartition(":")
    return host, int(port)


# --- what an attacker would try ----------------------------------------------------------


# What an attempt read is counted, never shown: it may be a secret (/etc/shadow).
def read_file(path: str) -> int:
    with open(path, "rb") as file:
        return len(file.read(64))


def list_directory(path: str) -> int:
    return len(os.listdir(path))


def create_file(path: str) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        return os.write(fd, b"escaped\n")
    finally:
        os.close(fd)


def truncate_file(path: str) -> int:
    """Empty a file of the user's: no write, so the file size limit does not stop it."""
    os.close(os.open(path, os.O_WRONLY | os.O_TRUNC))
    return os.stat(path).st_size


def remove_file(path: str) -> None:
    os.unlink(path)


def fork(_: str) -> int:
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
    return child


def execute(path: str) -> None:
    os.execv(path, [path])


def packet_socket(_: str) -> str:
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
        return repr(sock)


def socket_of(arg: str) -> str:
    """A socket of family, type and protocol given as numbers: "2,1,262" is MPTCP over IPv4."""
    family, kind, protocol = map(int, arg.split(","))
    with socket.socket(family, kind, protocol) as sock:
        return repr(sock)


def unix_socket(_: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        return repr(sock)


def unix_socket_pair(_: str) -> str:
    first, second = socket.socketpair()
    first.close()
    second.close()
    return "a connected pair"


def connect_unix(path: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        return str(sock.getpeername())


def ptrace(pid: str) -> int:
    # PTRACE_SEIZE, unlike PTRACE_ATTACH, does not stop the process it would trace.
    return _checked(_libc.ptrace(PTRACE_SEIZE, int(pid), None, None))


def mount(target: str) -> int:
    return _checked(_libc.mount(b"none", target.encode(), b"tmpfs", 0, None))


def change_mode(path: str) -> str:
    os.chmod(path, 0o777)
    return oct(os.stat(path).st_mode)


def executable_memory(_: str) -> str:
    with mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC) as memory:
        return repr(memory)


def signal_process(pid: str) -> None:
    os.kill(int(pid), 0)  # signal 0: the call is made, and nothing is delivered


def set_scheduler(pid: str) -> None:
    """SCHED_IDLE: the process then runs only when nothing else would. For a process of the
    same user, no capability is needed."""
    os.sched_setscheduler(int(pid), os.SCHED_IDLE, os.sched_param(0))


def read_scheduler(pid: str) -> int:
    return os.sched_getscheduler(int(pid))


def set_limit(pid: str) -> None:
    """Lower another process's open-file limit: a process of the same user needs no capability."""
    resource.prlimit(int(pid), resource.RLIMIT_NOFILE, (64, 64))


def read_limit(pid: str) -> int:
    return resource.prlimit(int(pid), resource.RLIMIT_NOFILE)[1]


async def read_file_on_a_new_thread(path: str) -> int:
    """A thread made after confinement (here: asyncio's resolver pool) is confined too."""
    return await asyncio.get_running_loop().run_in_executor(None, read_file, path)


# --- what the transport needs --------------------------------------------------------------


def udp_echo(arg: str) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(ECHO_TIMEOUT)
        sock.sendto(b"over udp", _address(arg))
        return sock.recv(100).decode()


def tcp_echo(arg: str) -> str:
    with socket.create_connection(_address(arg), ECHO_TIMEOUT) as sock:
        sock.sendall(b"over tcp")
        return sock.recv(100).decode()


def keep_own_scheduling(_: str) -> list[int]:
    """What ZeroMQ's threads do as they start, and glibc's getrlimit: the transport's own
    scheduling set again unchanged, and its own limits read, named by 0 and by its id."""
    limits = []
    for own in (0, os.getpid()):
        os.sched_setscheduler(own, os.sched_getscheduler(own), os.sched_getparam(own))
        os.sched_getaffinity(own)
        limits.append(resource.prlimit(own, resource.RLIMIT_FSIZE)[1])
    return limits


def glibc_lookup(name: str) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(name, 3478, type=socket.SOCK_DGRAM)})


async def lookup_on_a_new_thread(name: str) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(name, 3478, type=socket.SOCK_DGRAM)
    return sorted({str(info[4][0]) for info in infos})


async def transport_lookup(name: str) -> list[str]:
    from icegather.transport_proc.stun import resolver  # loaded by the service already

    return list(await resolver.resolve(name, 3478, 2.0))


ATTEMPTS: dict[str, Callable[[str], Any]] = {
    function.__name__: function
    for function in (
        read_file, list_directory, create_file, truncate_file, remove_file, fork, execute, socket_of, packet_socket,
        unix_socket, unix_socket_pair, connect_unix, ptrace, mount, change_mode, executable_memory, signal_process,
        set_scheduler, read_scheduler, set_limit, read_limit, read_file_on_a_new_thread,
        udp_echo, tcp_echo, keep_own_scheduling, glibc_lookup, lookup_on_a_new_thread, transport_lookup,
    )
}


# --- the service's side --------------------------------------------------------------------


def write(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


async def attempt(name: str, arg: str) -> None:
    write({"try": name, "trying": True})
    try:
        value = ATTEMPTS[name](arg)  # a call the filter refuses fails here, on this thread
        if asyncio.iscoroutine(value):
            value = await value
    except Exception as exc:  # OSError, or the transport's own AttemptFailed (which has a text)
        code = errno.errorcode.get(getattr(exc, "errno", None) or 0)
        write({"try": name, "ok": False, "errno": code, "error": getattr(exc, "text", str(exc))})
    else:
        write({"try": name, "ok": True, "value": value})


class Attempts:
    """Takes attempts from standard input, on the event loop's thread, once the service serves."""

    def __init__(self) -> None:
        self.pending = b""
        self.running: set[asyncio.Task[None]] = set()

    def start(self, info: SandboxInfo) -> SandboxInfo:
        write({"ready": os.getpid(), "sandbox": asdict(info)})
        asyncio.get_running_loop().add_reader(0, self.readable)
        return info

    def readable(self) -> None:
        chunk = os.read(0, 65536)
        if not chunk:
            asyncio.get_running_loop().remove_reader(0)
            signal.raise_signal(signal.SIGINT)  # asyncio.run then cancels the service: a clean stop
            return
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        for line in lines:
            request = json.loads(line)
            task = asyncio.ensure_future(attempt(request["try"], request.get("arg", "")))
            self.running.add(task)
            task.add_done_callback(self.running.discard)


def take_attempts_once_serving() -> None:
    """Wrap what the service calls once its socket is bound: ``Sandbox.seal`` when confined,
    ``unconfined`` with ``--no-sandbox`` (before the service module imports it)."""
    attempts = Attempts()
    seal = confinement.Sandbox.seal
    unconfined = confinement.unconfined

    def seal_then_take_attempts(sandbox: confinement.Sandbox) -> None:
        seal(sandbox)
        attempts.start(sandbox.info())

    confinement.Sandbox.seal = seal_then_take_attempts  # type: ignore[method-assign]
    confinement.unconfined = lambda: attempts.start(unconfined())


if __name__ == "__main__":
    take_attempts_once_serving()
    transport.main(sys.argv[1:])
