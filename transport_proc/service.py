"""The transport's socket loop: ZeroMQ in, gatherings and audits, ZeroMQ out.

The transport binds a ROUTER socket; each main process connects a DEALER and starts with
``client_hello``. One transport serves many main processes and many peer connections: a
gathering is known by (client identity, ``pc_id``), an audit by ``audit_id``. Every message received is decoded and
validated by ``icegather.shared.protocol``; one that fails is counted in ``rejected`` and dropped
with the rest of its frame, and the loop goes on: one bad client must not take the others down.
What one turn of the loop sends a client leaves as one frame (``shared.protocol.frames``).

A client that asks for heartbeats in its ``client_hello`` gets one every ``heartbeat_interval``
seconds (at least ``link_settings.MIN_HEARTBEAT_INTERVAL``), so that it can tell a hung transport (stopped,
deadlocked) from a quiet one.

A client is gone when its connection is (``shared.protocol.link_settings``: libzmq's own heartbeats end
the connection of a process that is killed, stopped or unreachable, whatever its event loop
does), or when a message to it cannot be delivered (``ROUTER_MANDATORY``: unknown, or its
queue full). Its gatherings are then closed and their allocations released, so that a
long-running service does not collect the leftovers of dead clients.

A confined transport whose resolver file or CA bundle was replaced by one its sandbox may not
read (``sandbox.file_watch``) drains and restarts: it tells every client (``draining``, which
a client that says hello later gets after ``server_hello``), refuses new gatherings and audits,
waits for the running ones to be closed (at most their deadline), and ``run_service`` returns
``RESTART_STATUS`` (75) for the process to exit with.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import resource
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import zmq
import zmq.asyncio

from icegather.shared import protocol
from icegather.shared.protocol import link_settings
from icegather.shared.protocol.checks import MAX_TEXT
from icegather.shared.protocol.restart_causes import RestartCause, restarting
from icegather.shared.structs import SERVER_NOT_REACHABLE, IceCandidateErrorInfo, SandboxInfo
from icegather.transport_proc.addresses import InterfaceAddresses
from icegather.transport_proc.audit.server_audit import ServerAudit
from icegather.transport_proc.gathering.orchestration import Gathering
from icegather.transport_proc.interfaces.tracker import AddressTracker, interface_addresses
from icegather.transport_proc.ipc.connections import Connection, ConnectionMonitor
from icegather.transport_proc.ipc.endpoint import EndpointRefused, check_endpoint, private_ipc_directory
from icegather.transport_proc.job import Job
from icegather.transport_proc.sandbox.policy import file_budget

if TYPE_CHECKING:
    from icegather.shared.protocol.curve_keys import CurveKeys
    from icegather.transport_proc.sandbox.confinement import Sandbox

logger = logging.getLogger(__name__)

# How many dropped clients are remembered, to ignore what they sent just before they went.
REMEMBERED_DROPS = 4096
# Jobs (gatherings and audits) one transport runs at once, by default (a gathering lasts until
# its peer connection closes): each holds sockets, and the process has a limit on open files,
# which admits each job by what it may hold (``Job.files_needed``).
MAX_JOBS = 16_384

# The exit status of a transport that restarts to read a replaced file (EX_TEMPFAIL: try
# again; systemd's Restart=on-failure, or the main process's supervisor, starts a new one).
RESTART_STATUS = os.EX_TEMPFAIL

# A job is known by what started it and its id: a client numbers its gatherings and audits.
JobKey = tuple[type[protocol.Gather] | type[protocol.Audit], int]


@dataclass
class Client:
    """One connected main process."""

    identity: bytes
    inbox: protocol.Inbox = field(default_factory=lambda: protocol.Inbox(protocol.decode_to_transport))
    outbox: protocol.Outbox = field(default_factory=protocol.Outbox)
    greeted: bool = False
    # Its gatherings and audits.
    jobs: dict[JobKey, tuple[Job, asyncio.Task[None]]] = field(default_factory=dict)
    heartbeat: asyncio.Task[None] | None = None
    # The connection it came on, which the socket monitor names when it ends.
    connection: Connection | None = None
    dropped: bool = False


def contained(message: protocol.Message, reason: str) -> protocol.Message | None:
    """What is sent instead of a report that broke the schema (a bug in icegather, or input no
    check caught): an error event for its URL, which is a failure of that URL and nothing else,
    or, for any other report, nothing."""
    if not isinstance(message, protocol.CandidateError):
        return None
    info = message.info
    text = f"internal error in icegather: a report broke the protocol ({reason})"[:MAX_TEXT]
    replacement = IceCandidateErrorInfo(
        "", 0, info.url, SERVER_NOT_REACHABLE, text, "internal_error", server_index=info.server_index
    )
    return protocol.CandidateError(message.pc_id, replacement)


class TransportService:
    def __init__(
        self, sock: zmq.asyncio.Socket, max_jobs: int = MAX_JOBS,
        machine_addresses: InterfaceAddresses = interface_addresses, open_files: int | None = None,
    ) -> None:
        self.sock = sock
        self.max_jobs = max_jobs
        # Open files the jobs may hold together: what ``open_files`` leaves beside the process's
        # own, by default of the limit the process has now (the sandbox set it, or the entry
        # point raised it); and what the running jobs, and those still closing, may hold.
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0] if open_files is None else open_files
        self.file_budget = file_budget(limit)
        self.files_held = 0
        self.machine_addresses = machine_addresses  # what a job without local addresses gathers from
        self.sandbox_info = SandboxInfo()  # what server_hello says of the process's confinement
        self.clients: dict[bytes, Client] = {}
        self.jobs = 0  # in all clients
        self.rejected = 0
        self.invalid_sent = 0  # reports that broke the schema: a bug, contained to its URL
        self.dropped = 0  # clients found gone
        # Clients dropped lately: messages they sent just before their connection ended may
        # still be queued, and are ignored rather than taken for a new client's.
        self._gone: OrderedDict[bytes, None] = OrderedDict()
        self.connections = ConnectionMonitor(sock, self._connection_ended)
        # Closings run in the background; holding them keeps them from being collected.
        self._closings: set[asyncio.Task[None]] = set()
        # Why new jobs are refused: the transport is restarting (``restart_to_read``).
        self.draining: protocol.Draining | None = None
        self.restarting: str | None = None
        self._restart_asked = asyncio.Event()
        self._idle = asyncio.Event()  # set when the last job is closed

    async def serve(self) -> None:
        while True:
            # zmq.Frame objects, not bytes: the part that carries a hello names the connection
            # it came on (SRCFD).
            parts = await self.sock.recv_multipart(copy=False)
            if len(parts) != 2:
                self._reject(f"expected 2 parts (identity and frame), got {len(parts)}")
                continue
            identity, frame = parts[0].bytes, parts[1].bytes
            if identity in self._gone:
                logger.debug("ignored a message a dropped client sent before it went")
                continue
            client = self.clients.get(identity) or Client(identity)
            try:
                for message in client.inbox.read(frame):
                    if client.dropped:
                        break  # a send earlier in this frame found it gone: the rest is ignored
                    if isinstance(message, protocol.ClientHello):
                        client.connection = self.connections.connection_of(parts[1].get(zmq.SRCFD))
                    self._handle(client, message)
                    if client.greeted:
                        # Known from its hello on, whose connection says when it is gone: a
                        # client that never says hello is never kept.
                        self.clients[identity] = client
            except protocol.InvalidMessage as invalid:
                self._reject(str(invalid))  # and the rest of its frame
                if client.greeted:
                    self._refuse_request(client, invalid)
            except protocol.ProtocolError as exc:
                self._reject(str(exc))  # and the rest of its frame

    def _connection_ended(self, connection: Connection) -> None:
        for client in [c for c in self.clients.values() if c.connection == connection]:
            self._drop(client, "its connection ended")

    def _refuse_request(self, client: Client, invalid: protocol.InvalidMessage) -> None:
        """A gather or an audit that cannot be run is answered, so that its caller does not wait
        out a deadline: when its id can be read."""
        refusal: type[protocol.GatherRejected] | type[protocol.AuditRejected]
        if invalid.kind is protocol.Gather:
            job_field, refusal, name = "pc_id", protocol.GatherRejected, "gather"
        elif invalid.kind is protocol.Audit:
            job_field, refusal, name = "audit_id", protocol.AuditRejected, "audit"
        else:
            return
        job_id = invalid.fields.get(job_field)
        if job_id.__class__ is int and 0 <= job_id <= protocol.MAX_JOB_ID:
            self.send(client, refusal(job_id, f"invalid {name}: {invalid}"[:MAX_TEXT]))

    def send(self, client: Client, message: protocol.Message) -> None:
        """Queue a message for a client; what this turn of the event loop queues goes out
        together at its end (``shared.protocol.frames``). A message the client would refuse is
        never sent (``contained``): the client would take it for a broken transport."""
        if client.dropped:
            return  # its gatherings are closing
        if client.outbox.empty:
            asyncio.get_running_loop().call_soon(self._flush, client)
        try:
            full = client.outbox.put(message)
        except protocol.ProtocolError as exc:
            self.invalid_sent += 1
            logger.error("a report broke the protocol and was not sent (%d so far): %s", self.invalid_sent, exc)
            replacement = contained(message, str(exc))
            if replacement is None:
                return
            full = client.outbox.put(replacement)
        if full:
            self._flush(client)

    def _flush(self, client: Client) -> None:
        for frame in client.outbox.take_frames():
            if client.dropped:
                return
            # Never waits: a client that cannot take a frame now is gone (disconnected) or
            # stuck (its queue full). It goes through the asyncio socket on purpose: a send on
            # a plain shadow socket can consume the readiness edge the asyncio socket waits on
            # for incoming messages, which then sit unread.
            # With NOBLOCK, pyzmq's asyncio socket tries once and returns a future already done.
            sent = cast("asyncio.Future[None]", self.sock.send_multipart([client.identity, frame], flags=zmq.NOBLOCK))
            error = sent.exception() if sent.done() else None
            if isinstance(error, zmq.ZMQError):
                why = "its queue is full" if error.errno == zmq.EAGAIN else "it is no longer connected"
                self._drop(client, why)

    def _drop(self, client: Client, why: str) -> None:
        """Forget a client that is gone: stop its heartbeats, close its gatherings."""
        if client.dropped:
            return
        client.dropped = True
        self.clients.pop(client.identity, None)
        self._gone[client.identity] = None
        if len(self._gone) > REMEMBERED_DROPS:
            self._gone.popitem(last=False)
        self.dropped += 1
        # Routine: a client that closes its socket right after its last close() is dropped too.
        logger.info("dropped a client (%s); closing its %d gatherings and audits", why, len(client.jobs))
        if client.heartbeat is not None:
            client.heartbeat.cancel()
        for key in list(client.jobs):
            self._close_in_background(client, key)

    async def shutdown(self) -> None:
        """Close every job (releasing TURN allocations) before the process exits."""
        for client in self.clients.values():
            if client.heartbeat is not None:
                client.heartbeat.cancel()
        ended = [self._end(client, key) for client in self.clients.values() for key in list(client.jobs)]
        closing = [job.close() for job in ended if job is not None]
        # Closes that a client asked for just before it went away are still releasing.
        await asyncio.gather(*closing, *self._closings)
        for client in self.clients.values():
            self._flush(client)  # what the closings said, before the socket closes

    def _handle(self, client: Client, message: protocol.Message) -> None:
        if isinstance(message, protocol.ClientHello):
            client.greeted = True
            asked = message.heartbeat_interval
            interval = asked and max(asked, link_settings.MIN_HEARTBEAT_INTERVAL)
            hello = protocol.ServerHello(pid=os.getpid(), heartbeat_interval=interval, sandbox=self.sandbox_info)
            self.send(client, hello)
            if self.draining is not None:
                self.send(client, self.draining)
            if client.heartbeat is None and interval > 0:
                client.heartbeat = asyncio.ensure_future(self._beat(client, interval))
        elif not client.greeted:
            self._reject(f"{type(message).__name__} before client_hello")
        elif isinstance(message, protocol.Gather):
            send = functools.partial(self.send, client)
            self._start(client, (protocol.Gather, message.pc_id), Gathering(message, send, self.machine_addresses))
        elif isinstance(message, protocol.Audit):
            send = functools.partial(self.send, client)
            self._start(client, (protocol.Audit, message.audit_id), ServerAudit(message, send, self.machine_addresses))
        elif isinstance(message, protocol.Close):
            self._close_in_background(client, (protocol.Gather, message.pc_id))
        elif isinstance(message, protocol.CloseAudit):
            self._close_in_background(client, (protocol.Audit, message.audit_id))

    def restart_to_read(self, cause: RestartCause, replaced: tuple[str, ...]) -> None:
        """Files were replaced by files this confined process may not read
        (``sandbox.file_watch``): tell every client, whose new work goes to a fresh transport
        from now on, and refuse new jobs; ``drained`` then ends once the running ones are closed."""
        self.draining = protocol.Draining(cause, replaced)
        self.restarting = restarting(cause, replaced)
        logger.warning(
            "%s replaced by a file this sandbox may not read: refusing new jobs, waiting for %d running ones, "
            "then exiting with status %d to be restarted", ", ".join(replaced), self.jobs, RESTART_STATUS,
        )
        for client in self.clients.values():
            self.send(client, self.draining)
        self._restart_asked.set()

    async def drained(self) -> None:
        """Return once a restart was asked for and the jobs running then are closed (a client
        closes a gathering once it is complete), or their deadline has passed: the longest of
        theirs, counted from now (a client gives up on a job at its deadline)."""
        await self._restart_asked.wait()
        running = [job for client in self.clients.values() for job, _ in client.jobs.values()]
        if running:
            self._idle.clear()  # no job starts from now on: the next time it is set, all are closed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), max(job.options.gathering_deadline for job in running))

    def _close_in_background(self, client: Client, key: JobKey) -> None:
        job = self._end(client, key)
        if job is None:
            return
        closing = asyncio.ensure_future(job.close())
        self._closings.add(closing)
        closing.add_done_callback(self._closings.discard)
        closing.add_done_callback(lambda _: self._files_closed(job))

    def _files_closed(self, job: Job) -> None:
        self.files_held -= job.files

    async def _beat(self, client: Client, interval: float) -> None:
        while not client.dropped:
            await asyncio.sleep(interval)
            self.send(client, protocol.Heartbeat())

    def _start(self, client: Client, key: JobKey, job: Job) -> None:
        refusal = None
        if self.restarting is not None:
            refusal = self.restarting
        elif key in client.jobs:
            refusal = "this id is already in use"
        elif self.jobs >= self.max_jobs:
            refusal = f"the transport already runs {self.max_jobs} gatherings and audits, its limit; close some first"
        else:
            job.files = job.files_needed()
            free = self.file_budget - self.files_held
            if job.files > self.file_budget:
                refusal = (f"this {job.NAME} may hold {job.files} open files, more than the {self.file_budget} the "
                           "transport has for all its jobs: use fewer URLs or local addresses, or give the transport "
                           "a higher open-file limit")
            elif job.files > free:
                refusal = (f"the transport's open files are taken: this {job.NAME} may hold {job.files}, and "
                           f"{max(free, 0)} of {self.file_budget} are free; close some first")
        if refusal is not None:
            self.send(client, job.rejected(refusal))
            return
        self.jobs += 1
        self.files_held += job.files
        task = asyncio.ensure_future(job.run())
        task.add_done_callback(lambda t: self._job_ended(client, job, t))
        client.jobs[key] = (job, task)

    def _job_ended(self, client: Client, job: Job, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            # A bug in a job must not go unnoticed, nor leave its observer waiting.
            logger.error("%s failed", job, exc_info=error)
            self.send(client, job.rejected(f"internal error: {type(error).__name__}"))

    def _end(self, client: Client, key: JobKey) -> Job | None:
        """Stop a job and take it off its client's books at once: its id may be used again,
        and it no longer counts against ``max_jobs``. Its open files count until its close is
        done (``_files_closed``), as its sockets close only once its allocations are released."""
        entry = client.jobs.pop(key, None)
        if entry is None:
            return None
        job, task = entry
        self.jobs -= 1
        if not self.jobs:
            self._idle.set()
        task.cancel()
        return job

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        logger.warning("rejected a message (%d so far): %s", self.rejected, reason)


async def run_service(
    endpoint: str,
    watch_stdin: bool = False,
    curve: CurveKeys | None = None,
    curve_clients: str | None = None,
    max_jobs: int = MAX_JOBS,
    sandbox: Sandbox | None = None,
) -> int:
    """Bind ``endpoint`` and serve until cancelled (or, with ``watch_stdin``, until stdin closes);
    return the process's exit status: 0, or ``RESTART_STATUS`` once a confined transport has
    drained after a file it holds was replaced (``TransportService.restart_to_read``).

    Over ``tcp://``, ``curve`` is the service's key pair and ``curve_clients`` the directory of
    the public keys of the clients it accepts; see ``icegather.transport_proc.ipc.endpoint``.
    A prepared ``sandbox`` is sealed once the socket is bound, before anything is read from it.
    """
    check_endpoint(endpoint, curve is not None)
    if endpoint.startswith("ipc://"):
        private_ipc_directory(endpoint)
    context = zmq.asyncio.Context()
    authenticator = None
    if curve is not None:
        if curve_clients is None:
            raise EndpointRefused("CURVE needs --curve-clients: the directory of the accepted clients' public keys")
        from zmq.auth.asyncio import AsyncioAuthenticator  # tcp:// only: kept out of a private transport's start

        authenticator = AsyncioAuthenticator(context)
        authenticator.start()
        authenticator.configure_curve(domain="*", location=curve_clients)
    sock = context.socket(zmq.ROUTER)
    if curve is not None:
        curve.apply_to_server(sock)
    link_settings.configure(sock)
    # A message to a client that is gone raises instead of vanishing: the client is dropped.
    sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    sock.setsockopt(zmq.LINGER, 1000)
    # Before the transport confines itself, which leaves it no way to open a netlink socket.
    tracker = AddressTracker.open()
    tracker.follow()
    service = TransportService(sock, max_jobs, tracker.addresses)  # its connection monitor starts before bind
    sock.bind(endpoint)
    if sandbox is not None:
        sandbox.seal()
        service.sandbox_info = sandbox.info()
    else:
        # Loaded here: a program that runs TransportService in its own process loads no sandbox.
        from icegather.transport_proc.sandbox.confinement import unconfined

        service.sandbox_info = unconfined()
    serving = asyncio.ensure_future(service.serve())
    drained = asyncio.ensure_future(service.drained())
    waiters = [serving, drained]
    if watch_stdin:
        waiters.append(asyncio.ensure_future(_stdin_closed()))
    # Unconfined, or without Landlock, the transport reads whatever file a name holds: no watch.
    watch = sandbox.file_watch if sandbox is not None else None
    if watch is not None:
        watch.follow(service.restart_to_read)
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await service.shutdown()
        service.connections.close()
        tracker.close()
        if watch is not None:
            watch.close()
        sock.close()
        if authenticator is not None:
            authenticator.stop()
        context.term()
    if serving.done() and not serving.cancelled() and serving.exception():
        raise serving.exception()  # type: ignore[misc]
    return RESTART_STATUS if drained.done() and not drained.cancelled() else 0


async def _stdin_closed() -> None:
    """Return when the parent closes our stdin: the parent is gone or wants us gone."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0))
    while await reader.read(4096):
        pass
