"""The exporter as Prometheus uses it: a real Prometheus server scrapes a real exporter in the
multi-target pattern, and the shipped scrape configuration and alerting rules pass promtool."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from local_coturn import free_port
from local_exporter import coturn_module, exporter_process

from icegather.main_proc.exporter.config import parse_config
from icegather.main_proc.exporter.probe_request import BadProbe, probe_request
from icegather.shared.vocabulary.quality_thresholds import QUALITY_THRESHOLDS

EXAMPLES = Path(__file__).parent.parent / "docs" / "prometheus"
T = TypeVar("T")


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    assert found, f"{name} is not installed: bash scripts/install.sh test installs Debian's prometheus"
    return found


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=60, cwd=EXAMPLES)


def test_the_shipped_alerting_rules_are_valid_and_their_unit_tests_pass():
    checked = promtool("check", "rules", "icegather-alerts.yml")
    tested = promtool("test", "rules", "icegather-alerts-test.yml")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 10 rules found" in checked.stdout
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_degraded_relay_alert_fires_at_the_diagnosis_thresholds():
    rules = yaml.safe_load((EXAMPLES / "icegather-alerts.yml").read_text())
    [expression] = [rule["expr"] for group in rules["groups"] for rule in group["rules"]
                    if rule.get("record") == "icegather:relay_degraded"]

    limits = {name: float(limit) for limit, name in re.findall(r'> ([0-9.]+), "degraded", "(\w+)"', expression)}
    # The table's limits are fractions and milliseconds; the metrics are ratios and seconds.
    assert limits == {threshold.name: threshold.limit / (1000 if threshold.unit.startswith("ms") else 1)
                      for threshold in QUALITY_THRESHOLDS}


def test_the_shipped_scrape_configuration_is_valid():
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_shipped_modules_load_and_allow_the_targets_the_shipped_scrape_jobs_give_them(tmp_path):
    modules_file = yaml.safe_load((EXAMPLES / "icegather.yml").read_text())
    for module in modules_file["modules"].values():  # secrets of the test's own where the example has paths
        for key in ("credential_file", "auth_secret_file"):
            if key in module:
                (tmp_path / key).write_text("a secret of the test")
                module[key] = str(tmp_path / key)
    config = parse_config(modules_file, {"ICEGATHER_TURN_SECRET": "a secret of the test"})
    scrape = yaml.safe_load((EXAMPLES / "prometheus.yml").read_text())
    probed = [  # module, target, and the scrape timeout Prometheus sends (in seconds)
        (job["params"]["module"][0] if "params" in job else "default", target,
         job.get("scrape_timeout", scrape["global"]["scrape_timeout"]).removesuffix("s"))
        for job in scrape["scrape_configs"] if job.get("metrics_path") == "/probe"
        for static in job["static_configs"] for target in static["targets"]
    ]

    assert {name for name, module in config.modules.items() if module.allowed_targets is not None} == {
        "turn_rest", "turn_user", "relay_only", "call_quality", "call_path"
    }
    assert len(probed) == 6 and config.modules["call_quality"].options.quality_seconds == 10
    assert config.modules["call_path"].options.relay_to_relay
    for module, target, scrape_timeout in probed:  # no packet: probe_request only checks, its time too
        probe_request(urllib.parse.urlencode({"module": module, "target": target}), scrape_timeout, config,
                      time.time())
    with pytest.raises(BadProbe, match=re.escape("give the job a scrape_timeout of at least 25 s")):
        probe_request("module=call_quality&target=turn:turn.example.org", "10", config, time.time())
    with pytest.raises(BadProbe, match=re.escape("give the job a scrape_timeout of at least 25.5 s")):
        probe_request("module=call_path&target=turn:turn.example.org", "13", config, time.time())
    with pytest.raises(BadProbe, match=re.escape("may not probe 'turn:turn.example.org.invalid:3478'")):
        probe_request("module=turn_rest&target=turn:turn.example.org.invalid:3478", None, config, time.time())


def scrape_job(name: str, module: str, targets: list[str], exporter_port: int) -> dict:
    """A job in the multi-target pattern, as docs/prometheus/prometheus.yml has it."""
    return {
        "job_name": name,
        "metrics_path": "/probe",
        "params": {"module": [module]},
        "static_configs": [{"targets": targets}],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": f"127.0.0.1:{exporter_port}"},
        ],
    }


def api(port: int, path: str) -> Any:
    """The data of an answer of Prometheus's HTTP API."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/{path}", timeout=10) as answer:
        return json.load(answer)["data"]


def query(port: int, expression: str) -> dict[str, float]:
    """instance -> value of each series of an instant query."""
    return {instance: value for (instance,), value in query_by(port, expression, "instance").items()}


def query_by(port: int, expression: str, *labels: str) -> dict[tuple[str, ...], float]:
    """The values of ``labels`` -> value of each series of an instant query."""
    results = api(port, f"query?query={urllib.parse.quote(expression)}")["result"]
    return {tuple(result["metric"].get(label, "") for label in labels): float(result["value"][1])
            for result in results}


@contextlib.contextmanager
def prometheus(directory: Path, config: dict[str, Any]) -> Iterator[int]:
    """A real Prometheus with ``config``, its data and log in ``directory``; its port."""
    port = free_port()
    (directory / "prometheus.yml").write_text(json.dumps(config))
    with open(directory / "prometheus.log", "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [tool("prometheus"), f"--config.file={directory / 'prometheus.yml'}",
             f"--storage.tsdb.path={directory / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=log,
        )
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_prometheus_scrapes_healthy_and_broken_targets_through_the_exporter(coturn, tmp_path):
    loopback = {"local_addresses": ["127.0.0.1"], "schedule": {"rto": 0.05, "max_sends": 2, "final_wait": 2},
                "allowed_targets": ["127.0.0.1"]}  # any port on it: coturn's, and the closed one
    config = {"modules": {
        "turn": coturn_module(coturn, tmp_path / "credential", **loopback),
        "wrong": coturn_module(coturn, tmp_path / "wrong", "wrong", **loopback),
    }}
    (tmp_path / "icegather.yml").write_text(json.dumps(config))
    healthy, closed = coturn.url("turn"), f"turn:127.0.0.1:{free_port()}?transport=tcp"
    refused = coturn.url("turn", "tcp")
    with exporter_process(tmp_path / "icegather.yml", tmp_path / "exporter.log") as exporter:
        config = {
            # 1.5 s a probe: the first one starts the transport too (0.2-0.4 s here, more when busy).
            "global": {"scrape_interval": "2s", "scrape_timeout": "2s"},
            "scrape_configs": [
                scrape_job("turn", "turn", [healthy, closed], exporter.port),
                scrape_job("refused", "wrong", [refused], exporter.port),
            ],
        }
        with prometheus(tmp_path, config) as prometheus_port:
            success = wait_for_series(prometheus_port, "icegather_probe_success", 3)
            relay = query(prometheus_port, "icegather_relay_up")
            codes = query(prometheus_port, "icegather_server_error_code")
            causes = query(prometheus_port, 'icegather_server_failure{cause=~"credentials|tcp port closed"}')

    assert success == {healthy: 1, closed: 0, refused: 0}
    assert relay == {healthy: 1}
    assert codes == {healthy: 0, closed: 701, refused: 401}
    assert causes == {closed: 1, refused: 1}


def test_prometheus_stores_the_quality_stream_of_a_relay_probed_through_the_exporter(coturn, tmp_path):
    # A stream of 0.5 s at 100 packets a second each way: with its 2 s for the last packets and
    # 0.5 s to reach the relay, the probe needs a scrape timeout of 3 s; it has 3.5 (and the
    # first scrape comes within one interval).
    module = coturn_module(coturn, tmp_path / "credential", local_addresses=["127.0.0.1"],
                           schedule={"rto": 0.05, "max_sends": 2, "final_wait": 2}, quality_seconds=0.5,
                           quality_rate=100, ipv6_relay=False)
    (tmp_path / "icegather.yml").write_text(json.dumps({"modules": {"quality": module}}))
    target = coturn.url("turn")
    with exporter_process(tmp_path / "icegather.yml", tmp_path / "exporter.log") as exporter:
        config = {
            "global": {"scrape_interval": "3500ms", "scrape_timeout": "3500ms"},
            "scrape_configs": [scrape_job("quality", "quality", [target], exporter.port)],
        }
        with prometheus(tmp_path, config) as prometheus_port:
            wait_for_series(prometheus_port, "icegather_relay_up", 1)  # the stream's series come with it
            loss = query_by(prometheus_port, "icegather_relay_loss_ratio", "instance", "family", "direction")
            jitter = query_by(prometheus_port, "icegather_relay_jitter_seconds", "direction")
            rtt = query_by(prometheus_port, "icegather_relay_rtt_seconds", "quantile")
            packets = query_by(prometheus_port, "icegather_relay_packets", "direction", "fate")
            misordered = query(prometheus_port,
                               "icegather_relay_packets_reordered + icegather_relay_packets_duplicated")

    assert loss == {(target, "IPv4", "out"): 0, (target, "IPv4", "back"): 0}  # a clean loopback loses nothing
    assert set(jitter) == {("out",), ("back",)} and min(jitter.values()) >= 0
    assert set(rtt) == {("0",), ("0.5",), ("0.95",), ("0.99",)}
    assert 0 < rtt[("0",)] <= rtt[("0.5",)] <= rtt[("0.95",)] <= rtt[("0.99",)]
    assert packets[("out", "sent")] > 0
    assert set(packets.values()) == {packets[("out", "sent")]}  # every packet went out and came back
    assert misordered == {target: 0}


def test_prometheus_fires_the_exporter_down_alert_when_the_exporter_stops(tmp_path):
    rules = yaml.safe_load((EXAMPLES / "icegather-alerts.yml").read_text())
    for group in rules["groups"]:  # the shipped rules without their waits, which are minutes long
        for rule in group["rules"]:
            rule.pop("for", None)
    (tmp_path / "alerts.yml").write_text(json.dumps(rules))
    with exporter_process(None, tmp_path / "exporter.log") as exporter:
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(tmp_path / "alerts.yml")],
            "scrape_configs": [  # the exporter's own job, as docs/prometheus/prometheus.yml has it
                {"job_name": "icegather-exporter", "static_configs": [{"targets": [f"127.0.0.1:{exporter.port}"]}]},
            ],
        }
        with prometheus(tmp_path, config) as prometheus_port:
            up = wait_for_series(prometheus_port, 'up{job="icegather-exporter"} == 1', 1)
            seen_up = last_evaluation(prometheus_port)  # the next evaluation sees the exporter up
            firing_while_up = wait_until(
                lambda: firing_alerts(prometheus_port) if last_evaluation(prometheus_port) != seen_up else None
            )
            exporter.process.terminate()
            exporter.process.wait(timeout=30)
            firing = wait_until(lambda: firing_alerts(prometheus_port).get("IcegatherExporterDown"))

    assert up == {f"127.0.0.1:{exporter.port}": 1}
    assert "IcegatherExporterDown" not in firing_while_up
    assert firing == {"alertname": "IcegatherExporterDown", "severity": "page", "job": "icegather-exporter",
                      "instance": f"127.0.0.1:{exporter.port}"}


def firing_alerts(port: int) -> dict[str, dict[str, str]]:
    """alertname -> labels of each firing alert."""
    return {alert["labels"]["alertname"]: alert["labels"] for alert in api(port, "alerts")["alerts"]
            if alert["state"] == "firing"}


def last_evaluation(port: int) -> str:
    """When Prometheus last evaluated the exporter's rules."""
    return str(next(group for group in api(port, "rules")["groups"] if group["name"] == "icegather-exporter")
               ["lastEvaluation"])


def wait_until(found: Callable[[], T | None], timeout: float = 60) -> T:
    """What ``found`` returns once it is not None (polling Prometheus's API)."""
    deadline = time.monotonic() + timeout
    while (value := found()) is None:
        if time.monotonic() > deadline:
            pytest.fail(f"Prometheus did not get there within {timeout} s")
        time.sleep(0.2)
    return value


def wait_for_series(port: int, expression: str, count: int, timeout: float = 60) -> dict[str, float]:
    """The query's series once there are ``count`` of them (Prometheus has scraped each target)."""

    def found() -> dict[str, float] | None:
        try:
            series = query(port, expression)
        except OSError:  # Prometheus is still starting
            return None
        return series if len(series) >= count else None

    return wait_until(found, timeout)
