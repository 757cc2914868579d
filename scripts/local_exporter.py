"""Start an ``icegather exporter`` process on a free loopback port, and talk HTTP to it; and
the module of a local coturn's user, whose credentials may go to that coturn only: for the
tests and the exporter benchmark."""

from __future__ import annotations

import contextlib
import http.client
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from commands import ICEGATHER
from local_coturn import Coturn
from prometheus_client.parser import text_string_to_metric_families

LISTENING = "icegather exporter: listening on http://127.0.0.1:"


@dataclass
class Response:
    status: int
    content_type: str
    body: str

    def samples(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """Every sample: (name, labels) -> value."""
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(self.body)
            for sample in family.samples
        }

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples().get((name, frozenset(labels.items())))


@dataclass
class ExporterProcess:
    process: subprocess.Popen[str]
    port: int
    log: Path
    responses: list[Response] = field(default_factory=list)

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET", timeout: float = 60
            ) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, headers=headers or {})
            answer = connection.getresponse()
            response = Response(answer.status, answer.getheader("Content-Type", ""), answer.read().decode())
        finally:
            connection.close()
        self.responses.append(response)
        return response

    def metrics(self) -> Response:
        return self.get("/metrics")


def coturn_module(coturn: Coturn, credential_file: Path, password: str | None = None, **options: Any
                  ) -> dict[str, Any]:
    """An exporter module of coturn's user (or of that user with a wrong ``password``), its
    credential written to ``credential_file``, allowed to probe coturn's ports only unless
    ``options`` say otherwise."""
    credential_file.write_text(coturn.password if password is None else password)
    host = f"[{coturn.host}]" if ":" in coturn.host else coturn.host
    allowed = [f"{host}:{port}" for port in (coturn.port, coturn.tls_port) if port is not None]
    return {"username": coturn.username, "credential_file": str(credential_file), "allowed_targets": allowed,
            **options}


@contextlib.contextmanager
def exporter_process(config: Path | None, log: Path, log_level: str = "debug") -> Iterator[ExporterProcess]:
    """Start ``icegather exporter`` on a free loopback port, logging into ``log``."""
    command = [ICEGATHER, "exporter", "--listen", "127.0.0.1:0", "--log-level", log_level]
    if config is not None:
        command += ["--config", str(config)]
    with open(log, "w", encoding="utf-8") as log_file:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the exporter says where it listens once it does
        assert line.startswith(LISTENING), f"{line!r}; log: {log.read_text()}"
        yield ExporterProcess(process, int(line[len(LISTENING):].rstrip("/\n")), log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
