"""The quality stream's sans-IO parts: its packets, what counts as received, reordered and
duplicated, RFC 3550 jitter, round-trip percentiles by nearest rank, the series, the mechanism
a stream uses after a relay check, and a report that always passes its schema. Each number is
worked out by hand in the comments. The stream against real servers: tests/test_quality_stream.py."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icegather.shared import protocol
from icegather.shared.structs import RelayCheckInfo, RelayQualityInfo
from icegather.transport_proc.relay.quality_stats import (
    HEADER_BYTES,
    QualityLog,
    StreamPath,
    nearest_rank,
    series_interval_ms,
    stream_mechanism,
)
from icegather.transport_proc.relay.validation import validated_quality

PATH = StreamPath(("192.0.2.2", 40000), "turn:t.example", 0, ("203.0.113.5", 50000), "channel", "udp")
T0 = 100.0


def hand_worked_stream() -> QualityLog:
    """5 packets at 10 a second from T0. Out transits (ms) in arrival order: 0 -> 10, 1 -> 15,
    3 -> 12, 2 -> 20 (after 3: reordered), 3 again (a copy); 4 never arrives. Each is echoed on
    arrival; back transits: 0 -> 10, 1 -> 20, 2 -> 10; the echo of 3 is lost."""
    log = QualityLog(rate=10, seconds=0.5, started=T0)
    for seq in range(log.packets):
        log.send("out", seq, log.due(seq))
    for seq, transit in ((0, 0.010), (1, 0.015), (3, 0.012), (2, 0.020)):
        arrived = log.due(seq) + transit
        assert log.at_far(log.payload("out", seq), arrived) == seq
        log.send("back", seq, arrived)
    assert log.at_far(log.payload("out", 3), T0 + 0.33) is None  # the copy is not echoed
    for seq, transit in ((0, 0.010), (1, 0.020), (2, 0.010)):
        assert log.at_near(log.payload("back", seq), log.back.sent[seq] + transit) == seq
    return log


def test_counts_reordering_and_copies_are_of_distinct_packets_each_way():
    info = hand_worked_stream().info(PATH)

    assert (info.packets_out, info.packets_out_received, info.packets_back, info.packets_back_received) == (5, 4, 4, 3)
    assert (info.reordered, info.duplicated) == (1, 1)


def test_jitter_is_rfc_3550s_running_estimate_of_transit_differences_in_arrival_order():
    info = hand_worked_stream().info(PATH)

    # Out: |D| = 5, 3, 8 ms. J = 5/16 = 0.3125; + (3 - 0.3125)/16 = 0.48047; + (8 - 0.48047)/16 = 0.95044.
    assert info.jitter_out_ms == pytest.approx(0.950, abs=0.001)
    # Back: |D| = 10, 10 ms. J = 10/16 = 0.625; + (10 - 0.625)/16 = 1.21094.
    assert info.jitter_back_ms == pytest.approx(1.211, abs=0.001)


def test_round_trip_percentiles_are_nearest_rank_of_the_packets_that_came_back():
    info = hand_worked_stream().info(PATH)

    # Out send to echo arrival: 0 -> 10 + 10 = 20, 1 -> 15 + 20 = 35, 2 -> 20 + 10 = 30 ms. Sorted 20, 30,
    # 35: p50 is rank ceil(0.5 * 3) = 2, p95 and p99 rank 3.
    assert (info.rtt_min_ms, info.rtt_p50_ms, info.rtt_p95_ms, info.rtt_p99_ms) == pytest.approx((20, 30, 35, 35))


def test_the_series_has_an_interval_per_100_ms_with_what_was_sent_lost_and_its_median_rtt():
    info = hand_worked_stream().info(PATH)

    assert info.series_interval_ms == 100.0
    assert info.series_sent == (1, 1, 1, 1, 1)
    assert info.series_lost == (0, 0, 0, 1, 1)  # 3's echo was lost, 4 never arrived
    assert info.series_rtt_ms == pytest.approx((20, 35, 30, 0, 0))


def test_the_median_rtt_of_an_interval_is_of_its_own_packets():
    log = QualityLog(rate=40, seconds=0.1, started=T0)  # 4 packets, one interval
    for seq, trip in zip(range(4), (0.010, 0.030, 0.020, 0.050), strict=True):
        log.send("out", seq, log.due(seq))
        log.at_far(log.payload("out", seq), log.due(seq))
        log.send("back", seq, log.due(seq))
        log.at_near(log.payload("back", seq), log.due(seq) + trip)
    info = log.info(PATH)

    assert (info.series_sent, info.series_lost) == ((4,), (0,))
    assert info.series_rtt_ms == pytest.approx((25.0,))  # the median of 10, 20, 30, 50
    assert (info.rtt_p50_ms, info.rtt_p95_ms) == pytest.approx((20.0, 50.0))  # ranks 2 and 4 of 4


def test_nearest_rank_is_always_a_measured_value():
    hundred = [float(n) for n in range(1, 101)]

    assert (nearest_rank(hundred, 50), nearest_rank(hundred, 95), nearest_rank(hundred, 99)) == (50, 95, 99)
    assert nearest_rank([7.0], 99) == nearest_rank([7.0], 50) == 7.0
    assert nearest_rank([1.0, 2.0], 50) == 1.0  # rank ceil(0.5 * 2) = 1


def test_series_intervals_are_100_ms_up_to_a_minute_then_a_600th_of_the_stream():
    assert series_interval_ms(0.5) == series_interval_ms(60) == 100.0
    assert series_interval_ms(120) == 200.0
    assert series_interval_ms(600) == 1000.0

    log = QualityLog(rate=1, seconds=120, started=T0)  # a packet a second, intervals of 200 ms
    for seq in range(log.packets):
        log.send("out", seq, log.due(seq))
    info = log.info(PATH)

    assert len(info.series_sent) == 600 and sum(info.series_sent) == 120
    assert info.series_sent[0] == info.series_sent[5] == 1 and info.series_sent[1] == 0
    assert info.series_lost == info.series_sent  # nothing came back


def test_the_schedule_is_the_rate_times_the_seconds_at_ideal_times_and_packets_are_160_bytes():
    log = QualityLog(rate=50, seconds=2.0, started=T0)

    assert log.packets == 100
    assert log.due(50) == T0 + 1.0 and log.due(99) == pytest.approx(T0 + 1.98)
    payload = log.send("out", 0, T0)
    assert len(payload) == 160 and HEADER_BYTES < 160
    assert QualityLog(rate=1, seconds=0.1).packets == 1


def test_only_this_streams_packets_count_and_each_only_in_its_direction():
    log = QualityLog(rate=10, seconds=1.0, started=T0)
    payload = log.send("out", 0, T0)
    other = QualityLog(rate=10, seconds=1.0, started=T0)
    twin = QualityLog(rate=10, seconds=1.0, started=T0, token=log.token)

    assert log.at_far(other.send("out", 0, T0), T0) is None  # another stream's token
    assert log.at_far(twin.send("out", 5, T0), T0) is None  # never sent by this stream
    assert log.at_near(payload, T0) is None  # an out packet back at the client: not an echo
    assert log.at_far(payload[:HEADER_BYTES - 1], T0) is None
    assert log.at_far(payload, T0 + 0.01) == 0


def test_no_jitter_below_two_arrivals_and_no_round_trip_when_nothing_came_back():
    log = QualityLog(rate=10, seconds=0.2, started=T0)
    for seq in range(2):
        log.send("out", seq, log.due(seq))
    log.at_far(log.payload("out", 0), T0 + 0.01)
    info = log.info(PATH)

    assert (info.jitter_out_ms, info.jitter_back_ms) == (None, None)
    assert (info.rtt_min_ms, info.rtt_p50_ms, info.rtt_p95_ms, info.rtt_p99_ms) == (None,) * 4
    assert info.series_lost == (1, 1)


def test_a_constant_delay_has_no_jitter():
    log = QualityLog(rate=10, seconds=0.5, started=T0)
    for seq in range(5):
        log.send("out", seq, log.due(seq))
        log.at_far(log.payload("out", seq), log.due(seq) + 0.040)

    assert log.info(PATH).jitter_out_ms == 0.0


# --- after which check, with which mechanism -----------------------------------------------

CHECK = RelayCheckInfo(
    address="192.0.2.2", port=40000, url="turn:t.example", relayed_address="203.0.113.5", relayed_port=50000,
    probes=6, out_received=6, back_received=6, indication_probes=3, indication_out_received=3,
    indication_back_received=3, channel_probes=3, channel_out_received=3, channel_back_received=3, stray_probes=0,
    out_source_address="203.0.113.5", out_source_port=50000, rtt_ms=1.0, back_cause="", failed_request="",
    error_code=0, error_cause="", error_text="", not_checked_reason="",
)


def with_mechanisms(indication: tuple[int, int], channel: tuple[int, int]) -> RelayCheckInfo:
    (io, ib), (co, cb) = indication, channel
    return dataclasses.replace(
        CHECK, out_received=io + co, back_received=ib + cb, indication_out_received=io,
        indication_back_received=ib, channel_out_received=co, channel_back_received=cb,
    )


@pytest.mark.parametrize(
    ("check", "mechanism"),
    [
        (CHECK, "channel"),
        (with_mechanisms((1, 2), (1, 1)), "channel"),  # some probes each way: the relay works, with loss
        (with_mechanisms((3, 3), (0, 3)), "indication"),  # node-turn drops the client's ChannelData
        (with_mechanisms((3, 3), (3, 0)), "indication"),
        (with_mechanisms((0, 3), (3, 3)), "channel"),
        (with_mechanisms((0, 3), (3, 0)), None),  # each mechanism dead one way: no call gets through
        (with_mechanisms((3, 0), (3, 0)), None),  # out only
        (dataclasses.replace(CHECK, out_source_address="10.0.0.5"), None),  # wrong source
        (dataclasses.replace(CHECK, failed_request="ChannelBind", error_code=701, error_cause="no_response",
                             error_text="none"), None),
    ],
)
def test_a_stream_runs_only_where_a_mechanism_carried_data_both_ways_channel_data_first(check, mechanism):
    assert stream_mechanism(check) == mechanism


# --- the report ---------------------------------------------------------------------------


def passes_schema(info: RelayQualityInfo) -> bool:
    """Whether the transport may send ``info`` and the main process reads it back unchanged."""
    [(_, message)] = protocol.decode_to_main(protocol.encode(protocol.RelayQuality(1, info), 0))
    return message == protocol.RelayQuality(1, info)


@given(
    rate=st.integers(1, 50),
    seconds=st.floats(0.05, 3.0),
    arrivals=st.lists(st.tuples(st.integers(0, 200), st.floats(0, 0.5), st.booleans(), st.floats(0, 0.5))),
)
def test_a_report_passes_its_schema_whatever_arrives_in_whatever_order(rate, seconds, arrivals):
    log = QualityLog(rate=rate, seconds=seconds, started=T0)
    for seq in range(log.packets):
        log.send("out", seq, log.due(seq))
    for number, out_delay, echoed_back, back_delay in arrivals:
        seq = number % log.packets
        if log.at_far(log.payload("out", seq), T0 + seq / rate + out_delay) is not None:
            log.send("back", seq, T0 + seq / rate + out_delay)
        if echoed_back and seq in log.back.sent:
            log.at_near(log.payload("back", seq), log.back.sent[seq] + back_delay)
    info = log.info(PATH, "connection_reset", "the server reset the connection")

    assert validated_quality(info) == info and passes_schema(info)


def test_relay_to_relay_names_the_far_allocation():
    path = dataclasses.replace(PATH, far_url="turn:u.example", far_server_index=1, far_relayed=("198.51.100.9", 6))
    info = QualityLog(rate=10, seconds=0.1, started=T0).info(path, "server_error", "403 Forbidden")

    assert (info.far_url, info.far_server_index, info.far_relayed_address, info.far_relayed_port) == (
        "turn:u.example", 1, "198.51.100.9", 6,
    )
    assert passes_schema(info)


def test_a_report_that_would_break_its_schema_is_replaced_by_an_internal_error_that_does_not():
    broken = dataclasses.replace(hand_worked_stream().info(PATH), packets_back_received=7)

    replaced = validated_quality(broken)

    assert (replaced.cause, replaced.packets_out, replaced.url) == ("internal_error", 0, PATH.url)
    assert passes_schema(replaced)
