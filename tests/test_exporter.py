"""``icegather exporter``: real exporter processes, real coturn, real HTTP; the Prometheus end of
it is in tests/test_prometheus.py."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from commands import ICEGATHER
from local_coturn import Coturn, free_port, local_coturn
from local_exporter import ExporterProcess, Response, coturn_module, exporter_process
from process_stats import transport_processes_of
from prometheus_client import CollectorRegistry, generate_latest
from stun_servers import ScriptedStunServer, never_answer, try_alternate

from icegather.main_proc.credentials.secrets_input import BadInput
from icegather.main_proc.diagnosis.outcomes import ServerOutcome
from icegather.main_proc.diagnosis.verdicts import diagnose
from icegather.main_proc.exporter.allowed_targets import first_refused, parse_allowed_target
from icegather.main_proc.exporter.config import parse_config
from icegather.main_proc.exporter.probe_metrics import ProbeCollector
from icegather.main_proc.exporter.probe_request import BadProbe, probe_request
from icegather.main_proc.exporter.probe_time import GIVE_UP_SHARE, fitted_schedule, probe_time
from icegather.main_proc.observed_round import RoundResult
from icegather.main_proc.views.report import Tally
from icegather.shared.config.ice_url import parse_ice_url
from icegather.shared.structs import RetransmissionSchedule

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
            "standard": {"local_addresses": ["127.0.0.1"]},  # the default schedule and timeout
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
    response = probe(exporter, coturn.url("turn"), "turn")

    assert response.status == 200 and response.content_type.startswith("text/plain")
    assert response.value("icegather_probe_success") == 1
    assert response.value("icegather_server_up") == 1
    assert response.value("icegather_server_error_code") == 0
    assert 0 < response.value("icegather_server_rtt_seconds") < 1
    assert response.value("icegather_relay_up", family="IPv4") == 1
    assert 0 < response.value("icegather_relay_rtt_seconds", family="IPv4", quantile="0.5") < 1
    assert response.value("icegather_candidates", type="relay") == 1
    assert response.value("icegather_probe_info", verdict="healthy") == 1


def test_a_probe_of_one_url_has_no_url_label_since_instance_names_it(exporter, coturn):
    response = probe(exporter, coturn.url("turn"), "turn")

    labels = {name for _, sample_labels in response.samples() for name, _ in sample_labels}
    assert labels == {"type", "verdict", "family", "quantile"}


def test_values_carry_the_precision_measured_not_float_noise(exporter, coturn):
    # Round trips are measured to the microsecond, the probe's time to a tenth of a millisecond;
    # a millisecond value divided by 1000 reads 0.00032700000000000003 unless rounded.
    answers = [probe(exporter, coturn.url("turn"), "turn") for _ in range(5)]

    for answer in answers:
        values = {name: answer.value(name, **labels) for name, labels in (
            ("icegather_server_rtt_seconds", {}),
            ("icegather_relay_rtt_seconds", {"family": "IPv4", "quantile": "0.5"}),
            ("icegather_probe_duration_seconds", {}),
        )}
        assert None not in values.values()
        assert not re.findall(r"[0-9]\.[0-9]{7,}", answer.body)  # no value has more digits than measured
        assert round(values["icegather_probe_duration_seconds"], 4) == values["icegather_probe_duration_seconds"]


def test_minted_credentials_from_the_modules_shared_secret_work(exporter, rest_coturn):
    response = probe(exporter, rest_coturn.url("turn", "tcp"), "rest")

    assert response.value("icegather_probe_success") == 1
    assert response.value("icegather_relay_up", family="IPv4") == 1


def test_refused_credentials_give_the_code_and_the_cause_as_a_label(exporter, coturn):
    response = probe(exporter, coturn.url("turn"), "wrong")

    assert response.value("icegather_probe_success") == 0
    assert response.value("icegather_server_up") == 0
    assert response.value("icegather_server_error_code") == 401
    assert response.value("icegather_server_failure", cause="credentials") == 1
    assert response.value("icegather_probe_info", verdict="turn failed") == 1


def test_without_a_module_the_default_one_probes_a_stun_url(exporter):
    response = probe(exporter, f"stun:127.0.0.1:{free_port()}")

    assert response.value("icegather_probe_success") == 0
    assert response.value("icegather_server_failure", cause="udp port closed") == 1


def test_a_file_target_probes_every_server_of_the_configuration_in_it_each_with_its_url(exporter, coturn):
    response = probe(exporter, "file:both.json", "fast")

    samples = response.samples()
    urls = {dict(labels)["url"] for name, labels in samples if name == "icegather_server_up"}
    per_url = [labels for name, labels in samples if name.startswith(("icegather_server_", "icegather_relay_"))]
    assert coturn.url("turn") in urls and len(urls) == 2
    assert response.value("icegather_server_up", url=coturn.url("turn")) == 1
    assert response.value("icegather_relay_up", url=coturn.url("turn"), family="IPv4") == 1
    assert all("url" in dict(labels) for labels in per_url)
    assert response.value("icegather_probe_success") == 0  # the other server's port is closed


# --- the quality stream (quality_seconds) -------------------------------------------------------


def relay_check(url: str, relayed: str, rtt_ms: float | None = 0.8) -> dict:
    """An ``icerelaycheck`` record, as far as the metrics read it."""
    return {"type": "icerelaycheck", "url": url, "serverIndex": 0, "relayedAddress": relayed,
            "outcome": "works", "rttMs": rtt_ms}


def relay_stream(url: str, relayed: str, **facts: object) -> dict:
    """An ``icerelayquality`` record: 250 packets out, 247 at the far end, 245 of its echoes back."""
    record = {
        "type": "icerelayquality", "url": url, "serverIndex": 0, "address": "192.0.2.1", "port": 50000,
        "relayedAddress": relayed, "farUrl": None, "farRelayedAddress": None, "mechanism": "channel",
        "transport": "udp", "seconds": 5, "rate": 50, "packetsOut": 250, "packetsBack": 247,
        "packetsOutReceived": 247, "packetsBackReceived": 245, "lossOut": 1 - 247 / 250, "lossBack": 1 - 245 / 247,
        "jitterOutMs": 3.1, "jitterBackMs": 2.25, "rttMinMs": 40.123, "rttP50Ms": 41.0, "rttP95Ms": 55.5,
        "rttP99Ms": 61.25, "addedDelayMs": 15.377, "reordered": 2, "duplicated": 1, "degraded": ["loss"],
        "cause": None, "series": {"intervalMs": 100.0, "sent": [5], "lost": [0], "rttMs": [41.0]}, "timeMs": 5020.5,
    }
    return {**record, **facts}


def probe_answer(records: list[dict], per_url: bool = False) -> Response:
    """The /probe answer of a round of a TURN URL with these records, as the exporter writes it."""
    tally = Tally()
    for record in records:
        tally.add(record)
    outcomes = tuple(
        ServerOutcome(url, "turn", "udp", "t.example", True, 1.0, ("relay",), None, None, None,
                      relay_checks=tuple(r for r in records if r["type"] == "icerelaycheck" and r["url"] == url),
                      checks_relay=True)
        for url in dict.fromkeys(record["url"] for record in records)
    )
    result = RoundResult(tally, outcomes, diagnose(outcomes, finished=True), None, 5100.0)
    registry = CollectorRegistry()
    registry.register(ProbeCollector(result, 5.1, per_url))
    return Response(200, "text/plain", generate_latest(registry).decode())


def test_a_relays_stream_gives_its_loss_jitter_packets_and_round_trip_quantiles_per_family():
    url = "turn:t.example"
    answer = probe_answer([relay_check(url, "192.0.2.7"), relay_check(url, "2001:db8::7"),
                           relay_stream(url, "192.0.2.7"), relay_stream(url, "2001:db8::7", lossOut=0.0)])

    assert answer.value("icegather_relay_loss_ratio", family="IPv4", direction="out") == 0.012  # 3 of 250
    assert answer.value("icegather_relay_loss_ratio", family="IPv4", direction="back") == 0.008097  # 2 of 247
    assert answer.value("icegather_relay_loss_ratio", family="IPv6", direction="out") == 0
    assert answer.value("icegather_relay_jitter_seconds", family="IPv4", direction="out") == 0.0031
    assert answer.value("icegather_relay_jitter_seconds", family="IPv4", direction="back") == 0.00225
    assert {quantile: answer.value("icegather_relay_rtt_seconds", family="IPv4", quantile=quantile)
            for quantile in ("0", "0.5", "0.95", "0.99")} == {"0": 0.040123, "0.5": 0.041, "0.95": 0.0555,
                                                             "0.99": 0.06125}
    assert {(direction, fate): answer.value("icegather_relay_packets", family="IPv4", direction=direction, fate=fate)
            for direction in ("out", "back") for fate in ("sent", "received")} == {
        ("out", "sent"): 250, ("out", "received"): 247, ("back", "sent"): 247, ("back", "received"): 245}
    assert answer.value("icegather_relay_packets_reordered", family="IPv4") == 2
    assert answer.value("icegather_relay_packets_duplicated", family="IPv6") == 1
    assert not re.findall(r"[0-9]\.[0-9]{7,}", answer.body)  # no float noise from 1 - 247/250


def test_without_a_stream_a_relays_round_trip_is_the_relay_checks_median():
    answer = probe_answer([relay_check("turn:t.example", "192.0.2.7", rtt_ms=0.8)])

    assert [(name, dict(labels)) for name, labels in answer.samples() if name.startswith("icegather_relay_")] == [
        ("icegather_relay_up", {"family": "IPv4"}),
        ("icegather_relay_rtt_seconds", {"family": "IPv4", "quantile": "0.5"}),
    ]
    assert answer.value("icegather_relay_rtt_seconds", family="IPv4", quantile="0.5") == 0.0008


def test_a_stream_that_got_nothing_through_gives_full_loss_out_and_no_loss_back_jitter_or_round_trip():
    url = "turn:t.example"
    nothing = relay_stream(url, "192.0.2.7", packetsBack=0, packetsOutReceived=0, packetsBackReceived=0, lossOut=1.0,
                           lossBack=None, jitterOutMs=None, jitterBackMs=None, rttMinMs=None, rttP50Ms=None,
                           rttP95Ms=None, rttP99Ms=None)
    answer = probe_answer([relay_check(url, "192.0.2.7"), nothing])

    relay_series = {(name, labels) for name, labels in answer.samples() if name.startswith("icegather_relay_")}
    assert answer.value("icegather_relay_loss_ratio", family="IPv4", direction="out") == 1
    assert not {name for name, labels in relay_series if ("direction", "back") in labels} - {"icegather_relay_packets"}
    assert not [name for name, _ in relay_series if name in ("icegather_relay_jitter_seconds",
                                                              "icegather_relay_rtt_seconds")]


def test_a_file_targets_streams_are_labelled_with_their_url_as_its_relays_are():
    first, second = "turn:a.example", "turn:b.example?transport=tcp"
    answer = probe_answer([relay_check(first, "192.0.2.7"), relay_check(second, "192.0.2.8"),
                           relay_stream(first, "192.0.2.7"), relay_stream(second, "192.0.2.8", lossOut=0.5)],
                          per_url=True)

    assert answer.value("icegather_relay_loss_ratio", url=first, family="IPv4", direction="out") == 0.012
    assert answer.value("icegather_relay_loss_ratio", url=second, family="IPv4", direction="out") == 0.5
    assert answer.value("icegather_relay_rtt_seconds", url=second, family="IPv4", quantile="0.95") == 0.0555
    assert all("url" in dict(labels) for name, labels in answer.samples() if name.startswith("icegather_relay_"))


def quality_module(**options: object) -> dict:
    return {"modules": {"quality": {"quality_seconds": 5, **options}}}


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ({"quality_seconds": -1}, "module 'quality': quality_seconds must be a number from 0 to 600"),
        ({"quality_seconds": 601}, "module 'quality': quality_seconds must be a number from 0 to 600"),
        ({"quality_seconds": "5s"}, "module 'quality': quality_seconds must be a number from 0 to 600"),
        ({"quality_rate": 0}, "module 'quality': quality_rate must be a whole number from 1 to 1000"),
        ({"quality_rate": 2.5}, "module 'quality': quality_rate must be a whole number from 1 to 1000"),
        ({"quality_seconds": 0, "quality_rate": 100},
         "module 'quality': quality_rate needs quality_seconds, the stream's length"),
        ({"relay_check": False}, "module 'quality': quality_seconds needs relay_check: true"),
        ({"timeout": 7}, "module 'quality': its quality stream needs 7.5 s (5 s, 2 s for its last packets to come "
         "back, and 0.5 s to reach the relay first), more than its timeout of 7 s: raise timeout or lower "
         "quality_seconds"),
    ],
)
def test_a_quality_module_that_cannot_work_is_refused_with_one_line(module, message):
    with pytest.raises(BadInput) as refused:
        parse_config(quality_module(**module), {})

    assert str(refused.value) == message


def test_a_quality_modules_schedule_is_fitted_to_the_time_its_stream_leaves():
    config = parse_config(quality_module(quality_rate=100), {})
    request = probe_request("target=stun:stun.example.invalid&module=quality", "10", config, time.time())

    options = request.options(request.timeout)
    # 9.5 s less 7 s of stream: the default schedule gives up within 80 % of the 2.5 s left.
    assert (request.timeout, options.quality_seconds, options.quality_rate) == (9.5, 5, 100)
    assert options.schedule == fitted_schedule(RetransmissionSchedule(), 2.5)
    assert options.schedule.give_up_after <= GIVE_UP_SHARE * 2.5


def test_a_scrape_timeout_too_short_for_the_stream_is_refused_with_the_timeout_it_needs():
    config = parse_config(quality_module(), {})

    with pytest.raises(BadProbe) as refused:
        probe_request("target=stun:stun.example.invalid&module=quality", "7.5", config, time.time())

    assert (refused.value.status, refused.value.kind) == (400, "stream does not fit")
    assert str(refused.value) == (
        "module 'quality': its quality stream needs 7.5 s (5 s, 2 s for its last packets to come back, and 0.5 s to "
        "reach the relay first), more than the 7 s this scrape allows (its scrape timeout less 0.5 s): give the job a "
        "scrape_timeout of at least 8 s, or lower quality_seconds"
    )


# --- debug=true, health, reload ----------------------------------------------------------------


def test_debug_gives_a_text_log_of_the_probe_its_metrics_and_its_module(exporter, closed_udp_port):
    url = f"stun:127.0.0.1:{closed_udp_port}"
    response = probe(exporter, url + "&debug=true", "fast")

    log, rest = response.body.split("\n\n\nMetrics that would have been returned:\n")
    metrics, module = rest.split("\n\n\nModule configuration:\n")
    log_lines = log.splitlines()
    assert response.status == 200 and response.content_type.startswith("text/plain")
    assert log_lines[0] == "Logs for the probe:"
    assert any(" error  701 " in line and url in line for line in log_lines)  # the failure, as it came
    assert any(" trace  " in line and url in line for line in log_lines)  # each transaction
    assert any(line.startswith("diagnosis: ") for line in log_lines)  # the summary and its causes
    assert 'icegather_server_failure{cause="udp port closed"} 1.0' in metrics.splitlines()
    assert module.splitlines()[:3] == ["module: fast", f"target: {url}", "credentials: none"]


def test_debug_of_a_module_with_credentials_names_them_without_showing_them(exporter, coturn):
    response = probe(exporter, coturn.url("turn") + "&debug=true", "turn")

    assert "credentials: a username and credential (not shown)" in response.body.splitlines()
    assert f"allowed_targets: 127.0.0.1:{coturn.port}" in response.body
    assert coturn.password not in response.body and coturn.username not in response.body.split("Module")[-1]


def test_debug_says_how_the_schedule_was_fitted_to_the_scrape_timeout(exporter, closed_udp_port):
    response = probe(exporter, f"stun:127.0.0.1:{closed_udp_port}&debug=true", "standard",
                     **{"X-Prometheus-Scrape-Timeout-Seconds": "10"})

    module = response.body.split("Module configuration:\n")[1].splitlines()
    assert ("schedule: RTO 0.4 s, 5 sends, final wait 4 RTO (gives up on a silent server after 7.6 s) (fitted; "
            "the module's: RTO 0.5 s, 5 sends, final wait 4 RTO (gives up on a silent server after 9.5 s))") in module
    assert "timeout: 9.5 s (the module's: 15 s)" in module


def test_healthy_and_ready_answer_200_and_take_get_only(exporter):
    answers = {path: exporter.get(path) for path in ("/-/healthy", "/-/ready")}

    assert {path: (answer.status, answer.body) for path, answer in answers.items()} == {
        "/-/healthy": (200, "Healthy\n"), "/-/ready": (200, "Ready\n"),
    }
    assert exporter.get("/-/healthy", method="POST").status == 405
    assert exporter.get("/-/reload").status == 405  # a reload is a POST, never a link followed


def test_reload_takes_a_new_configuration_and_keeps_the_old_one_when_the_new_one_is_bad(tmp_path):
    config_file = tmp_path / "icegather.yml"
    config_file.write_text(json.dumps({"modules": {"first": {"timeout": 3}}}))
    target = "/probe?target=stun:stun.example.invalid&module="
    with exporter_process(config_file, tmp_path / "exporter.log") as exporter:
        before = exporter.metrics().value("icegather_exporter_config_last_reload_success_timestamp_seconds")
        unknown = exporter.get(target + "second")
        config_file.write_text(json.dumps({"modules": {"first": {"timeout": 3}, "second": {"timeout": 3}}}))
        reloaded = exporter.get("/-/reload", method="POST")
        after_post = exporter.metrics()
        config_file.write_text("modules: {second: {usernme: x}}")
        refused = exporter.get("/-/reload", method="POST")
        after_refused = exporter.metrics()
        kept = [exporter.get(target + name).status for name in ("first", "second")]
        config_file.write_text(json.dumps({"modules": {"third": {"timeout": 3}}}))
        exporter.process.send_signal(signal.SIGHUP)
        wait_for(lambda: exporter.metrics().value("icegather_exporter_config_last_reload_successful") == 1)
        after_sighup = [exporter.get(target + name).status for name in ("first", "third")]
        log = exporter.log.read_text()

    assert unknown.status == 400
    assert reloaded.status == 200 and reloaded.body == "configuration reloaded\n"
    assert after_post.value("icegather_exporter_config_last_reload_successful") == 1
    assert after_post.value("icegather_exporter_config_last_reload_success_timestamp_seconds") > before
    assert refused.status == 500 and refused.body == (
        "the configuration was not reloaded, the previous one stays: module 'second': unknown key 'usernme'\n"
    )
    assert after_refused.value("icegather_exporter_config_last_reload_successful") == 0
    assert after_refused.value("icegather_exporter_config_last_reload_success_timestamp_seconds") == (
        after_post.value("icegather_exporter_config_last_reload_success_timestamp_seconds")
    )
    assert kept == [200, 200]  # the configuration before the bad file, both modules
    assert after_sighup == [400, 200]  # SIGHUP loaded the file anew
    assert "unknown key 'usernme'" in log and "Traceback" not in log


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
    response = probe(exporter, "stun:127.0.0.1", None, **{"X-Prometheus-Scrape-Timeout-Seconds": "ten"})

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
            answer = probe(exporter, redirector.url("turn"), "user")

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


def test_a_silent_server_is_named_silent_under_prometheus_default_scrape_timeout(exporter, silent_udp_server):
    # The default schedule gives up after 9.5 s, the time a probe has under the default 10 s;
    # fitted to the probe, it gives up in time to name the server. (How long such a probe takes:
    # scripts/bench_exporter.py.)
    response = probe(exporter, silent_udp_server.url(), "standard", **{"X-Prometheus-Scrape-Timeout-Seconds": "10"})

    assert response.value("icegather_probe_success") == 0
    assert response.value("icegather_server_failure", cause="silent") == 1
    assert response.value("icegather_probe_info", verdict="timed out") is None
    assert response.value("icegather_server_up") == 0
    assert len(silent_udp_server.received) == 5  # every send of the schedule went out


@pytest.mark.parametrize(
    ("module_timeout", "header", "probe_seconds", "schedule"),
    [
        (15, "10", 9.5, RetransmissionSchedule(0.4, 5, 4)),  # Prometheus's default: gives up after 7.6 s
        (15, None, 15, RetransmissionSchedule()),  # 9.5 s fits in 15 s as it is
        (15, "15", 14.5, RetransmissionSchedule()),
        (5, "10", 5, RetransmissionSchedule(0.21, 5, 4)),  # the module's own timeout is shorter
        (15, "1", 0.5, RetransmissionSchedule(0.021, 5, 4)),  # never less than half a second
    ],
)
def test_the_schedule_gives_up_on_a_silent_server_within_most_of_the_probes_time(
    module_timeout, header, probe_seconds, schedule
):
    seconds = probe_time(module_timeout, header)

    assert seconds == probe_seconds
    assert fitted_schedule(RetransmissionSchedule(), seconds) == schedule
    assert schedule.give_up_after <= GIVE_UP_SHARE * seconds + 1e-9


def test_a_schedule_too_long_even_at_the_shortest_rto_sends_less_often():
    schedule = fitted_schedule(RetransmissionSchedule(0.001, 16, 64), 0.5)  # 16 sends take 32.8 s

    assert schedule.initial_rto == 0.001 and schedule.max_sends < 16
    assert schedule.give_up_after <= GIVE_UP_SHARE * 0.5


def test_a_dead_server_never_delays_another_probe(exporter, silent_udp_server, coturn):
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(probe, exporter, silent_udp_server.url(), "patient")
        wait_for(lambda: exporter.metrics().value("icegather_exporter_probes_running") >= 1)
        quick = probe(exporter, coturn.url("turn"), "turn")
        running_after = exporter.metrics().value("icegather_exporter_probes_running")
        slow.result()

    assert quick.value("icegather_probe_success") == 1
    assert running_after >= 1  # the slow probe was still running when the quick one had answered


@pytest.fixture(scope="module")
def one_slot_exporter(tmp_path_factory) -> Iterator[ExporterProcess]:
    """An exporter that runs one probe at a time; its modules give a probe 2 s or 4 s."""
    directory = tmp_path_factory.mktemp("one_slot")
    loopback = {"local_addresses": ["127.0.0.1"]}
    config = {"max_concurrent_probes": 1, "modules": {"two": {**loopback, "timeout": 2},
                                                      "four": {**loopback, "timeout": 4}}}
    (directory / "icegather.yml").write_text(json.dumps(config))
    with exporter_process(directory / "icegather.yml", directory / "exporter.log") as process:
        yield process


def one_after_another(
    exporter: ExporterProcess, target: str, first: str, second: str
) -> tuple[Response, Response, float]:
    """A probe with module ``first``, and one with ``second`` that waits for it; their answers
    and how many probes ran while the second waited."""
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(probe, exporter, target, first)
        wait_for(lambda: exporter.metrics().value("icegather_exporter_probes_running") == 1)
        waiting = pool.submit(probe, exporter, target, second)
        wait_for(lambda: exporter.metrics().value("icegather_exporter_probes_waiting") == 1)
        running_while_waiting = exporter.metrics().value("icegather_exporter_probes_running")
        return running.result(), waiting.result(), running_while_waiting


def test_probes_beyond_the_limit_wait_for_a_free_slot_and_time_out_waiting(one_slot_exporter, silent_udp_server):
    # The first takes 3.2 s to give up on the silent server: the second's 2 s pass waiting.
    first, second, running = one_after_another(one_slot_exporter, silent_udp_server.url(), "four", "two")

    assert running == 1
    assert first.value("icegather_server_failure", cause="silent") == 1
    assert second.value("icegather_probe_info", verdict="timed out") == 1


def test_a_probe_that_waited_for_a_slot_fits_its_schedule_to_the_time_left(one_slot_exporter, silent_udp_server):
    # The second waits 1.6 s of its 4 s; the 3.2 s schedule fitted to all 4 s would not end in
    # the 2.4 s left, the one fitted to those does.
    first, second, _ = one_after_another(one_slot_exporter, silent_udp_server.url(), "two", "four")

    assert first.value("icegather_server_failure", cause="silent") == 1
    assert second.value("icegather_server_failure", cause="silent") == 1
    assert second.value("icegather_probe_info", verdict="timed out") is None


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
    assert after.value("icegather_server_up") == 1
    assert starts == 2


# --- secrets ---------------------------------------------------------------------------------


def test_no_credential_or_secret_appears_in_any_answer_or_in_the_log(exporter, coturn, rest_coturn):
    probe(exporter, coturn.url("turn"), "turn")
    probe(exporter, rest_coturn.url("turn"), "rest")
    probe(exporter, coturn.url("turn"), "wrong")
    probe(exporter, coturn.url("turn") + "&debug=true", "turn")
    probe(exporter, rest_coturn.url("turn") + "&debug=true", "rest")
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

