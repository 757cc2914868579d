"""A relay's call-like stream on the main process's side: what the transport's facts become (the
``icerelayquality`` event and record, the thresholds they cross), the diagnosis of a degraded
relay and its verdict, the text lines, the command line's options, and ``icegather report``
re-reading the records. End to end, through a real coturn and the real transport, once the
transport runs streams."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess

import pytest
from commands import ICEGATHER

from icegather.main_proc.commands.cli import run
from icegather.main_proc.diagnosis.exit_status import EXIT_FINDINGS, exit_status
from icegather.main_proc.diagnosis.servers.outcomes import ServerOutcome
from icegather.main_proc.diagnosis.verdicts import diagnose
from icegather.main_proc.dom.icegather_events import IceRelayQualityEvent
from icegather.main_proc.dom.peerconnection import PeerConnectionObserver, RTCPeerConnection, relay_quality_event_init
from icegather.main_proc.views.progress import waiting_words
from icegather.main_proc.views.report import RECORD_FIELDS, relay_quality_record
from icegather.main_proc.views.text_lines import format_line, relay_result
from icegather.shared.structs import RelayQualityInfo
from icegather.shared.vocabulary.quality_thresholds import QUALITY_THRESHOLDS, crossed

FAST = ["--rto", "0.05", "--max-sends", "3", "--final-wait", "2", "--local-address", "127.0.0.1"]

CLEAN = RelayQualityInfo(
    address="127.0.0.1", port=40000, url="turn:127.0.0.1:3478", relayed_address="127.0.0.1", relayed_port=50000,
    far_url="", far_server_index=0, far_relayed_address="", far_relayed_port=0, mechanism="channel",
    transport="udp", seconds=1.0, rate=50, payload_bytes=160, packets_out=50, packets_out_received=50,
    packets_back=50, packets_back_received=50, reordered=0, duplicated=0, jitter_out_ms=0.2, jitter_back_ms=0.3,
    rtt_min_ms=0.4, rtt_p50_ms=0.5, rtt_p95_ms=0.9, rtt_p99_ms=1.2, series_interval_ms=100.0,
    series_sent=(5,) * 10, series_lost=(0,) * 10, series_rtt_ms=(0.5,) * 10, cause="", error_text="",
)


def record_of(info: RelayQualityInfo) -> dict:
    event = IceRelayQualityEvent("icerelayquality", relay_quality_event_init(info))
    return json.loads(json.dumps(relay_quality_record(event, 12.0)))


def turn_outcome(*qualities: dict, transport: str = "udp") -> ServerOutcome:
    check = {"outcome": "works", "relayedAddress": "127.0.0.1", "relayedPort": 50000}
    return ServerOutcome("turn:127.0.0.1:3478", "turn", transport, "127.0.0.1", True, 1.0, ("relay",), None, None,
                         None, relay_checks=(check,), checks_relay=True, relay_qualities=qualities,
                         checks_quality=True, software="Coturn-4.6.1 'Gorst'")


def test_a_clean_stream_is_a_record_of_its_schema_with_no_loss_and_nothing_degraded():
    record = record_of(CLEAN)

    assert tuple(record) == RECORD_FIELDS["icerelayquality"]
    assert (record["lossOut"], record["lossBack"], record["degraded"], record["cause"]) == (0.0, 0.0, [], None)
    assert record["addedDelayMs"] == pytest.approx(0.5)
    assert (record["farUrl"], record["farServerIndex"], record["farRelayedAddress"], record["farRelayedPort"]) == (
        None, None, None, None)
    assert record["series"] == {"intervalMs": 100.0, "sent": [5] * 10, "lost": [0] * 10, "rttMs": [0.5] * 10}


def test_loss_is_the_fraction_that_did_not_arrive_each_way_and_none_when_nothing_went_that_way():
    lossy = record_of(dataclasses.replace(CLEAN, packets_out_received=47, packets_back=47, packets_back_received=46))
    silent = record_of(dataclasses.replace(CLEAN, packets_out_received=0, packets_back=0, packets_back_received=0,
                                           jitter_out_ms=None, jitter_back_ms=None, rtt_min_ms=None,
                                           rtt_p50_ms=None, rtt_p95_ms=None, rtt_p99_ms=None,
                                           series_lost=(5,) * 10, series_rtt_ms=(0.0,) * 10))

    assert (lossy["lossOut"], lossy["lossBack"]) == (0.06, round(1 / 47, 4))
    assert lossy["degraded"] == ["loss"]
    assert (silent["lossOut"], silent["lossBack"], silent["addedDelayMs"]) == (1.0, None, None)
    assert silent["series"]["rttMs"] == [None] * 10  # nothing of an interval came back: no round trip


@pytest.mark.parametrize(
    ("change", "degraded"),
    [
        ({"packets_out_received": 990}, []),  # 1 %: at the limit is not above it
        ({"packets_out_received": 989}, ["loss"]),
        ({"jitter_back_ms": 30.0}, []),
        ({"jitter_back_ms": 30.1}, ["jitter"]),
        ({"rtt_p95_ms": 300.1}, ["delay"]),
        ({"packets_back_received": 40, "jitter_out_ms": 45.0, "rtt_p95_ms": 400.0}, ["loss", "jitter", "delay"]),
    ],
)
def test_the_thresholds_crossed_are_the_tables_in_its_order(change, degraded):
    info = dataclasses.replace(CLEAN, **{"packets_out": 1000, "packets_out_received": 1000, **change})

    assert record_of(info)["degraded"] == degraded


def test_the_threshold_table_holds_voice_practice_with_its_sources():
    table = {t.name: (t.keys, t.limit) for t in QUALITY_THRESHOLDS}

    assert table == {"loss": (("lossOut", "lossBack"), 0.01), "jitter": (("jitterOutMs", "jitterBackMs"), 30.0),
                     "delay": (("rttP95Ms",), 300.0)}
    assert "G.114" in QUALITY_THRESHOLDS[2].source and "G.107" in QUALITY_THRESHOLDS[0].source
    assert crossed({"lossOut": 0.011, "lossBack": None, "jitterOutMs": None, "jitterBackMs": None,
                    "rttP95Ms": None}) == ("loss",)


def test_a_lossy_relay_is_a_finding_of_its_own_the_verdict_relay_degraded_and_a_failed_check():
    lossy = record_of(dataclasses.replace(CLEAN, packets_out_received=45))

    diagnosis = diagnose([turn_outcome(lossy)], finished=True)

    [finding] = diagnosis.findings
    assert (diagnosis.verdict, finding.cause) == ("relay degraded", "relay loses packets")
    assert "loss 10.0% out / 0.0% back" in finding.finding and "127.0.0.1:50000" in finding.finding
    assert "coturn max-bps" in finding.next_check  # in the words of the product it names
    assert exit_status(True, len(diagnosis.findings), None) == EXIT_FINDINGS


def test_over_tcp_a_degraded_relay_speaks_of_the_delay_it_added():
    slow = record_of(dataclasses.replace(CLEAN, transport="tcp", rtt_min_ms=20.0, rtt_p50_ms=40.0, rtt_p95_ms=380.0,
                                         jitter_back_ms=35.0))

    [finding] = diagnose([turn_outcome(slow, transport="tcp")], finished=True).findings

    assert finding.cause == "relay added delay"
    assert "over TCP" in finding.finding and "added 360 ms" in finding.finding


def test_a_stream_that_stopped_is_a_finding_with_its_cause():
    stopped = record_of(dataclasses.replace(CLEAN, cause="connection_reset", error_text="the connection was reset"))

    [finding] = diagnose([turn_outcome(stopped)], finished=True).findings

    assert finding.cause == "relay stream stopped" and "connection reset" in finding.finding


def test_a_clean_stream_leaves_the_verdict_healthy():
    diagnosis = diagnose([turn_outcome(record_of(CLEAN))], finished=True)

    assert (diagnosis.verdict, diagnosis.findings) == ("healthy", ())


def test_relay_to_relay_whose_far_allocation_failed_is_not_measured_and_no_finding_of_the_near_relay():
    unset = record_of(dataclasses.replace(
        CLEAN, far_url="turn:127.0.0.1:3479", far_server_index=1, packets_out=0, packets_out_received=0,
        packets_back=0, packets_back_received=0, jitter_out_ms=None, jitter_back_ms=None, rtt_min_ms=None,
        rtt_p50_ms=None, rtt_p95_ms=None, rtt_p99_ms=None, series_sent=(), series_lost=(), series_rtt_ms=(),
        cause="signed_request_refused", error_text="the far allocation failed: 401 Unauthorized",
    ))

    diagnosis = diagnose([turn_outcome(unset)], finished=True)

    assert (diagnosis.verdict, diagnosis.findings) == ("healthy", ())
    assert ("quality through 127.0.0.1:50000, relay to relay with turn:127.0.0.1:3479, whose far allocation failed: "
            "not measured (signed_request_refused)") in format_line(unset)


def test_relay_to_relay_names_both_relays_in_the_line_and_the_finding():
    pair = record_of(dataclasses.replace(CLEAN, far_url="turn:127.0.0.1:3479", far_server_index=1,
                                         far_relayed_address="127.0.0.1", far_relayed_port=50002,
                                         jitter_out_ms=31.0))

    line = format_line(pair)
    [finding] = diagnose([turn_outcome(pair)], finished=True).findings

    both = "127.0.0.1:50000 and on to the relay 127.0.0.1:50002 of turn:127.0.0.1:3479"
    assert f"quality through {both} over udp: loss 0.0% out / 0.0% back, jitter 31.0 ms, RTT p50 0.5 ms p95 0.9 ms" \
           f"; DEGRADED: jitter  turn:127.0.0.1:3478  (local 127.0.0.1:40000)" in line
    assert both in finding.finding and finding.cause == "relay jitter"


def test_a_relay_check_that_worked_with_probes_lost_says_how_many():
    relay = {"outcome": "works", "relayedAddress": "127.0.0.1", "relayedPort": 50000, "failedRequest": None,
             "probes": 6, "outReceived": 5, "backReceived": 6, "indicationProbes": 3, "indicationOutReceived": 2,
             "indicationBackReceived": 3, "channelProbes": 3, "channelOutReceived": 3, "channelBackReceived": 3,
             "strayProbes": 0, "rttMs": 0.3, "errorText": None}

    assert relay_result(relay).startswith("works, 1 of 6 probes lost out (127.0.0.1:50000: ")


def test_the_observer_fires_icerelayquality_while_gathering_only():
    pc = RTCPeerConnection({"iceServers": []})
    seen: list[IceRelayQualityEvent] = []
    pc.onicerelayquality = seen.append
    observer = PeerConnectionObserver(pc)

    assert observer.on_relay_quality(CLEAN) is False  # not gathering: out of turn
    assert observer.on_gathering_state("gathering")
    assert observer.on_relay_quality(CLEAN) is True
    [event] = seen
    assert (event.lossOut, event.packetsOut, event.degraded, event.farUrl) == (0.0, 50, (), None)


def cli(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    return run(list(argv), io.StringIO(), err), err.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--quality", "601"], "icegather: --quality must be between 0 and 600 seconds\n"),
        (["--quality", "nan"], "icegather: --quality must be between 0 and 600 seconds\n"),
        (["--quality", "5", "--quality-rate", "1001"],
         "icegather: --quality-rate must be between 1 and 1000 packets a second\n"),
        (["--relay-to-relay"], "icegather: --quality-rate and --relay-to-relay go with --quality SECONDS\n"),
        (["--quality", "600", "--quality-rate", "51"],
         "icegather: --quality SECONDS x --quality-rate must be at most 30,000 packets a stream\n"),
        (["--quality", "5", "--no-relay-check"],
         "icegather: --quality runs after the relay check: leave out --no-relay-check\n"),
    ],
)
def test_bad_quality_options_get_one_clear_line_and_status_2(argv, message):
    assert cli("--server", "stun:127.0.0.1:9", *argv) == (2, message)


def test_icegather_report_rereads_quality_and_nat_test_records(tmp_path):
    nat_test = {"type": "icenattest", "url": "stun:127.0.0.1:3478", "serverIndex": 0, "address": "127.0.0.1",
                "port": 40000, "test": "filtering_change_port", "serverAddress": "127.0.0.1", "serverPort": 3478,
                "answered": False, "sourceAddress": None, "sourcePort": None, "mappedAddress": None,
                "mappedPort": None, "timeMs": 3.0}
    saved = tmp_path / "run.ndjson"
    saved.write_text("".join(json.dumps(r) + "\n" for r in (record_of(CLEAN), nat_test)))
    page = tmp_path / "run.html"

    status, err = cli("report", str(saved), "--html", str(page))

    assert (status, err) == (0, "") and page.exists()


def icegather(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ICEGATHER, *argv], capture_output=True, text=True, timeout=120)


def test_a_stream_through_a_real_coturn_gives_a_clean_record_and_a_quality_line(coturn):
    result = icegather("--json", "--server", coturn.url(), "-u", coturn.username, "--credential", coturn.password,
                       "--quality", "0.5", "--quality-rate", "40", *FAST)
    records = [json.loads(line) for line in result.stdout.splitlines()]

    [quality] = [r for r in records if r["type"] == "icerelayquality"]
    assert tuple(quality) == RECORD_FIELDS["icerelayquality"]
    assert quality["packetsOut"] == quality["packetsOutReceived"] > 0 and quality["rate"] == 40
    assert (quality["lossOut"], quality["lossBack"], quality["degraded"]) == (0.0, 0.0, [])
    [row] = records[-1]["servers"]
    assert row["relays"][0]["quality"]["lossOut"] == 0.0
    assert result.returncode == 0, result.stderr


def test_a_relay_whose_stream_has_not_reported_is_awaited_and_the_progress_line_says_so():
    streaming = turn_outcome()

    assert not streaming.settled and turn_outcome(record_of(CLEAN)).settled
    assert waiting_words([streaming]) == "waiting for 1 of 1 server URLs: turn:127.0.0.1:3478 (quality stream running)"
