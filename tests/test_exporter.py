"""``icegather exporter``: real exporter processes, real coturn, real HTTP: what a probe answers,
debug=true, health, reload and secrets. Bad requests and where a module may probe are in
tests/test_exporter_requests.py, time and the transport in tests/test_exporter_time.py, the
quality stream in tests/test_exporter_quality.py; the Prometheus end in tests/test_prometheus.py."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator

import pytest
from local_coturn import Coturn, free_port, local_coturn
from local_exporter import SECRET, ExporterProcess, exporter_process, probing_exporter, wait_for


@pytest.fixture(scope="module")
def rest_coturn() -> Iterator[Coturn]:
    with local_coturn(extra_args=["--use-auth-secret", f"--static-auth-secret={SECRET}"]) as turn:
        yield turn


@pytest.fixture(scope="module")
def exporter(coturn, rest_coturn, tmp_path_factory) -> Iterator[ExporterProcess]:
    with probing_exporter(tmp_path_factory.mktemp("exporter"), coturn, rest_coturn) as process:
        yield process


# --- what a probe answers -------------------------------------------------------------------


def test_a_healthy_turn_server_probes_as_success_with_a_working_relay(exporter, coturn):
    response = exporter.probe(coturn.url("turn"), "turn")

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
    response = exporter.probe(coturn.url("turn"), "turn")

    labels = {name for _, sample_labels in response.samples() for name, _ in sample_labels}
    assert labels == {"type", "verdict", "family", "quantile"}


def test_values_carry_the_precision_measured_not_float_noise(exporter, coturn):
    # Round trips are measured to the microsecond, the probe's time to a tenth of a millisecond;
    # a millisecond value divided by 1000 reads 0.00032700000000000003 unless rounded.
    answers = [exporter.probe(coturn.url("turn"), "turn") for _ in range(5)]

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
    response = exporter.probe(rest_coturn.url("turn", "tcp"), "rest")

    assert response.value("icegather_probe_success") == 1
    assert response.value("icegather_relay_up", family="IPv4") == 1


def test_refused_credentials_give_the_code_and_the_cause_as_a_label(exporter, coturn):
    response = exporter.probe(coturn.url("turn"), "wrong")

    assert response.value("icegather_probe_success") == 0
    assert response.value("icegather_server_up") == 0
    assert response.value("icegather_server_error_code") == 401
    assert response.value("icegather_server_failure", cause="credentials") == 1
    assert response.value("icegather_probe_info", verdict="turn failed") == 1


def test_without_a_module_the_default_one_probes_a_stun_url(exporter):
    response = exporter.probe(f"stun:127.0.0.1:{free_port()}")

    assert response.value("icegather_probe_success") == 0
    assert response.value("icegather_server_failure", cause="udp port closed") == 1


def test_a_file_target_probes_every_server_of_the_configuration_in_it_each_with_its_url(exporter, coturn):
    response = exporter.probe("file:both.json", "fast")

    samples = response.samples()
    urls = {dict(labels)["url"] for name, labels in samples if name == "icegather_server_up"}
    per_url = [labels for name, labels in samples if name.startswith(("icegather_server_", "icegather_relay_"))]
    assert coturn.url("turn") in urls and len(urls) == 2
    assert response.value("icegather_server_up", url=coturn.url("turn")) == 1
    assert response.value("icegather_relay_up", url=coturn.url("turn"), family="IPv4") == 1
    assert all("url" in dict(labels) for labels in per_url)
    assert response.value("icegather_probe_success") == 0  # the other server's port is closed


# --- debug=true, health, reload ----------------------------------------------------------------


def test_debug_gives_a_text_log_of_the_probe_its_metrics_and_its_module(exporter, closed_udp_port):
    url = f"stun:127.0.0.1:{closed_udp_port}"
    response = exporter.probe(url + "&debug=true", "fast")

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
    response = exporter.probe(coturn.url("turn") + "&debug=true", "turn")

    assert "credentials: a username and credential (not shown)" in response.body.splitlines()
    assert f"allowed_targets: 127.0.0.1:{coturn.port}" in response.body
    assert coturn.password not in response.body and coturn.username not in response.body.split("Module")[-1]


def test_debug_says_how_the_schedule_was_fitted_to_the_scrape_timeout(exporter, closed_udp_port):
    response = exporter.probe(f"stun:127.0.0.1:{closed_udp_port}&debug=true", "standard",
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


# --- secrets ---------------------------------------------------------------------------------


def test_no_credential_or_secret_appears_in_any_answer_or_in_the_log(exporter, coturn, rest_coturn):
    exporter.probe(coturn.url("turn"), "turn")
    exporter.probe(rest_coturn.url("turn"), "rest")
    exporter.probe(coturn.url("turn"), "wrong")
    exporter.probe(coturn.url("turn") + "&debug=true", "turn")
    exporter.probe(rest_coturn.url("turn") + "&debug=true", "rest")
    exporter.get("/probe?target=turn:127.0.0.1:1&module=nope")
    exporter.metrics()

    everything = "\n".join(response.body for response in exporter.responses) + exporter.log.read_text()
    for secret in (coturn.password, SECRET, "not-the-password"):
        assert secret not in everything
    assert "DEBUG" in exporter.log.read_text()  # the log was at its most talkative
