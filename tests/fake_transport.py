"""A fake transport on a real ROUTER socket, for testing what the main process does with a
transport that misbehaves."""

from __future__ import annotations

import os
import shutil
import tempfile

import zmq
import zmq.asyncio

from icegather.shared import protocol


def lingerless_context() -> zmq.asyncio.Context:
    """A context whose sockets never linger: one that a failed test leaves behind cannot hang the
    suite later, when the garbage collector terminates it with messages still queued."""
    context = zmq.asyncio.Context()
    context.setsockopt(zmq.LINGER, 0)
    return context


class HostileTransport:
    """A fake transport on a real ROUTER socket: it greets properly, then sends what we tell it."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="icegather-test-")
        self.endpoint = f"ipc://{self.dir}/transport"
        self.context = lingerless_context()
        self.sock = self.context.socket(zmq.ROUTER)
        self.sock.bind(self.endpoint)
        self.peer = b""
        self.seq = 0

    async def accept_client(self) -> None:
        self.peer, _ = await self.sock.recv_multipart()
        await self.send(protocol.ServerHello(pid=os.getpid()))

    async def send(self, message: protocol.Message) -> None:
        await self.send_raw(protocol.encode(message, self.seq))
        self.seq += 1

    async def send_raw(self, data: bytes) -> None:
        await self.sock.send_multipart([self.peer, data])

    async def next_request(self) -> protocol.Message:
        _, data = await self.sock.recv_multipart()
        return next(protocol.decode_to_transport(data))[1]

    def close(self) -> None:
        self.sock.close(linger=0)
        self.context.term()
        shutil.rmtree(self.dir)
