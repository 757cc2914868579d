"""``icegather exporter``: bad requests, where a module may probe, and a bad configuration: each
refused with one line, and nothing sent where it may not go."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest
from commands import ICEGATHER
from exporter_helpers import exporter
from local_coturn import free_port
from local_exporter import SECRET, exporter_process
from process_stats import transport_processes_of
from stun_servers import ScriptedStunServer, never_answer, try_alternate

from icegather.main_proc.exporter.allowed_targets import first_refused, parse_allowed_target
from icegather.shared.config.ice_url import parse_ice_url

__all__ = ["exporter"]  # the module's exporter, for the tests here

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
        ("/probe?target=stun:127.0.0.1&debug=yes", 400, "bad debug", "debug is true or false"),
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


def test_a_scrape_timeout_that_is_not_a_number_is_refused(exporter):
    response = exporter.probe("stun:127.0.0.1", None, **{"X-Prometheus-Scrape-Timeout-Seconds": "ten"})

    assert (response.status, response.body) == (400, "X-Prometheus-Scrape-Timeout-Seconds must be a number\n")


def test_methods_other_than_get_are_refused(exporter):
    refused = exporter.get("/probe?target=stun:127.0.0.1", method="POST")

    assert refused.status == 405 and refused.body == "/probe takes GET only\n"


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
        answers = [exporter.probe(url, module) for module in ("user", "rest")]
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
    # The one transport started with the exporter, and no other: the refused probes used none.
    assert metrics.value("icegather_exporter_transport_starts_total") == 1 and len(transports) == 1
    assert "alice" not in exporter.log.read_text()


def test_a_module_with_credentials_follows_no_redirect_to_a_server_it_does_not_allow(tmp_path):
    (tmp_path / "credential").write_text("the-password-of-the-test")
    with (
        ScriptedStunServer(never_answer) as alternate,
        ScriptedStunServer(try_alternate(("127.0.0.1", alternate.port))) as redirector,
    ):
        module = {"username": "alice", "credential_file": str(tmp_path / "credential"),
                  "allowed_targets": [f"127.0.0.1:{redirector.port}"], "local_addresses": ["127.0.0.1"]}
        (tmp_path / "icegather.yml").write_text(json.dumps({"modules": {"user": module}}))
        with exporter_process(tmp_path / "icegather.yml", tmp_path / "exporter.log") as exporter:
            answer = exporter.probe(redirector.url("turn"), "user")

    assert answer.value("icegather_probe_success") == 0
    assert answer.value("icegather_server_failure", cause="redirect not followed") == 1
    assert redirector.received and alternate.received == []  # the credentials never left for the alternate


def test_a_file_target_is_probed_only_when_the_module_allows_every_url_in_it(exporter, coturn):
    configurations = exporter.log.parent / "ice"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        outsider = f"stun:127.0.0.1:{server.getsockname()[1]}"
        (configurations / "mixed.json").write_text(
            json.dumps({"iceServers": [coturn.ice_server("turn"), {"urls": [coturn.url("stun"), outsider]}]})
        )
        refused = [exporter.probe("file:mixed.json", module) for module in ("pinned", "turn")]
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.recvfrom(2048)
    (configurations / "coturn.json").write_text(json.dumps({"iceServers": [coturn.ice_server("turn")]}))
    allowed = exporter.probe("file:coturn.json", "pinned")

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

