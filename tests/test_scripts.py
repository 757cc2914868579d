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
import fuzz_confined_transport
import fuzz_protocol
import pytest

pytestmark = pytest.mark.slow


def test_the_protocol_fuzzer_finds_no_crash_in_a_quick_run_and_reaches_every_level(capsys):
    result = fuzz_protocol.fuzz(fuzz_protocol.QUICK_EXAMPLES, derandomize=True)
    assert fuzz_protocol.main(["--quick"]) == 0
    printed = capsys.readouterr().out.splitlines()

    assert result.crashes == {}
    # The same cases every run (what this test sees cannot vary), and the figures printed.
    cases = fuzz_protocol.QUICK_EXAMPLES + len(fuzz_protocol.seed_cases())
    assert printed[0].startswith(f"fuzz_protocol: {cases} cases in ")
    assert printed[1:] == fuzz_protocol.report(result, 0.0)[1:]
    assert "  crashes: 0" in printed
    outcomes = result.outcomes
    # Both ways, inputs reach both ends: refused, and through the decoder (to the events).
    for direction in (fuzz_protocol.TO_THE_MAIN_PROCESS, fuzz_protocol.TO_THE_TRANSPORT):
        assert outcomes[f"accepted {direction}"] > 0
        assert outcomes[f"refused {direction}"] > 0
    assert outcomes["delivered with an event"] > 0
    assert outcomes["frames whose messages before the bad one came out"] > 0
    # Refused at every level: a message's field, a report's info, the options and their
    # schedule, the configuration.
    refused = result.fields_refused
    levels = {field.split(".")[0] for field in refused}
    for table in fuzz_protocol.TABLES.values():
        assert levels & {message.__name__ for message in table.values()}
    assert {"GatherOptions", "RetransmissionSchedule"} <= levels
    assert any(level.endswith("Info") for level in levels)
    assert {"Gather.configuration", "Audit.configuration"} & refused


def test_a_confined_transport_lives_through_the_fuzzers_cases_and_still_serves(capsys):
    outcome, log = fuzz_confined_transport.fuzz(fuzz_confined_transport.QUICK_EXAMPLES, derandomize=True)

    assert outcome.death is None
    assert "Traceback" not in log
    sent = sum(n for what, n in outcome.counts.items() if what.startswith("sent: "))
    # The cases reached its decoder: nearly all are refused there, one by one.
    assert log.count("rejected a message") >= sent * 0.9
    assert outcome.counts["then a client's gathering: complete, errors [701]"] == 1


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (bench_ipc, ["raw pyzmq+msgpack", "raw, queue drained", "icegather", "of the faster raw rate"]),
        (bench_first_error, ["TURN/UDP 401: icegather", "TURN/TCP 401: icegather", "cold start", "heaviest imports"]),
        (bench_scale, ["STUN + TURN N=    50", "STUN only   N=    50"]),
        (bench_many_servers, ["1 dead URL", "10 URLs, 5 dead", "ratio"]),
        (bench_cli, ["python -c pass", "bad input", "one STUN server", "--no-sandbox", "the sandbox costs x"]),
        (bench_exporter, ["160 probes of a TURN URL", "not successful: 0", "exporter RSS", "transport RSS"]),
        (bench_vs_aioice, ["defaults  STUN + TURN N=    20: aioice", "(0 incomplete)", "defaults  STUN only   N=    20",
                           "IPv4 only STUN + TURN N=    20", "IPv4 only STUN only   N=    20"]),
        (bench_watch_soak, ["200 rounds of --watch 0", "200 healthy", "after 50 rounds and at the end"]),
        (bench_watch_html, [f"{bench_watch_html.ROUNDS_DRAWN + 20} rounds of --watch 0", "STUN       : without",
                            "STUN + TURN: without", "ratio x",
                            f"the last page shows rounds 21 to {bench_watch_html.ROUNDS_DRAWN + 20}"]),
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
