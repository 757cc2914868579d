"""Start an ``icegather exporter`` process on a free loopback port, ready (its transport up), and
talk HTTP to it; and
the module of a local coturn's user, whose credentials may go to that coturn only: for the
tests and the exporter benchmark."""

from __future__ import annotations

import contextlib
import http.client
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from commands import ICEGATHER
from local_coturn import Coturn, free_port
from process_stop import stop
from prometheus_client.parser import text_string_to_metric_families

LISTENING = "icegather exporter: listening on http://127.0.0.1:"
READY_WITHIN = 30.0
SECRET = "the-shared-secret-of-the-test"
FAST = {"rto": 0.05, "max_sends": 2, "final_wait": 2}


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

    def probe(self, target: str, module: str | None = None, **headers: str) -> Response:
        query = f"/probe?target={target}" + (f"&module={module}" if module else "")
        return self.get(query, headers)

    def wait_ready(self) -> None:
        """Wait until ``/-/ready`` answers 200: the exporter's transport is up."""
        wait_for(lambda: self.get("/-/ready").status == 200, READY_WITHIN)


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition never held")
        time.sleep(0.01)


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
        exporter = ExporterProcess(process, int(line[len(LISTENING):].rstrip("/\n")), log)
        exporter.wait_ready()
        yield exporter
    finally:
        stop(process, 20)


@contextlib.contextmanager
def probing_exporter(directory: Path, coturn: Coturn, rest_coturn: Coturn | None = None) -> Iterator[ExporterProcess]:
    """An exporter whose modules probe ``coturn`` (``turn``, ``wrong``: a wrong password,
    ``pinned``: no credentials, allowed coturn only), ``rest_coturn`` with credentials minted from
    ``SECRET`` (``rest``), and any server on loopback (``fast``, ``patient``: 5 s, ``standard``:
    the default schedule and timeout); its ``configurations`` directory (``ice``) holds
    ``both.json``: coturn and a STUN URL on a closed port."""
    configurations = directory / "ice"
    configurations.mkdir()
    (configurations / "both.json").write_text(json.dumps({"iceServers": [coturn.ice_server("turn"),
                                                                         {"urls": f"stun:127.0.0.1:{free_port()}"}]}))
    loopback: dict[str, Any] = {"local_addresses": ["127.0.0.1"], "schedule": FAST}
    modules = {
        "turn": coturn_module(coturn, directory / "credential", coturn.password + "\n", **loopback),
        "wrong": coturn_module(coturn, directory / "wrong", "not-the-password", **loopback),
        "pinned": {"allowed_targets": [f"127.0.0.1:{coturn.port}"], **loopback},  # no credentials, a list
        "fast": loopback,
        "patient": {"local_addresses": ["127.0.0.1"], "timeout": 5},  # the default 9.5 s schedule
        "standard": {"local_addresses": ["127.0.0.1"]},  # the default schedule and timeout
    }
    if rest_coturn is not None:
        (directory / "secret").write_text(SECRET)
        modules["rest"] = {"auth_secret_file": str(directory / "secret"), "auth_user": "probe",
                           "allowed_targets": [f"127.0.0.1:{rest_coturn.port}"], **loopback}
    config = {"configurations": str(configurations), "modules": modules}
    (directory / "icegather.yml").write_text(json.dumps(config))  # JSON is YAML
    with exporter_process(directory / "icegather.yml", directory / "exporter.log") as process:
        yield process
