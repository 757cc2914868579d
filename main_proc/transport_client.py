"""The main process's end of the link to one transport process, and its supervision.

A ``TransportClient`` owns one DEALER socket connected to a transport's ROUTER. It greets the
transport (``client_hello`` / ``server_hello``, checking the protocol version), sends
``gather`` and ``close`` requests, and routes every message that comes back to the observer
of the peer connection it belongs to.

What the transport sends is untrusted, and the client supervises it. The transport has
*failed* when

* its process exits (``start()`` spawned it; noticed through a pidfd, at once);
* it stops answering: no message, not even a heartbeat, for ``heartbeat_timeout`` seconds
  (it is stopped, deadlocked, or the service is gone);
* it sends a bad message: one that fails validation, repeats or skips a sequence number, or
  makes no sense for its peer connection. The message is dropped and counted in
  ``rejected`` and never reaches a peer connection. Like a browser that kills a child process
  for a bad IPC message, the client then stops trusting that transport: a transport that
  lost or garbled one event cannot be trusted with the next.

On failure, a transport process of our own is killed, every peer connection still gathering
is told through ``on_transport_failure`` (its ``gather()`` raises ``TransportError``) and later
``gather`` calls raise ``TransportError``; ``TransportSupervisor`` then starts a fresh one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import zmq
import zmq.asyncio

from shared import protocol
from shared.curve_keys import CurveKeys
from shared.ice_config import IceConfiguration
from shared.structs import CandidateInfo, GatherOptions, IceCandidateErrorInfo, ServerAnswerInfo
from main_proc.transport_process import TransportProcess

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT = 10.0
RECEIVE_BATCH = 256


@dataclass(frozen=True)
class Supervision:
    """How closely a transport is watched."""

    # Asked of the transport in client_hello: a heartbeat every this many seconds.
    heartbeat_interval: float = 1.0
    # Silence (no message at all) after which the transport counts as hung.
    heartbeat_timeout: float = 5.0


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
    def __init__(
        self,
        context: zmq.asyncio.Context,
        sock: zmq.asyncio.Socket,
        process: TransportProcess | None,
        supervision: Supervision,
    ) -> None:
        self._context = context
        self._sock = sock
        self.process = process
        self.supervision = supervision
        self._last_heard = time.monotonic()
        self._closed = False
        self.transport_pid: int | None = None
        self.rejected = 0
        self.failure: str | None = None
        self._inbox = protocol.Inbox(protocol.decode_to_main)
        self._next_seq = 0
        self._last_pc_id = 0
        self._observers: dict[int, TransportObserver] = {}
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def start(
        cls, log_level: str = "WARNING", timeout: float = STARTUP_TIMEOUT, supervision: Supervision = Supervision()
    ) -> TransportClient:
        """Start a transport process of our own and connect to it."""
        process = TransportProcess.start(log_level)
        try:
            return await cls._connect(process.endpoint, process, timeout, supervision)
        except BaseException:
            process.stop()
            raise

    @classmethod
    async def connect(
        cls,
        endpoint: str,
        timeout: float = STARTUP_TIMEOUT,
        supervision: Supervision = Supervision(),
        curve: CurveKeys | None = None,
    ) -> TransportClient:
        """Connect to a transport that is already running (the embedded-service case); over
        TCP the service requires CURVE, and ``curve`` holds the keys."""
        return await cls._connect(endpoint, None, timeout, supervision, curve)

    @classmethod
    async def _connect(
        cls,
        endpoint: str,
        process: TransportProcess | None,
        timeout: float,
        supervision: Supervision,
        curve: CurveKeys | None = None,
    ) -> TransportClient:
        context = zmq.asyncio.Context()
        sock = context.socket(zmq.DEALER)
        # As on the transport side: no message may be dropped for want of a queue slot.
        sock.setsockopt(zmq.SNDHWM, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RECONNECT_IVL, 20)
        if curve is not None:
            curve.apply_to_client(sock)
        sock.connect(endpoint)
        client = cls(context, sock, process, supervision)
        try:
            await client._handshake(timeout)
        except BaseException:
            client._close_socket()
            raise
        client._tasks.append(asyncio.ensure_future(client._receive_loop()))
        if supervision.heartbeat_interval > 0:
            client._tasks.append(asyncio.ensure_future(client._watch_heartbeat()))
        if process is not None:
            client._tasks.append(asyncio.ensure_future(client._watch_process(process)))
        return client

    async def _handshake(self, timeout: float) -> None:
        self._send(protocol.ClientHello(heartbeat_interval=self.supervision.heartbeat_interval))
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
        self._last_heard = time.monotonic()

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
        if self._closed:
            return
        self._closed = True
        if self.failure is None:
            self.failure = "the transport client is closed"
        for task in self._tasks:
            task.cancel()
        self._close_socket()
        if self.process is not None:
            self.process.stop()

    def _close_socket(self) -> None:
        if not self._context.closed:
            self._sock.close(linger=0)
            self._context.term()

    def _send(self, message: protocol.Message) -> None:
        self._sock.send(protocol.encode(message, self._next_seq))
        self._next_seq += 1

    async def _receive_loop(self) -> None:
        # What is already queued is read without a trip through the event loop per message
        # (a burst of events costs less), but at most RECEIVE_BATCH at a time, so that a flood
        # cannot starve the rest of the program.
        queued = zmq.Socket.shadow(self._sock.underlying)
        while self.failure is None:  # nothing from a failed transport is trusted
            self._receive(await self._sock.recv())
            for _ in range(RECEIVE_BATCH - 1):
                if self.failure is not None:
                    break
                try:
                    data = queued.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self._receive(data)

    def _receive(self, data: bytes) -> None:
        try:
            message = self._inbox.read(data)
        except protocol.ProtocolError as exc:
            self._reject(str(exc))
            return
        self._last_heard = time.monotonic()
        reason = self._route(message)
        if reason is not None:
            self._reject(reason)

    def _route(self, message: protocol.Message) -> str | None:
        """Hand a message to its peer connection; return why it was refused, if it was."""
        name = type(message).__name__
        if isinstance(message, protocol.Heartbeat):
            return None
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
        self._fail(f"the transport sent a bad message ({reason})")

    def _fail(self, reason: str) -> None:
        """The one way a transport fails: stop trusting it, kill it if it is ours, tell every
        peer connection still gathering."""
        if self.failure is not None:
            return
        self.failure = reason
        logger.error("%s", reason)
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._close_socket()  # nothing more is sent to it or read from it
        if self.process is not None:
            self.process.kill()
        observers, self._observers = list(self._observers.values()), {}
        for observer in observers:
            observer.on_transport_failure(reason)

    async def _watch_heartbeat(self) -> None:
        """Send our heartbeats (the transport drops clients that go silent) and check theirs."""
        interval, timeout = self.supervision.heartbeat_interval, self.supervision.heartbeat_timeout
        while True:
            await asyncio.sleep(min(interval, timeout / 4))
            silence = time.monotonic() - self._last_heard
            if silence > timeout:
                self._fail(f"the transport stopped answering: nothing from it for {silence:.1f} s")
                return
            self._send(protocol.Heartbeat())

    async def _watch_process(self, process: TransportProcess) -> None:
        how = await process.wait_exit()
        self._fail(f"the transport process (pid {process.pid}) {how}")


class TransportSupervisor:
    """Hands out a working transport: the current one, or a fresh one when there is none or the
    last one failed. Peer connections given a supervisor share its transport.

    By default a fresh transport is a new process of our own; ``connect`` makes it a new
    connection to a running service instead.
    """

    def __init__(
        self,
        supervision: Supervision = Supervision(),
        connect: Callable[[Supervision], Awaitable[TransportClient]] | None = None,
    ) -> None:
        self.supervision = supervision
        self._connect = connect or (lambda supervision: TransportClient.start(supervision=supervision))
        self.started = 0  # transports started (or connected) so far
        self._current: TransportClient | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> TransportClient:
        async with self._lock:
            if self._current is None or self._current.failure is not None:
                if self._current is not None:
                    self._current.close()
                self._current = await self._connect(self.supervision)
                self.started += 1
            return self._current

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
