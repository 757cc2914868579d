"""The main process's end of the link to one transport process.

A ``TransportClient`` owns one DEALER socket connected to a transport's ROUTER. It greets the
transport (``client_hello`` / ``server_hello``, checking the protocol version), sends
``gather`` and ``close`` requests, and routes every message that comes back to the observer
of the peer connection it belongs to. What the transport sends is untrusted: a message that
fails validation, repeats a sequence number or makes no sense for its peer connection is
dropped and counted in ``rejected``; the loop never dies of it.

When the transport process exits (``start()`` spawned it) every peer connection still
gathering is told through ``on_transport_failure``; later ``gather`` calls raise
``TransportError``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import zmq
import zmq.asyncio

from shared import protocol
from shared.ice_config import IceConfiguration
from shared.structs import CandidateInfo, GatherOptions, IceCandidateErrorInfo, ServerAnswerInfo
from main_proc.transport_process import TransportProcess

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT = 10.0


class TransportError(Exception):
    """The transport process failed, refused a request, or could not be reached."""


class TransportObserver(Protocol):
    """What a peer connection hears from the transport. Each method returns False when the
    message made no sense in the peer connection's state (it is then counted as rejected)."""

    def on_candidate(self, info: CandidateInfo) -> bool: ...

    def on_candidate_error(self, info: IceCandidateErrorInfo) -> bool: ...

    def on_server_answer(self, info: ServerAnswerInfo) -> bool: ...

    def on_gathering_state(self, state: str) -> bool: ...

    def on_gather_rejected(self, reason: str) -> bool: ...

    def on_transport_failure(self, reason: str) -> None: ...


class TransportClient:
    def __init__(self, context: zmq.asyncio.Context, sock: zmq.asyncio.Socket, process: TransportProcess | None) -> None:
        self._context = context
        self._sock = sock
        self.process = process
        self.transport_pid: int | None = None
        self.rejected = 0
        self.failure: str | None = None
        self._inbox = protocol.Inbox(protocol.decode_to_main)
        self._next_seq = 0
        self._last_pc_id = 0
        self._observers: dict[int, TransportObserver] = {}
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def start(cls, log_level: str = "WARNING", timeout: float = STARTUP_TIMEOUT) -> TransportClient:
        """Start a transport process of our own and connect to it."""
        process = TransportProcess.start(log_level)
        try:
            return await cls._connect(process.endpoint, process, timeout)
        except BaseException:
            process.stop()
            raise

    @classmethod
    async def connect(cls, endpoint: str, timeout: float = STARTUP_TIMEOUT) -> TransportClient:
        """Connect to a transport that is already running (the embedded-service case)."""
        return await cls._connect(endpoint, None, timeout)

    @classmethod
    async def _connect(cls, endpoint: str, process: TransportProcess | None, timeout: float) -> TransportClient:
        context = zmq.asyncio.Context()
        sock = context.socket(zmq.DEALER)
        # As on the transport side: no message may be dropped for want of a queue slot.
        sock.setsockopt(zmq.SNDHWM, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RECONNECT_IVL, 20)
        sock.connect(endpoint)
        client = cls(context, sock, process)
        try:
            await client._handshake(timeout)
        except BaseException:
            client._close_socket()
            raise
        client._tasks.append(asyncio.ensure_future(client._receive_loop()))
        if process is not None:
            client._tasks.append(asyncio.ensure_future(client._watch_process(process)))
        return client

    async def _handshake(self, timeout: float) -> None:
        self._send(protocol.ClientHello())
        waiting = [asyncio.ensure_future(self._sock.recv())]
        if self.process is not None:
            waiting.append(asyncio.ensure_future(self.process.wait_exit()))
        done, pending = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if not done:
            raise TransportError(f"the transport did not answer within {timeout:g} s")
        if waiting[0] not in done:
            raise TransportError(f"the transport process {waiting[1].result()} before it was ready")
        try:
            hello = self._inbox.read(waiting[0].result())
        except protocol.ProtocolError as exc:
            raise TransportError(f"the transport's greeting is invalid: {exc}") from None
        if not isinstance(hello, protocol.ServerHello):
            raise TransportError(f"the transport greeted with {type(hello).__name__}")
        if hello.protocol_version != protocol.PROTOCOL_VERSION:
            raise TransportError(
                f"the transport speaks protocol {hello.protocol_version}, we speak {protocol.PROTOCOL_VERSION}"
            )
        self.transport_pid = hello.pid

    def gather(self, configuration: IceConfiguration, options: GatherOptions, observer: TransportObserver) -> int:
        """Ask the transport to gather for a new peer connection; return its ``pc_id``."""
        if self.failure is not None:
            raise TransportError(self.failure)
        self._last_pc_id += 1
        pc_id = self._last_pc_id
        self._observers[pc_id] = observer
        self._send(protocol.Gather(pc_id, configuration, options))
        return pc_id

    def stop(self, pc_id: int) -> None:
        """Stop gathering for ``pc_id`` and release its allocations; no more messages for it."""
        if self._observers.pop(pc_id, None) is not None and self.failure is None:
            self._send(protocol.Close(pc_id))

    def close(self) -> None:
        """Disconnect; a transport process of our own is stopped (allocations released)."""
        if self.failure is None:
            self.failure = "the transport client is closed"
        for task in self._tasks:
            task.cancel()
        self._close_socket()
        if self.process is not None:
            self.process.stop()

    def _close_socket(self) -> None:
        self._sock.close(linger=0)
        self._context.term()

    def _send(self, message: protocol.Message) -> None:
        self._sock.send(protocol.encode(message, self._next_seq))
        self._next_seq += 1

    async def _receive_loop(self) -> None:
        while True:
            data = await self._sock.recv()
            try:
                message = self._inbox.read(data)
            except protocol.ProtocolError as exc:
                self._reject(str(exc))
                continue
            reason = self._route(message)
            if reason is not None:
                self._reject(reason)

    def _route(self, message: protocol.Message) -> str | None:
        """Hand a message to its peer connection; return why it was refused, if it was."""
        name = type(message).__name__
        pc_id = getattr(message, "pc_id", None)
        if pc_id is None:
            return f"unexpected {name}"
        observer = self._observers.get(pc_id)
        if observer is None:
            # Normal for a peer connection that closed while its messages were in flight.
            return None if 0 < pc_id <= self._last_pc_id else f"{name} for unknown pc_id {pc_id}"
        if isinstance(message, protocol.Candidate):
            accepted = observer.on_candidate(message.info)
        elif isinstance(message, protocol.CandidateError):
            accepted = observer.on_candidate_error(message.info)
        elif isinstance(message, protocol.ServerAnswer):
            accepted = observer.on_server_answer(message.info)
        elif isinstance(message, protocol.GatheringState):
            accepted = observer.on_gathering_state(message.state)
        else:
            accepted = observer.on_gather_rejected(message.reason)  # the last type to a main process
        return None if accepted else f"{name} outside gathering for pc_id {pc_id}"

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        logger.warning("rejected a message from the transport (%d so far): %s", self.rejected, reason)

    async def _watch_process(self, process: TransportProcess) -> None:
        how = await process.wait_exit()
        if self.failure is not None:
            return  # We stopped it.
        self.failure = f"the transport process (pid {process.pid}) {how}"
        logger.error("%s", self.failure)
        observers, self._observers = list(self._observers.values()), {}
        for observer in observers:
            observer.on_transport_failure(self.failure)
