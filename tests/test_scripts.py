"""The developer scripts keep working: each runs once, in its quick mode."""

from __future__ import annotations

import bench_cli
import bench_exporter
import bench_first_error
import bench_ipc
import bench_many_servers
import bench_relay_check
import bench_scale
import bench_timeline
import bench_vs_aioice
import bench_watch_html
import bench_watch_soak
import fuzz_protocol
import pytest

pytestmark = pytest.mark.slow


def test_the_protocol_fuzzer_finds_no_unhandled_exception_in_a_quick_run():
    outcomes, bugs = fuzz_protocol.fuzz(400, derandomize=True)
    again, _ = fuzz_protocol.fuzz(400, derandomize=True)

    assert bugs == []
    assert outcomes == again  # the same cases every run: what this test sees cannot vary
    assert outcomes["cases"] == 400
    # The inputs reach both ends: refused by the decoder, and through it to the events.
    assert outcomes["rejected by the decoder"] > 0
    assert outcomes["delivered: event"] > 0


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (bench_ipc, ["raw pyzmq+msgpack", "raw, queue drained", "icegather", "of the faster raw rate"]),
        (bench_first_error, ["TURN/UDP 401: icegather", "TURN/TCP 401: icegather", "cold start", "heaviest imports"]),
        (bench_scale, ["STUN + TURN N=    50", "STUN only   N=    50"]),
        (bench_many_servers, ["1 dead URL", "10 URLs, 5 dead", "ratio"]),
        (bench_cli, ["python -c pass", "bad input", "one STUN server"]),
        (bench_exporter, ["160 probes of a TURN URL", "not successful: 0", "exporter RSS", "transport RSS"]),
        (bench_vs_aioice, ["STUN + TURN N=    20: aioice", "(0 incomplete)", "STUN only   N=    20"]),
        (bench_watch_soak, ["200 rounds of --watch 0", "200 healthy", "after 50 rounds and at the end"]),
        (bench_watch_html, ["150 rounds of --watch 0", "STUN       : without", "STUN + TURN: without", "ratio x",
                            "the last page shows rounds 51 to 150"]),
        (bench_timeline, ["50 URLs", "timeline page", "same size, no chart", "ratio"]),
        (bench_relay_check, ["TURN/UDP: without the check", "TURN/TCP: without the check", "relay works in 3 of 3"]),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_each_benchmark_runs_in_quick_mode_and_reports_its_figures(script, expected, capsys):
    assert script.main(["--quick"]) == 0
    printed = capsys.readouterr().out
    for text in expected:
        assert text in printed
    for line in printed.splitlines():
        if " N=" in line:  # the scale runs: no event may be lost
            assert ", lost 0," in line
