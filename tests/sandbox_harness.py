"""A transport service to try things in: ``sandbox_escapes.py`` run as the main process runs
its own transport, and the attempts made in it, one JSON line each (``Harness``); and the
greeting of a transport service started by a test (``server_hello``)."""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import zmq
from fake_transport import lingerless_context

from icegather.main_proc.link.transport_process import TransportProcess, made_runtime_parent
from icegather.shared import protocol
from icegather.shared.structs import SandboxInfo

HARNESS = str(Path(__file__).with_name("sandbox_escapes.py"))
LINE_TIMEOUT = 15.0


class Harness:
    """A transport service run by ``sandbox_escapes.py`` as the main process runs its own (a
    fresh directory in ``made_runtime_parent()``, removed when it ends), and the attempts made in it."""

    def __init__(self, *options: str, directory: str | None = None) -> None:
        """``directory``: the socket's, as a standalone service is given (and kept when it ends)."""
        if directory is None:
            directory = tempfile.mkdtemp(prefix="transport-", dir=made_runtime_parent())
            options = ("--remove-runtime-dir", *options)
        command = [sys.executable, "-I", HARNESS, "--bind", f"ipc://{directory}/transport", *options]
        popen = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.process = TransportProcess(popen, directory)
        self._pending = b""
        ready = self.read()
        assert ready is not None, self.stop_and_tell()
        self.pid: int = ready["ready"]
        self.sandbox = SandboxInfo(**ready["sandbox"])

    def read(self) -> dict[str, Any] | None:
        """The next line it wrote; None once its output has ended."""
        stdout = self.process.popen.stdout
        assert stdout is not None
        while b"\n" not in self._pending:
            readable, _, _ = select.select([stdout], [], [], LINE_TIMEOUT)
            assert readable, f"nothing from the harness in {LINE_TIMEOUT:g} s"
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                return None
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        record: dict[str, Any] = json.loads(line)
        return record

    def send(self, name: str, arg: str = "") -> None:
        stdin = self.process.popen.stdin
        assert stdin is not None
        stdin.write(json.dumps({"try": name, "arg": arg}).encode() + b"\n")
        stdin.flush()
        assert self.read() == {"try": name, "trying": True}

    def attempt(self, name: str, arg: str = "") -> dict[str, Any]:
        self.send(name, arg)
        outcome = self.read()
        assert outcome is not None, self.stop_and_tell()
        return outcome

    def stop_and_tell(self) -> str:
        """Stop it (the end of its input), and say how it ended and what it wrote to stderr."""
        self.process.ask_to_exit()
        try:
            self.process.popen.wait(10)
        finally:
            self.process.kill()
        stderr = self.process.popen.stderr
        assert stderr is not None
        return f"the harness exited with {self.process.popen.returncode}: {stderr.read().decode()}"


async def server_hello(endpoint: str, *first: bytes) -> protocol.Message:
    """What the service at ``endpoint`` answers a ClientHello with, on a connection of the
    test's own, after ``first`` was sent there as it is (its answer comes after ``first`` was read:
    one connection, in order)."""
    context = lingerless_context()
    client = context.socket(zmq.DEALER)
    client.connect(endpoint)
    for message in first:
        await client.send(message)
    await client.send(protocol.encode(protocol.ClientHello(), 0))
    [(_, hello)] = protocol.decode_to_main(await asyncio.wait_for(client.recv(), LINE_TIMEOUT * 2))
    client.close(linger=0)
    context.term()
    return hello
