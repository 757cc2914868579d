"""``icegather exporter``: a probe's time, probes waiting for a slot, and its transport process:
started before the first probe, replaced at once when it dies."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from exporter_helpers import exporter
from local_exporter import ExporterProcess, Response, coturn_module, exporter_process, wait_for
from process_stats import transport_processes_of
from stun_servers import ScriptedStunServer, never_answer

from icegather.main_proc.exporter.probe_time import GIVE_UP_SHARE, fitted_schedule, probe_time
from icegather.shared.config.gather_options import RetransmissionSchedule

__all__ = ["exporter"]  # the module's exporter, for the tests here
# Probes against budgets and deadlines in real time: measured alone.
pytestmark = pytest.mark.timing

# --- time, concurrency, a dying transport ----------------------------------------------------------


def test_a_silent_server_is_named_silent_under_prometheus_default_scrape_timeout(exporter, silent_udp_server):
    # The default schedule gives up after 9.5 s, the time a probe has under the default 10 s;
    # fitted to the probe, it gives up in time to name the server. (How long such a probe takes:
    # scripts/bench_exporter.py.)
    response = exporter.probe(silent_udp_server.url(), "standard", **{"X-Prometheus-Scrape-Timeout-Seconds": "10"})

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
        slow = pool.submit(exporter.probe, silent_udp_server.url(), "patient")
        wait_for(lambda: exporter.metrics().value("icegather_exporter_probes_running") >= 1)
        quick = exporter.probe(coturn.url("turn"), "turn")
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
        running = pool.submit(exporter.probe, target, first)
        wait_for(lambda: exporter.metrics().value("icegather_exporter_probes_running") == 1)
        waiting = pool.submit(exporter.probe, target, second)
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
        running = pool.submit(exporter.probe, silent.url(), "slow")
        wait_for(lambda: len(silent.received) > 0)  # the transport is at work on the probe
        [transport] = transport_processes_of(exporter.process.pid)
        os.kill(transport, signal.SIGKILL)
        killed = running.result()
        after = exporter.probe(f"stun:127.0.0.1:{coturn.port}", "slow")
        starts = exporter.metrics().value("icegather_exporter_transport_starts_total")

    assert killed.value("icegather_probe_success") == 0
    assert killed.value("icegather_probe_info", verdict="transport failed") == 1
    assert after.value("icegather_server_up") == 1
    assert starts == 2


def test_the_first_probe_of_a_fresh_exporter_finds_its_transport_started_and_fits_a_tight_scrape_timeout(
    tmp_path, coturn
):
    loopback = {"local_addresses": ["127.0.0.1"]}
    config = {"modules": {"turn": coturn_module(coturn, tmp_path / "credential", **loopback)}}
    (tmp_path / "icegather.yml").write_text(json.dumps(config))
    with exporter_process(tmp_path / "icegather.yml", tmp_path / "exporter.log") as exporter:  # waits for /-/ready
        before = exporter.metrics()
        transports = transport_processes_of(exporter.process.pid)
        # A 1 s scrape timeout leaves the probe 0.5 s: less than some transport starts take.
        first = exporter.probe(coturn.url("turn"), "turn", **{"X-Prometheus-Scrape-Timeout-Seconds": "1"})
        after = exporter.metrics()

    assert before.value("icegather_exporter_transport_starts_total") == 1 and len(transports) == 1
    assert first.value("icegather_probe_success") == 1
    assert first.value("icegather_relay_up", family="IPv4") == 1
    assert after.value("icegather_exporter_transport_starts_total") == 1  # the probe used the one started


def test_a_transport_that_dies_between_probes_is_replaced_before_any_probe_asks(tmp_path):
    with exporter_process(None, tmp_path / "exporter.log") as exporter:
        [first] = transport_processes_of(exporter.process.pid)
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: exporter.metrics().value("icegather_exporter_transport_starts_total") == 2)
        exporter.wait_ready()
        transports = transport_processes_of(exporter.process.pid)
        metrics = exporter.metrics()

    assert len(transports) == 1 and transports != [first]
    assert metrics.value("icegather_exporter_probes_total", module="default", result="success") is None
    assert metrics.value("icegather_exporter_probes_total", module="default", result="failure") is None
    assert f"the transport process (pid {first}) killed by SIGKILL" in exporter.log.read_text()
