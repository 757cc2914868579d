"""The exporter as Prometheus uses it: a real Prometheus server scrapes a real exporter in the
multi-target pattern, and the shipped scrape configuration and alerting rules pass promtool."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from local_coturn import free_port
from local_exporter import coturn_module, exporter_process

from icegather.main_proc.exporter.config import parse_config
from icegather.main_proc.exporter.probe_request import BadProbe, probe_request

EXAMPLES = Path(__file__).parent.parent / "docs" / "prometheus"


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
    assert "SUCCESS: 5 rules found" in checked.stdout
    assert tested.returncode == 0, tested.stdout + tested.stderr


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
    probed = [
        (job["params"]["module"][0] if "params" in job else "default", target)
        for job in scrape["scrape_configs"] if job.get("metrics_path") == "/probe"
        for static in job["static_configs"] for target in static["targets"]
    ]

    assert {name for name, module in config.modules.items() if module.allowed_targets is not None} == {
        "turn_rest", "turn_user", "relay_only"
    }
    assert len(probed) == 4
    for module, target in probed:  # no packet: probe_request only checks
        probe_request(urllib.parse.urlencode({"module": module, "target": target}), None, config, time.time())
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


def query(port: int, expression: str) -> dict[str, float]:
    """instance -> value of each series of an instant query."""
    url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(expression)}"
    with urllib.request.urlopen(url, timeout=10) as answer:
        results = json.load(answer)["data"]["result"]
    return {result["metric"]["instance"]: float(result["value"][1]) for result in results}


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
        prometheus_port = free_port()
        (tmp_path / "prometheus.yml").write_text(json.dumps({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                scrape_job("turn", "turn", [healthy, closed], exporter.port),
                scrape_job("refused", "wrong", [refused], exporter.port),
            ],
        }))
        with open(tmp_path / "prometheus.log", "w", encoding="utf-8") as log:
            prometheus = subprocess.Popen(
                [tool("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                 f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{prometheus_port}"],
                stdout=subprocess.DEVNULL, stderr=log,
            )
        try:
            success = wait_for_series(prometheus_port, "icegather_probe_success", 3)
            relay = query(prometheus_port, "icegather_relay_up")
            codes = query(prometheus_port, "icegather_server_error_code")
            causes = query(prometheus_port, 'icegather_server_failure{cause=~"credentials|tcp port closed"}')
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=30)

    assert success == {healthy: 1, closed: 0, refused: 0}
    assert relay == {healthy: 1}
    assert codes == {healthy: 0, closed: 701, refused: 401}
    assert causes == {closed: 1, refused: 1}


def wait_for_series(port: int, expression: str, count: int, timeout: float = 60) -> dict[str, float]:
    """The query's series once there are ``count`` of them (Prometheus has scraped each target)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = query(port, expression)
        except OSError:  # Prometheus is still starting
            found = {}
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"Prometheus had {found} after {timeout} s")
        time.sleep(0.2)
