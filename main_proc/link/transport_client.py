"""The main process's end of the link to one transport process, and its supervision.

A ``TransportClient`` owns one DEALER socket connected to a transport's ROUTER. It greets the
transport (``client_hello`` / ``server_hello``, checking the protocol version), sends
``gather`` and ``close`` requests, and hands every message that comes back, once validated, to
a ``Router`` (``routing.py``) for the peer connection it belongs to.

What the transport sends is untrusted, and the client supervises it. The transport has
*failed* when

* its process exits (``start()`` spawned it; noticed through a pidfd, at once: ``watchdogs.py``);
* the connection to it ends (a socket monitor says so, at once: a service restarted or gone,
  or libzmq's own heartbeats found the other end dead);
* it stops answering: no message, not even a heartbeat, for ``heartbeat_timeout`` seconds
  (it is stopped or deadlocked);
* it does not read what we send: its queue (``shared.protocol.link_settings.QUEUE_LIMIT``) is full;
* it sends a bad message: one that fails validation, repeats or skips a sequence number, or
  makes no sense for its peer connection. The message is dropped and counted in
  ``rejected`` and never reaches a peer connection. Like a browser that kills a child process
  for a bad IPC message, the client then stops trusting that transport: a transport that
  lost or garbled one event cannot be trusted with the next.

On failure, a transport process of our own is killed, every peer connection still gathering
is told through ``on_transport_failure`` (its ``gather()`` raises ``TransportError``) and later
``gather`` calls raise ``TransportError``; a ``TransportSupervisor`` then starts a fresh one.

A transport that restarts to read files replaced under its sandbox is not failing: it says so
(``draining``), finishes its jobs, refuses new ones, and exits with status 75 (or, a service,
ends the connection). The client then calls ``replacement`` (a supervisor's next transport) at
once, so that the next job does not wait for a fresh transport to start, and a job the old one
refused for that reason (sent before its ``draining`` was read) is sent there instead, once:
its ``stop`` follows it. The planned end is logged as such, at INFO.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import zmq
import zmq.asyncio

from icegather.main_proc.link.routing import Router, TransportObserver
from icegather.main_proc.link.supervision import Supervision
from icegather.main_proc.link.transport_error import TransportError
from icegather.main_proc.link.transport_process import RESTART_STATUS, TransportProcess
from icegather.main_proc.link.watchdogs import watch_connection, watch_heartbeats, watch_process
from icegather.shared import protocol
from icegather.shared.config.gather_options import GatherOptions
from icegather.shared.config.ice_config import IceConfiguration
from icegather.shared.protocol import link_settings
from icegather.shared.protocol.curve_keys import CurveKeys
from icegather.shared.protocol.restart_causes import restarting
from icegather.shared.structs import SandboxInfo

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT = 10.0
OWN_RECONNECT_MS = 2
SERVICE_RECONNECT_MS = 20
RECEIVE_BATCH = 256
# The first frame of a burst of requests (a program that starts a thousand gatherings at once):
# the transport starts on it after about a millisecond of the burst's making, where a full
# frame of 256 would leave it idle for 20 ms (shared.protocol.frames).
BURST_FIRST_FRAME = 16

# Transports of our own that close() asked to exit, waited for in the background: held here so
# that the tasks are not collected before they finish.
_stopping: set[asyncio.Future[None]] = set()

Request = protocol.Gather | protocol.Audit
# Where a job went when its transport refused it to restart: the client and the job's id there
# (None once it failed to go), while under way a task.
Moved = asyncio.Task["tuple[TransportClient, int] | None"]


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
        self._monitor: zmq.asyncio.Socket | None = None
        self._stopping: asyncio.Future[None] | None = None
        self.transport_pid: int | None = None
        self.sandbox = SandboxInfo()  # the transport's confinement, as its hello says
        self.rejected = 0
        self.failure: str | None = None
        self._inbox = protocol.Inbox(protocol.decode_to_main)
        self._outbox = protocol.Outbox(BURST_FIRST_FRAME)
        self._router = Router()
        self._tasks: list[asyncio.Task[None]] = []
        # The transport said it restarts (``draining``); where new work goes then (a supervisor's).
        self.draining: protocol.Draining | None = None
        self.replacement: Callable[[], Awaitable[TransportClient]] | None = None
        self.moved = 0  # jobs refused by the restarting transport and sent to its replacement
        self._requests: dict[int, Request] = {}  # the running jobs that may move, as asked
        self._moved: dict[int, Moved] = {}
        self._replacing: asyncio.Future[None] | None = None

    @classmethod
    async def start(
        cls,
        log_level: str = "WARNING",
        timeout: float = STARTUP_TIMEOUT,
        supervision: Supervision = Supervision(),
        process: TransportProcess | None = None,
        sandbox: bool = True,
    ) -> TransportClient:
        """Start a transport process of our own, confined unless ``sandbox`` is False (or take
        ``process``, one just spawned), and connect to it."""
        process = process or TransportProcess.start(log_level, sandbox)
        try:
            return await cls._connect(process.endpoint, process, timeout, supervision)
        except BaseException:
            process.kill()  # it never served: there is nothing to release
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
        link_settings.configure(sock)
        sock.setsockopt(zmq.LINGER, 0)
        # Until the transport has bound, libzmq retries the connection every RECONNECT_IVL. A
        # transport of our own is binding right now, on a local socket file: retry often.
        sock.setsockopt(zmq.RECONNECT_IVL, OWN_RECONNECT_MS if process is not None else SERVICE_RECONNECT_MS)
        if curve is not None:
            curve.apply_to_client(sock)
        # Watched from the first connection on: after the handshake, its end is a failure.
        monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        sock.connect(endpoint)
        client = cls(context, sock, process, supervision)
        client._monitor = monitor
        try:
            await client._handshake(timeout)
        except BaseException:
            client._close_socket()
            raise
        client._tasks.append(asyncio.ensure_future(client._receive_loop()))
        client._tasks.append(asyncio.ensure_future(watch_connection(monitor, endpoint, process, client._fail)))
        if supervision.heartbeat_interval > 0:
            watch = watch_heartbeats(supervision, client._last_heard_at, client._has_unread, client._fail)
            client._tasks.append(asyncio.ensure_future(watch))
        if process is not None:
            client._tasks.append(asyncio.ensure_future(watch_process(process, client._fail)))
        return client

    async def _handshake(self, timeout: float) -> None:
        self._send(protocol.ClientHello(heartbeat_interval=self.supervision.heartbeat_interval))
        greeting = asyncio.ensure_future(self._sock.recv())
        waiting: list[asyncio.Future[Any]] = [greeting]
        exited = asyncio.ensure_future(self.process.wait_exit()) if self.process is not None else None
        if exited is not None:
            waiting.append(exited)
        done, pending = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if not done:
            raise TransportError(f"the transport did not answer within {timeout:g} s")
        if exited is not None and greeting not in done:
            raise TransportError(f"the transport process {exited.result()} before it was ready")
        try:
            greeted = list(self._inbox.read(greeting.result()))
        except protocol.ProtocolError as exc:
            raise TransportError(f"the transport's greeting is invalid: {exc}") from None
        hello = greeted[0]
        if not isinstance(hello, protocol.ServerHello) or len(greeted) > 1:
            raise TransportError(f"the transport greeted with {', '.join(type(m).__name__ for m in greeted)}")
        if hello.protocol_version != protocol.PROTOCOL_VERSION:
            raise TransportError(
                f"the transport speaks protocol {hello.protocol_version}, we speak {protocol.PROTOCOL_VERSION}"
            )
        hang_after = self.supervision.heartbeat_timeout
        if self.supervision.heartbeat_interval > 0 and hello.heartbeat_interval * 2 > hang_after:
            raise TransportError(
                f"the transport beats every {hello.heartbeat_interval:g} s, too seldom for a heartbeat "
                f"timeout of {hang_after:g} s"
            )
        self.transport_pid = hello.pid
        self.sandbox = hello.sandbox
        self._last_heard = time.monotonic()

    def gather(self, configuration: IceConfiguration, options: GatherOptions, observer: TransportObserver) -> int:
        """Ask the transport to gather for a new peer connection; return its ``pc_id``."""
        return self._start(protocol.Gather, configuration, options, observer)

    def stop(self, pc_id: int) -> None:
        """Stop gathering for ``pc_id`` and release its allocations; no more messages for it."""
        self._stop(protocol.Close, pc_id)

    def audit(self, configuration: IceConfiguration, options: GatherOptions, observer: TransportObserver) -> int:
        """Ask the transport to audit the configuration's servers (``icegather audit``); return
        its ``audit_id``. ``stop_audit`` ends it."""
        return self._start(protocol.Audit, configuration, options, observer)

    def stop_audit(self, audit_id: int) -> None:
        """Stop the audit ``audit_id`` and release its allocations; no more messages for it."""
        self._stop(protocol.CloseAudit, audit_id)

    def _start(
        self,
        request: type[protocol.Gather] | type[protocol.Audit],
        configuration: IceConfiguration,
        options: GatherOptions,
        observer: TransportObserver,
        movable: bool = True,
    ) -> int:
        """Start a job (a gathering or an audit) whose messages go to ``observer``; return its id."""
        if self.failure is not None:
            raise TransportError(self.failure)
        job_id = self._router.add(observer)
        sent = request(job_id, configuration, options)
        if movable:
            self._requests[job_id] = sent
        self._send(sent)
        return job_id

    def _stop(self, close: type[protocol.Close] | type[protocol.CloseAudit], job_id: int) -> None:
        self._requests.pop(job_id, None)
        moving = self._moved.pop(job_id, None)
        if moving is not None:
            if not moving.done():
                moving.cancel()
            elif (moved := moving.result()) is not None:
                moved[0]._stop(close, moved[1])
        elif self._router.remove(job_id) and self.failure is None:
            self._send(close(job_id))

    def _drain(self, draining: protocol.Draining) -> str | None:
        """The transport restarts: start its replacement now; why the message is refused, if it is."""
        if self.draining is not None:
            return "draining twice"
        self.draining = draining
        logger.info("transport pid %s: %s; it finishes its running jobs, and new ones go to a fresh transport",
                    self.transport_pid, restarting(draining.cause, draining.paths))
        if self.replacement is not None:
            self._replacing = asyncio.ensure_future(self._start_replacement(self.replacement))
        return None

    @staticmethod
    async def _start_replacement(replacement: Callable[[], Awaitable[TransportClient]]) -> None:
        try:
            await replacement()
        except TransportError as exc:  # the next job asks again, and is told why if it fails
            logger.error("a fresh transport did not start: %s", exc)

    def _move(self, message: protocol.Message) -> bool:
        """Whether ``message`` refuses a job because the transport restarts, and the job was
        sent to the replacement instead (once: it is not movable there)."""
        if not isinstance(message, (protocol.GatherRejected, protocol.AuditRejected)):
            return False
        job_id = message.pc_id if isinstance(message, protocol.GatherRejected) else message.audit_id
        draining, replacement = self.draining, self.replacement
        if draining is None or replacement is None or job_id not in self._requests:
            return False
        if message.reason != restarting(draining.cause, draining.paths):
            return False
        request, observer = self._requests.pop(job_id), self._router.take(job_id)
        assert observer is not None  # a job's request and observer go together
        self.moved += 1

        async def move() -> tuple[TransportClient, int] | None:
            try:
                client = await replacement()
                return client, client._start(type(request), request.configuration, request.options, observer, False)
            except TransportError as exc:
                observer.on_transport_failure(str(exc))
                return None

        self._moved[job_id] = asyncio.ensure_future(move())
        return True

    def close(self) -> None:
        """Disconnect without waiting. A transport process of our own is asked to exit: it
        releases its TURN allocations first, and is waited for in the background (``aclose``
        waits for it)."""
        self._begin_closing()

    async def aclose(self) -> None:
        """Disconnect, and wait until a transport process of our own has released its
        allocations and exited (without blocking the event loop)."""
        stopping = self._begin_closing()
        if stopping is not None:
            await stopping

    def _begin_closing(self) -> asyncio.Future[None] | None:
        """Disconnect (once) and start stopping our own process; the stopping, if any."""
        if not self._closed:
            self._disconnect()
            if self.process is not None:
                self._stopping = asyncio.ensure_future(self.process.stop())
                _stopping.add(self._stopping)
                self._stopping.add_done_callback(_stopping.discard)
        return self._stopping

    def _disconnect(self) -> None:
        self._flush()  # the last requests, such as a close(), still go out
        self._closed = True
        if self.failure is None:
            self.failure = "the transport client is closed"
        for task in self._tasks:
            task.cancel()
        self._close_socket()
        if self.process is not None:
            self.process.ask_to_exit()

    def _close_socket(self) -> None:
        if not self._context.closed:
            if self._monitor is not None:
                self._sock.disable_monitor()
                self._monitor.close(linger=0)
            self._sock.close(linger=0)
            self._context.term()

    def _send(self, message: protocol.Message) -> None:
        """Queue a message; what this turn of the event loop queues goes out together at its
        end (``shared.protocol.frames``)."""
        if self._outbox.empty:
            asyncio.get_running_loop().call_soon(self._flush)
        if self._outbox.put(message):
            self._flush()

    def _flush(self) -> None:
        for frame in self._outbox.take_frames():
            if self._context.closed:
                return  # failed: nothing more goes to it
            # Never waits: a transport that cannot take a frame now does not read its queue.
            sent = cast("asyncio.Future[None]", self._sock.send(frame, zmq.NOBLOCK))
            error = sent.exception() if sent.done() else None
            if isinstance(error, zmq.ZMQError):
                self._fail(f"the transport does not read its messages: {error}")

    def _has_unread(self) -> bool:
        """Whether messages wait in our queue: the transport spoke, even if we did not listen."""
        return not self._context.closed and bool(cast(int, self._sock.get(zmq.EVENTS)) & zmq.POLLIN)

    async def _receive_loop(self) -> None:
        # What is already queued is read without a trip through the event loop per frame, but
        # at most about RECEIVE_BATCH messages at a time, so that a flood cannot starve the
        # rest of the program.
        queued: zmq.Socket[bytes] = zmq.Socket.shadow(self._sock.underlying)
        while self.failure is None:  # nothing from a failed transport is trusted
            received = self._receive(await self._sock.recv())
            while received < RECEIVE_BATCH and self.failure is None:
                try:
                    frame = queued.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                received += self._receive(frame)

    def _receive(self, frame: bytes) -> int:
        """Route the frame's messages; how many there were."""
        received = 0
        try:
            for message in self._inbox.read(frame):
                received += 1
                self._last_heard = time.monotonic()
                if isinstance(message, protocol.Draining):
                    reason = self._drain(message)
                elif self._move(message):
                    continue
                else:
                    reason = self._router.route(message)
                if reason is not None:
                    self._reject(reason)
                if self.failure is not None:  # a listener closed us, or the message was bad
                    break
        except protocol.ProtocolError as exc:
            self._reject(str(exc))
        return received

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
        if self._ended_as_planned():
            logger.info("%s: as planned, and the next jobs go to a fresh transport", reason)
        else:
            logger.error("%s", reason)
        self._requests.clear()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._close_socket()  # nothing more is sent to it or read from it
        if self.process is not None:
            self.process.kill()
        for observer in self._router.remove_all():
            observer.on_transport_failure(reason)

    def _ended_as_planned(self) -> bool:
        """Whether the transport ended to restart: ours exited with the status for that, or a
        service that said it would restart ended the connection."""
        if self.process is not None:
            return self.process.popen.returncode == RESTART_STATUS
        return self.draining is not None

    def _last_heard_at(self) -> float:
        return self._last_heard
