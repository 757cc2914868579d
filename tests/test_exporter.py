"""``icegather exporter``: real exporter processes, real coturn, real HTTP; the Prometheus end of
it is in tests/test_prometheus.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from commands import ICEGATHER
from local_coturn import Coturn, free_port, local_coturn
from local_exporter import ExporterProcess, coturn_module, exporter_process
from process_stats import transport_processes_of
from stun_servers import ScriptedStunServer, never_answer

from icegather.main_proc.exporter.allowed_targets import first_refused, parse_allowed_target
from icegather.shared.config.ice_url import parse_ice_url

SECRET = "the-shared-secret-of-the-test"
FAST = {"rto": 0.05, "max_sends": 2, "final_wait": 2}


@pytest.fixture(scope="module")
def rest_coturn() -> Iterator[Coturn]:
    with local_coturn(extra_args=["--use-auth-secret", f"--static-auth-secret={SECRET}"]) as turn:
        yield turn


@pytest.fixture(scope="module")
def exporter(coturn, rest_coturn, tmp_path_factory) -> Iterator[ExporterProcess]:
    directory = tmp_path_factory.mktemp("exporter")
    (directory / "secret").write_text(SECRET)
    configurations = directory / "ice"
    configurations.mkdir()
    (configurations / "both.json").write_text(json.dumps({"iceServers": [coturn.ice_server("turn"),
                                                                         {"urls": f"stun:127.0.0.1:{free_port()}"}]}))
    loopback = {"local_addresses": ["127.0.0.1"], "schedule": FAST}
    config = {
        "configurations": str(configurations),
        "modules": {
            "turn": coturn_module(coturn, directory / "credential", coturn.password + "\n", **loopback),
            "rest": {"auth_secret_file": str(directory / "secret"), "auth_user": "probe",
                     "allowed_targets": [f"127.0.0.1:{rest_coturn.port}"], **loopback},
            "wrong": coturn_module(coturn, directory / "wrong", "not-the-password", **loopback),
            "pinned": {"allowed_targets": [f"127.0.0.1:{coturn.port}"], **loopback},  # no credentials, a list
            "fast": loopback,
            "patient": {"local_addresses": ["127.0.0.1"], "timeout": 5},  # the default 9.5 s schedule
        },
    }
    (directory / "icegather.yml").write_text(json.dumps(config))  # JSON is YAML
    with exporter_process(directory / "icegather.yml", directory / "exporter.log") as process:
        yield process


def probe(exporter: ExporterProcess, target: str, module: str | None = None, **headers: str):
    query = f"/probe?target={target}" + (f"&module={module}" if module else "")
    return exporter.get(query, headers)


# --- what a probe answers -------------------------------------------------------------------


def test_a_healthy_turn_server_probes_as_success_with_a_working_relay(exporter, coturn):
    url = coturn.url("turn")
    response = probe(exporter, url, "turn")

    assert response.status == 200 and response.content_type.startswith("text/plain")
    assert response.value("icegather_probe_success") == 1
    assert response.value("icegather_server_up", url=url) == 1
    assert response.value("icegather_server_error_code", url=url) == 0
    assert 0 < response.value("icegather_server_rtt_seconds", url=url) < 1
    assert response.value("icegather_relay_up", url=url, family="IPv4") == 1
    assert 0 < response.value("icegather_relay_rtt_seconds", url=url, family="IPv4") < 1
    assert response.value("icegather_candidates", type="relay") == 1
    assert response.value("icegather_probe_info", verdict="healthy") == 1


def test_minted_credentials_from_the_modules_shared_secret_work(exporter, rest_coturn):
    url = rest_coturn.url("turn", "tcp")
    response = probe(exporter, url, "rest")

    assert response.value("icegather_probe_success") == 1
    assert response.value("icegather_relay_up", url=url, family="IPv4") == 1


def test_refused_credentials_give_the_code_and_the_cause_as_a_label(exporter, coturn):
    url = coturn.url("turn")
    response = probe(exporter, url, "wrong")

    assert response.value("icegather_probe_success") == 0
    assert response.value("icegather_server_up", url=url) == 0
    assert response.value("icegather_server_error_code", url=url) == 401
    assert response.value("icegather_server_failure", url=url, cause="credentials") == 1
    assert response.value("icegather_probe_info", verdict="turn failed") == 1


def test_without_a_module_the_default_one_probes_a_stun_url(exporter):
    url = f"stun:127.0.0.1:{free_port()}"
    response = probe(exporter, url)

    assert response.value("icegather_probe_success") == 0
    assert response.value("icegather_server_failure", url=url, cause="udp port closed") == 1


def test_a_file_target_probes_every_server_of_the_configuration_in_it(exporter, coturn):
    response = probe(exporter, "file:both.json", "fast")

    samples = response.samples()
    urls = {dict(labels)["url"] for name, labels in samples if name == "icegather_server_up"}
    assert coturn.url("turn") in urls and len(urls) == 2
    assert response.value("icegather_server_up", url=coturn.url("turn")) == 1
    assert response.value("icegather_probe_success") == 0  # the other server's port is closed


# --- bad requests -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "reason", "message"),
    [
        ("/probe", 400, "no target", "give exactly one target"),
        ("/probe?target=stun:a.invalid&target=stun:b.invalid", 400, "no target", "give exactly one target"),
        ("/probe?target=stun:127.0.0.1&module=nope", 400, "unknown module", "unknown module 'nope'"),
        ("/probe?target=http://example.org", 400, "bad target", "SyntaxError"),
        ("/probe?target=turn:127.0.0.1:3478", 400, "bad target", "module 'default' has no credentials"),
        ("/probe?target=file:../../etc/passwd&module=fast", 400, "bad target", "names a file of the configurations"),
        ("/probe?target=file:missing.json", 400, "bad target", "cannot read missing.json"),
        ("/probe?target=turn:127.0.0.1:1&module=turn", 403, "target not allowed",
         "module 'turn' may not probe 'turn:127.0.0.1:1': not in its allowed_targets"),
        ("/probe?" + "&".join(["x=1"] * 16), 400, "no target", "give exactly one target"),  # 16 fields: parsed
        ("/probe?target=stun:127.0.0.1" + "&x=1" * 16, 400, "too many fields", "give at most 16 query fields"),
        ("/probe?" + "&" * 16, 400, "too many fields", "give at most 16 query fields"),
        ("//[/probe", 400, "bad http", "bad request target"),
        ("/elsewhere", 404, "not found", "not found"),
    ],
)
def test_a_bad_request_gets_a_one_line_reason_and_is_counted(exporter, path, status, reason, message):
    before = exporter.metrics().value("icegather_exporter_bad_requests_total", reason=reason) or 0
    logged_before = len(exporter.log.read_text())

    response = exporter.get(path)

    assert response.status == status
    assert message in response.body and response.body.count("\n") == 1
    assert exporter.metrics().value("icegather_exporter_bad_requests_total", reason=reason) == before + 1
    assert "Traceback" not in exporter.log.read_text()[logged_before:]


def test_methods_other_than_get_are_refused(exporter):
    assert exporter.get("/probe?target=stun:127.0.0.1", method="POST").status == 405


def test_garbage_instead_of_http_is_answered_400_and_the_exporter_serves_on(exporter):
    with socket.create_connection(("127.0.0.1", exporter.port), timeout=10) as sock:
        sock.sendall(b"\x16\x03\x01\x02\x00 this is not HTTP\r\n\r\n")
        answer = sock.recv(4096)

    assert answer.startswith(b"HTTP/1.1 400 ")
    assert exporter.metrics().value("icegather_exporter_bad_requests_total", reason="bad http") >= 1
    assert exporter.get("/").status == 200


# --- where a module may probe ------------------------------------------------------------------


def test_a_module_with_credentials_sends_nothing_to_a_target_it_does_not_allow(tmp_path):
    (tmp_path / "credential").write_text("the-password-of-the-test")
    (tmp_path / "secret").write_text(SECRET)
    # The same host on another port, and a name, are allowed; the test's own socket is not.
    allowed = {"allowed_targets": ["turn.example.invalid", f"127.0.0.1:{free_port()}"]}
    config = {"modules": {
        "user": {"username": "alice", "credential_file": str(tmp_path / "credential"), **allowed},
        "rest": {"auth_secret_file": str(tmp_path / "secret"), "auth_user": "alice", **allowed},
    }}
    (tmp_path / "icegather.yml").write_text(json.dumps(config))
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server,
        exporter_process(tmp_path / "icegather.yml", tmp_path / "exporter.log") as exporter,
    ):
        server.bind(("127.0.0.1", 0))
        url = f"turn:127.0.0.1:{server.getsockname()[1]}"
        answers = [probe(exporter, url, module) for module in ("user", "rest")]
        metrics = exporter.metrics()
        transports = transport_processes_of(exporter.process.pid)
        # Were anything sent, it would have been before the answer: the socket holds it by now.
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.recvfrom(2048)

    for answer, module in zip(answers, ("user", "rest"), strict=True):
        assert answer.status == 403
        assert answer.body == f"module {module!r} may not probe {url!r}: not in its allowed_targets\n"
    assert metrics.value("icegather_exporter_bad_requests_total", reason="target not allowed") == 2
    assert metrics.value("icegather_exporter_transport_starts_total") == 0 and transports == []
    assert "alice" not in exporter.log.read_text()


def test_a_file_target_is_probed_only_when_the_module_allows_every_url_in_it(exporter, coturn):
    configurations = exporter.log.parent / "ice"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        outsider = f"stun:127.0.0.1:{server.getsockname()[1]}"
        (configurations / "mixed.json").write_text(
            json.dumps({"iceServers": [coturn.ice_server("turn"), {"urls": [coturn.url("stun"), outsider]}]})
        )
        refused = [probe(exporter, "file:mixed.json", module) for module in ("pinned", "turn")]
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.recvfrom(2048)
    (configurations / "coturn.json").write_text(json.dumps({"iceServers": [coturn.ice_server("turn")]}))
    allowed = probe(exporter, "file:coturn.json", "pinned")

    for answer, module in zip(refused, ("pinned", "turn"), strict=True):
        assert answer.status == 403
        assert answer.body == f"module {module!r} may not probe {outsider!r}: not in its allowed_targets\n"
    assert allowed.status == 200 and allowed.value("icegather_server_up", url=coturn.url("turn")) == 1


@pytest.mark.parametrize(
    ("entry", "url", "allowed"),
    [
        ("turn.example.invalid", "turns:turn.example.invalid:443", True),  # a host alone: any port
        ("TURN.Example.INVALID:3478", "turn:turn.example.invalid?transport=tcp", True),  # the default port
        ("turn.example.invalid:3478", "turns:turn.example.invalid", False),  # turns: defaults to 5349
        ("turn.example.invalid", "turn:evil-turn.example.invalid", False),
        ("example.invalid", "turn:turn.example.invalid", False),  # no suffix matching
        ("turn.example.invalid", "turn:turn.example.invalid.evil.invalid", False),
        ("2001:DB8:0::1", "turn:[2001:db8::1]:9", True),
        ("[2001:db8::1]:3478", "turn:[2001:db8:0:0::1]", True),
        ("[2001:db8::1]:3478", "turn:[2001:db8::1]:3479", False),
        ("127.0.0.1:3478", "stun:127.0.0.1", True),
        ("127.0.0.1", "stun:127.0.0.2", False),
        ("::ffff:127.0.0.1", "stun:127.0.0.1", False),  # one address, two spellings: refused, never widened
    ],
)
def test_allowed_targets_match_hosts_without_case_and_addresses_by_value(entry, url, allowed):
    assert (first_refused([parse_allowed_target(entry)], [parse_ice_url(url)]) is None) is allowed


# --- time, concurrency, a dying transport ----------------------------------------------------------


def test_a_probe_answers_before_prometheus_gives_up_and_says_what_it_knew(exporter, silent_udp_server):
    # The silent server would take 9.5 s; Prometheus gives the probe 2 s.
    configuration_target = silent_udp_server.url()
    started = time.monotonic()
    response = probe(exporter, configuration_target, "patient", **{"X-Prometheus-Scrape-Timeout-Seconds": "2"})
    elapsed = time.monotonic() - started

    assert elapsed < 2  # answered within the scrape timeout, its margin left for Prometheus
    assert response.value("icegather_probe_success") == 0
    assert response.value("icegather_probe_info", verdict="timed out") == 1
    assert response.value("icegather_server_up", url=configuration_target) == 0
    assert response.value("icegather_probe_duration_seconds") < 2


def test_a_dead_server_never_delays_another_probe(exporter, silent_udp_server, coturn):
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(probe, exporter, silent_udp_server.url(), "patient")
        wait_for(lambda: exporter.metrics().value("icegather_exporter_probes_running") >= 1)
        quick = probe(exporter, coturn.url("turn"), "turn")
        running_after = exporter.metrics().value("icegather_exporter_probes_running")
        slow.result()

    assert quick.value("icegather_probe_success") == 1
    assert running_after >= 1  # the slow probe was still running when the quick one had answered


def test_probes_beyond_the_limit_wait_for_a_free_slot_and_time_out_waiting(silent_udp_server, tmp_path):
    config = {"max_concurrent_probes": 1, "modules": {"slow": {"local_addresses": ["127.0.0.1"], "timeout": 2}}}
    (tmp_path / "icegather.yml").write_text(json.dumps(config))
    with (
        exporter_process(tmp_path / "icegather.yml", tmp_path / "exporter.log") as exporter,
        ThreadPoolExecutor(2) as pool,
    ):
        first = pool.submit(probe, exporter, silent_udp_server.url(), "slow")
        wait_for(lambda: exporter.metrics().value("icegather_exporter_probes_running") == 1)
        second = pool.submit(probe, exporter, silent_udp_server.url(), "slow")
        wait_for(lambda: exporter.metrics().value("icegather_exporter_probes_waiting") == 1)
        running_while_waiting = exporter.metrics().value("icegather_exporter_probes_running")
        answers = [first.result(), second.result()]

    assert running_while_waiting == 1
    assert [answer.value("icegather_probe_info", verdict="timed out") for answer in answers] == [1, 1]


def test_a_transport_killed_mid_probe_fails_that_probe_and_the_next_gets_a_fresh_one(tmp_path, coturn):
    config = {"modules": {"slow": {"local_addresses": ["127.0.0.1"], "timeout": 20}}}
    (tmp_path / "icegather.yml").write_text(json.dumps(config))
    with (
        ScriptedStunServer(never_answer) as silent,
        exporter_process(tmp_path / "icegather.yml", tmp_path / "exporter.log") as exporter,
        ThreadPoolExecutor(1) as pool,
    ):
        running = pool.submit(probe, exporter, silent.url(), "slow")
        wait_for(lambda: len(silent.received) > 0)  # the transport is at work on the probe
        [transport] = transport_processes_of(exporter.process.pid)
        os.kill(transport, signal.SIGKILL)
        killed = running.result()
        after = probe(exporter, f"stun:127.0.0.1:{coturn.port}", "slow")
        starts = exporter.metrics().value("icegather_exporter_transport_starts_total")

    assert killed.value("icegather_probe_success") == 0
    assert killed.value("icegather_probe_info", verdict="transport failed") == 1
    assert after.value("icegather_server_up", url=f"stun:127.0.0.1:{coturn.port}") == 1
    assert starts == 2


# --- secrets ---------------------------------------------------------------------------------


def test_no_credential_or_secret_appears_in_any_answer_or_in_the_log(exporter, coturn, rest_coturn):
    probe(exporter, coturn.url("turn"), "turn")
    probe(exporter, rest_coturn.url("turn"), "rest")
    probe(exporter, coturn.url("turn"), "wrong")
    exporter.get("/probe?target=turn:127.0.0.1:1&module=nope")
    exporter.metrics()

    everything = "\n".join(response.body for response in exporter.responses) + exporter.log.read_text()
    for secret in (coturn.password, SECRET, "not-the-password"):
        assert secret not in everything
    assert "DEBUG" in exporter.log.read_text()  # the log was at its most talkative


# --- its configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("modules: [", "not valid YAML"),
        ("modules: {m: {usernme: x}}", "module 'm': unknown key 'usernme'"),
        ("modules: {m: {credential_file: /x}}", "module 'm': a credential needs a username"),
        ("modules: {m: {username: u, credential_file: /nonexistent/file}}", "cannot read the credential file"),
        ("modules: {m: {auth_secret_env: ICEGATHER_TEST_UNSET}}", "is empty or unset"),
        ("modules: {m: {schedule: {rto: 0}}}", "schedule.rto must be a number"),
        ("max_concurrent_probes: 0", "max_concurrent_probes must be a whole number"),
        ("modules: {m: {username: u, credential_env: PATH}}", "module 'm': a module with credentials must list "
         "allowed_targets, the hosts or host:port pairs its credentials may go to"),
        ("modules: {m: {auth_secret_env: PATH}}", "module 'm': a module with credentials must list allowed_targets"),
        ("modules: {m: {allowed_targets: []}}", "module 'm': allowed_targets must be a non-empty list"),
        ("modules: {m: {allowed_targets: ['turn:turn.example.invalid:3478']}}",
         "module 'm': allowed_targets: 'turn:turn.example.invalid:3478' is not a host or host:port"),
        ("modules: {m: {allowed_targets: ['[2001:db8::1']}}", "is not a host or host:port"),
    ],
)
def test_a_bad_configuration_stops_the_exporter_at_start_with_one_line(config, message, tmp_path):
    (tmp_path / "icegather.yml").write_text(config)
    result = subprocess.run([ICEGATHER, "exporter", "--config", str(tmp_path / "icegather.yml")],
                            capture_output=True, text=True, timeout=30)

    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_a_listen_address_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([ICEGATHER, "exporter", "--listen", f"127.0.0.1:{port}"],
                                capture_output=True, text=True, timeout=30)

    assert result.returncode == 2
    assert result.stderr == f"icegather exporter: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def wait_for(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition never held")
        time.sleep(0.01)

