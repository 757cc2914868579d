"""``icegather exporter``: probes for Prometheus, in blackbox_exporter's multi-target pattern.

``GET /probe?target=URL&module=NAME`` runs one gathering (with the relay check, unless the
module turns it off) and answers with its metrics (``probe_metrics``), or with ``debug=true``
a text log of it (``debug_text``); ``GET /metrics`` has the exporter's own: probes answered,
failures by cause, bad requests, transport processes started, probes running and waiting, the
last reload of the configuration, and the process's CPU and memory. ``/-/healthy`` answers
200 while the exporter serves, and ``/-/ready`` once its transport is up (503 until then);
SIGHUP or ``POST /-/reload`` loads the
configuration file again, keeping the one in use when the new one does not load
(``reloading``).

All probes share one supervised transport process, started with the exporter and replaced
as soon as it ends (``transport_keeper``), so that no probe waits for one to start; the probe
that was running when it failed answers ``icegather_probe_success 0`` with the verdict
"transport failed". At most ``max_concurrent_probes`` run at once; the others wait, and a
probe that waits its whole time answers "timed out". HTTP is h11 (sans-IO) on asyncio
streams: a malformed request gets a 400 (a target its module may not probe, a 403) and is
counted, a connection idle for ``IDLE_TIMEOUT`` is closed, and nothing a client sends can stop
the exporter. A probe that waited until too little of its time is left for it (``stream_needs``:
``MIN_TIMEOUT``, and its quality stream) does not start, and answers "timed out" too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

import h11
from prometheus_client import CollectorRegistry, Counter, Gauge, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from icegather.main_proc.exporter.config import ExporterConfig
from icegather.main_proc.exporter.debug_text import ProbeRun, debug_text
from icegather.main_proc.exporter.probe_metrics import ProbeCollector
from icegather.main_proc.exporter.probe_request import BadProbe, ProbeRequest, probe_request
from icegather.main_proc.exporter.probe_time import stream_needs
from icegather.main_proc.exporter.reloading import ReloadableConfig
from icegather.main_proc.exporter.transport_keeper import TransportKeeper
from icegather.main_proc.link.transport_supervisor import TransportSupervisor
from icegather.main_proc.observed_round import RoundContext, RoundResult, observe_round, unstarted_round
from icegather.main_proc.views.report import Tally

logger = logging.getLogger(__name__)

MAX_REQUEST_HEAD = 16 * 1024
MAX_REQUEST_BODY = 64 * 1024
IDLE_TIMEOUT = 300.0  # Prometheus keeps its connections open between scrapes
READ_SIZE = 64 * 1024
TEXT = "text/plain; charset=utf-8"
LANDING = (
    "icegather exporter\n\n"
    "/probe?target=turn:HOST:PORT&module=NAME  probe one STUN/TURN URL (or target=file:NAME)\n"
    "/probe?target=...&debug=true              the probe's log instead of its metrics\n"
    "/metrics                                  the exporter's own metrics\n"
    "/-/healthy, /-/ready                      200 while it serves\n"
    "POST /-/reload                            load the configuration file again (or send SIGHUP)\n"
)
# What each path serves, by method: a path with other methods gets 405.
METHODS = {
    "/": b"GET", "/probe": b"GET", "/metrics": b"GET", "/-/healthy": b"GET", "/-/ready": b"GET",
    "/-/reload": b"POST",
}
NOT_READY = "Not ready: the transport process is starting"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


def text_answer(status: int, text: str) -> Answer:
    return Answer(status, TEXT, (text + "\n").encode("utf-8"))


class TransportStarts(Collector):
    """How many transport processes the exporter has started: 1, plus one per replacement."""

    def __init__(self, supervisor: TransportSupervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> list[Metric]:
        family = CounterMetricFamily("icegather_exporter_transport_starts", "Transport processes started")
        family.add_metric([], self.supervisor.started)
        return [family]


class Exporter:
    def __init__(self, config: ExporterConfig, supervisor: TransportSupervisor, path: str | None = None) -> None:
        """``path``: the configuration file ``config`` came from, which a reload reads again."""
        self.supervisor = supervisor
        self.transport = TransportKeeper(supervisor)
        self.registry = CollectorRegistry()
        self.configuration = ReloadableConfig(path, config, self.registry, time.time())
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.registry.register(TransportStarts(supervisor))
        self.probes = Counter(
            "icegather_exporter_probes", "Probes answered, by module and result", ["module", "result"],
            registry=self.registry,
        )
        self.failures = Counter(
            "icegather_exporter_probe_failures",
            "Causes found by failed probes (diagnosis findings, or the verdict when there is none)",
            ["cause"],
            registry=self.registry,
        )
        self.bad_requests = Counter(
            "icegather_exporter_bad_requests", "Requests refused, by reason", ["reason"], registry=self.registry
        )
        self.running = Gauge("icegather_exporter_probes_running", "Probes running now", registry=self.registry)
        self.waiting = Gauge(
            "icegather_exporter_probes_waiting", "Probes waiting for a free slot", registry=self.registry
        )
        self.slots = asyncio.Semaphore(config.max_concurrent_probes)

    @property
    def config(self) -> ExporterConfig:
        return self.configuration.config

    def reload(self) -> str | None:
        """Load the configuration file again; None when it worked, else why it did not."""
        limit = self.config.max_concurrent_probes
        failed = self.configuration.reload(time.time())
        if failed is None and self.config.max_concurrent_probes != limit:
            # Probes running now release the semaphore they took; new ones take the new one.
            self.slots = asyncio.Semaphore(self.config.max_concurrent_probes)
        return failed

    async def answer(self, method: bytes, target: bytes, headers: dict[bytes, bytes]) -> Answer:
        """The answer to one HTTP request."""
        try:
            parts = urlsplit(target.decode("latin-1"))
        except ValueError:  # such as "//[/probe", an IPv6 host that never closes
            return self.refuse("bad http", 400, "bad request target")
        if parts.path not in METHODS:
            return self.refuse("not found", 404, "not found: try /probe or /metrics")
        if method != METHODS[parts.path]:
            return self.refuse("method", 405, f"{parts.path} takes {METHODS[parts.path].decode()} only")
        accept = headers.get(b"accept", b"").decode("latin-1")
        if parts.path == "/probe":
            scrape_timeout = headers.get(b"x-prometheus-scrape-timeout-seconds")
            try:
                request = probe_request(
                    parts.query, scrape_timeout.decode("latin-1") if scrape_timeout else None, self.config, time.time()
                )
            except BadProbe as exc:
                return self.refuse(exc.kind, exc.status, str(exc))
            run = await self.probe(request)
            if request.debug:
                return Answer(200, TEXT, debug_text(request, run, time.time()).encode("utf-8"))
            return self.exposition(run.metrics, accept)
        if parts.path == "/metrics":
            return self.exposition(self.registry, accept)
        if parts.path == "/-/reload":
            failed = self.reload()
            if failed is not None:
                return text_answer(500, f"the configuration was not reloaded, the previous one stays: {failed}")
            return text_answer(200, "configuration reloaded")
        if parts.path == "/-/ready" and not self.transport.ready:
            return text_answer(503, NOT_READY)
        return text_answer(200, {"/": LANDING, "/-/healthy": "Healthy", "/-/ready": "Ready"}[parts.path])

    def refuse(self, reason: str, status: int, text: str) -> Answer:
        self.bad_requests.labels(reason).inc()
        return text_answer(status, text)

    @staticmethod
    def exposition(registry: CollectorRegistry, accept: str) -> Answer:
        encoder, content_type = choose_encoder(accept)
        return Answer(200, content_type, encoder(registry))

    async def probe(self, request: ProbeRequest) -> ProbeRun:
        """Run one probe within its time, waiting for a free slot first."""
        started = time.monotonic()
        module = request.module
        options = request.options(request.timeout)
        context = RoundContext.of(request.validated, options, request.minted, time.time())
        slots = self.slots  # the one to release, should a reload replace it meanwhile
        waits = slots.locked()
        self.waiting.inc()
        try:
            await asyncio.wait_for(slots.acquire(), request.timeout)
        except asyncio.TimeoutError:
            waited_out = True
        else:
            waited_out = False
        finally:
            self.waiting.dec()
        remaining = max(0.0, request.timeout - (time.monotonic() - started))
        if not waited_out and waits and remaining < stream_needs(options):
            slots.release()  # what is left cannot hold the probe (and its stream): it does not start
            waited_out = True
        if waited_out:
            result = unstarted_round(
                context, f"the probe waited for one of {self.config.max_concurrent_probes} probes to finish "
                f"(max_concurrent_probes) until {remaining:.3g} s of its {request.timeout:g} s were left",
            )
        else:
            try:
                self.running.inc()
                if waits:  # the time spent waiting is gone
                    options = request.options(remaining)
                result = await observe_round(
                    request.configuration, context, options, self.supervisor, Tally(), timeout=remaining
                )
            finally:
                self.running.dec()
                slots.release()
        self.count(module.name, result)
        registry = CollectorRegistry(auto_describe=True)
        registry.register(
            ProbeCollector(result, time.monotonic() - started, request.per_url, options.relay_to_relay)
        )
        return ProbeRun(result, registry, options)

    def count(self, module: str, result: RoundResult) -> None:
        self.probes.labels(module, "success" if result.succeeded else "failure").inc()
        if not result.succeeded:
            for cause in {finding.cause for finding in result.diagnosis.findings} or {result.diagnosis.verdict}:
                self.failures.labels(cause).inc()

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One HTTP/1.1 connection, request after request, until either side closes it."""
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD)
        try:
            while True:
                request = await self._next_request(connection, reader)
                if request is None:
                    return
                answer = await self.answer(request.method, request.target, dict(request.headers))
                await self._send(connection, writer, answer)
                if connection.our_state is h11.MUST_CLOSE:
                    return
                connection.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            logger.info("bad HTTP request: %s", exc)
            answer = self.refuse("bad http", exc.error_status_hint, "bad HTTP request")
            with contextlib.suppress(h11.LocalProtocolError, ConnectionError):
                await self._send(connection, writer, answer)
        except (ConnectionError, asyncio.TimeoutError):
            pass  # the client went away, or was idle too long
        except Exception:  # a bug: this connection ends, the exporter goes on
            logger.exception("internal error while serving a request")
            with contextlib.suppress(h11.LocalProtocolError, ConnectionError):
                await self._send(connection, writer, text_answer(500, "internal error in icegather"))
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _next_request(self, connection: h11.Connection, reader: asyncio.StreamReader) -> h11.Request | None:
        """The next request, its body read and dropped; None when the client closed."""
        request: h11.Request | None = None
        body = 0
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = await asyncio.wait_for(reader.read(READ_SIZE), IDLE_TIMEOUT)
                connection.receive_data(data)
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += len(event.data)
                if body > MAX_REQUEST_BODY:
                    raise h11.RemoteProtocolError("request body too large", error_status_hint=413)
            elif isinstance(event, h11.EndOfMessage):
                return request
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None

    @staticmethod
    async def _send(connection: h11.Connection, writer: asyncio.StreamWriter, answer: Answer) -> None:
        headers = [("Content-Type", answer.content_type), ("Content-Length", str(len(answer.body)))]
        response = h11.Response(status_code=answer.status, headers=headers, reason=HTTPStatus(answer.status).phrase)
        for event in (response, h11.Data(data=answer.body), h11.EndOfMessage()):
            data = connection.send(event)
            if data:
                writer.write(data)
        await writer.drain()


async def serve(
    config: ExporterConfig, host: str, port: int, ready: asyncio.Future[int] | None = None, path: str | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, loading ``path`` again on SIGHUP; ``ready`` gets the port
    once listening."""
    supervisor = TransportSupervisor()
    exporter = Exporter(config, supervisor, path)
    server = await asyncio.start_server(exporter.serve_connection, host, port, limit=READ_SIZE)
    exporter.transport.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    loop.add_signal_handler(signal.SIGHUP, exporter.reload)
    bound_port: int = server.sockets[0].getsockname()[1]
    logger.info("listening on %s port %d", host, bound_port)
    if ready is not None:
        ready.set_result(bound_port)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
        await exporter.transport.aclose()
        await supervisor.aclose()
