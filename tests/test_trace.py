"""The trace: every STUN/TURN transaction of a gathering, with each send and how it ended,
against real servers (``GatherOptions(trace=True)``), and its times on the records' one clock."""

from __future__ import annotations

import dataclasses
import json
import subprocess

import pytest
from commands import ICEGATHER
from gathering_helpers import FAST_SCHEDULE, LOOPBACK, events_of
from local_coturn import free_port

from icegather.main_proc.dom.icegather_events import IceTransactionEvent
from icegather.main_proc.views.report import transaction_record
from icegather.shared.config.gather_options import GatherOptions
from icegather.shared.protocol import ProtocolError, decode_to_main, encode
from icegather.shared.protocol.messages import TransactionTrace
from icegather.shared.structs import TransactionTraceInfo

TRACING = dataclasses.replace(LOOPBACK, trace=True)


def traced(configuration: dict, options: GatherOptions = TRACING) -> list[IceTransactionEvent]:
    return events_of("icetransaction", configuration, options)


def test_a_silent_server_shows_every_send_on_its_schedule_and_the_timeout(silent_udp_server):
    [binding] = traced({"iceServers": [{"urls": silent_udp_server.url()}]})

    assert (binding.method, binding.outcome, binding.cause) == ("Binding", "failed", "no_response")
    assert len(binding.sendsMs) == FAST_SCHEDULE.max_sends == len(silent_udp_server.received)
    gaps = [later - earlier for earlier, later in zip(binding.sendsMs, binding.sendsMs[1:], strict=False)]
    assert all(gap >= FAST_SCHEDULE.initial_rto * 1000 * 0.9 for gap in gaps)  # retransmissions, on schedule
    assert binding.endedMs >= binding.sendsMs[-1] + FAST_SCHEDULE.give_up_after * 1000 * 0.5
    assert binding.rttMs is None and binding.errorCode == 701


def test_a_closed_port_ends_after_one_send_with_the_icmp_cause():
    port = free_port()
    [binding] = traced({"iceServers": [{"urls": f"stun:127.0.0.1:{port}"}]})

    assert (binding.outcome, binding.cause, len(binding.sendsMs)) == ("failed", "port_unreachable", 1)
    assert (binding.serverAddress, binding.serverPort) == ("127.0.0.1", port)


def test_a_turn_allocation_shows_the_challenge_the_allocation_and_the_relay_checks_requests(coturn):
    options = dataclasses.replace(TRACING, relay_check=True, ipv6_relay=True)
    everything = traced({"iceServers": [coturn.ice_server()]}, options)
    events = [e for e in everything if not e.method.startswith("Probe")]
    probes = [e for e in everything if e.method.startswith("Probe")]

    assert [(e.method, e.outcome, e.errorCode) for e in events] == [
        ("Allocate", "error", 401),  # the challenge: REALM and NONCE
        ("Allocate", "answer", None),
        ("CreatePermission", "answer", None),
        ("ChannelBind", "answer", None),
        # Then, on a socket of its own, the ask for an IPv6 relay, which this coturn has not.
        ("Allocate", "error", 401),
        ("Allocate", "error", 440),
    ]
    assert all(e.url == coturn.url() and e.address == "127.0.0.1" and e.rttMs is not None for e in events)
    # One client socket for the whole allocation, another for the IPv6 ask.
    assert len({e.port for e in events[:4]}) == 1 and events[4].port != events[0].port
    starts = [e.sendsMs[0] for e in events]  # one after the other
    assert starts == sorted(starts) and all(e.endedMs >= e.sendsMs[-1] for e in events)
    # The relay check's probes: six each way, each arrived, its RTT the one-way delay.
    assert sorted(e.method for e in probes) == ["ProbeBack"] * 6 + ["ProbeOut"] * 6
    assert {e.outcome for e in probes} == {"answer"} and all(e.rttMs is not None for e in probes)


def test_a_refused_tcp_connection_is_traced_as_a_failed_connect():
    port = free_port()
    [connect] = traced({"iceServers": [{"urls": f"turn:127.0.0.1:{port}?transport=tcp", "username": "u",
                                        "credential": "p"}]})

    assert (connect.method, connect.outcome, connect.cause, connect.errorCode) == (
        "Connect", "failed", "connection_refused", 701
    )
    assert connect.address == "127.0.0.1" and connect.port > 0 and connect.serverPort == port


def test_without_trace_no_transaction_is_reported(coturn):
    assert traced({"iceServers": [coturn.ice_server()]}, LOOPBACK) == []


INFO = TransactionTraceInfo("stun:s.example", "192.0.2.2", 4000, "192.0.2.9", 3478, "Binding", (0.5, 50.5),
                            60.0, "answer", 0, "", 0.3)


def test_a_transaction_round_trips_the_protocol():
    assert list(decode_to_main(encode(TransactionTrace(1, INFO), 0))) == [(0, TransactionTrace(1, INFO))]


@pytest.mark.parametrize(
    "changes",
    [
        {"sends_ms": (50.5, 0.5)},  # out of order
        {"ended_ms": 10.0},  # ended before its last send
        {"outcome": "answer", "error_code": 401},  # an answer has no error code
        {"outcome": "failed", "error_code": 701, "cause": "", "rtt_ms": None},  # a failure says why
        {"outcome": "failed", "error_code": 701, "cause": "no_response"},  # and has no RTT
        {"method": "Send"},
        {"sends_ms": tuple(float(n) for n in range(17)), "ended_ms": 100.0},  # more sends than a schedule has
    ],
)
def test_the_main_process_refuses_a_transaction_that_cannot_have_happened(changes):
    with pytest.raises(ProtocolError):
        list(decode_to_main(encode(TransactionTrace(1, dataclasses.replace(INFO, **changes)), 0)))


def test_a_transactions_times_are_placed_on_the_records_clock_from_when_gathering_started():
    event = IceTransactionEvent("icetransaction", {"url": "stun:s.example", "method": "Binding",
                                                   "sendsMs": (0.5, 50.5), "endedMs": 60.25, "outcome": "answer"})

    record = transaction_record(event, 85.0, 21.7)

    assert (record["sendsMs"], record["endedMs"], record["timeMs"]) == ([22.2, 72.2], 81.95, 85.0)


def test_a_transaction_that_would_end_after_its_report_came_moves_earlier_whole():
    # Gathering's start reached the main process late (at 21.7 ms, under load), and the
    # transaction's report came as soon as it ended: its end maps to 81.95, past its arrival at
    # 78.0. It moves 3.95 ms earlier, its sends with it: the 50 ms between them stay.
    event = IceTransactionEvent("icetransaction", {"url": "stun:s.example", "method": "Binding",
                                                   "sendsMs": (5.0, 55.0), "endedMs": 60.25, "outcome": "answer"})

    record = transaction_record(event, 78.0, 21.7)

    assert (record["sendsMs"], record["endedMs"], record["timeMs"]) == ([22.75, 72.75], 78.0, 78.0)


def test_a_transaction_moves_no_earlier_than_its_gathering_and_never_ends_after_its_report():
    # Sent 0.5 ms into the gathering: it moves 0.5 ms, to the gathering's start, and the rest
    # of the overshoot is cut at the report's arrival.
    event = IceTransactionEvent("icetransaction", {"url": "stun:s.example", "method": "Binding",
                                                   "sendsMs": (0.5, 58.0), "endedMs": 60.25, "outcome": "answer"})

    record = transaction_record(event, 78.0, 21.7)

    assert (record["sendsMs"], record["endedMs"], record["timeMs"]) == ([21.7, 78.0], 78.0, 78.0)


def test_every_time_of_a_traced_run_is_on_one_clock(coturn):
    result = subprocess.run([ICEGATHER, "--json", "--trace", "--server", coturn.url("stun"), "--local-address",
                             "127.0.0.1"], capture_output=True, text=True, timeout=60)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    started = next(r["timeMs"] for r in records if r["type"] == "icegatheringstatechange")
    [binding] = [r for r in records if r["type"] == "icetransaction"]

    # Sent after gathering started, ended before the summary: both on the records' clock.
    assert started <= binding["sendsMs"][0] <= binding["endedMs"] <= records[-1]["timeMs"]
