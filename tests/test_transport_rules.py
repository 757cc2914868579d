"""The transport's pure rules: schedule, candidates, addresses, texts, and response parsing."""

from __future__ import annotations

import asyncio
import gc
import io
import time

import pytest
from aioice import stun
from fresh_interpreter import printed_by
from gathering_helpers import FAST_SCHEDULE, gather
from stun_servers import ScriptedStunServer, mapped_to, never_answer, with_alternate_server

from icegather.main_proc.commands.cli import run
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule
from icegather.shared.net.candidate import CandidateFields, format_candidate, parse_candidate
from icegather.shared.net.endpoints import Address
from icegather.transport_proc.addresses import choose_local_addresses, pair_addresses, rfc8421_order
from icegather.transport_proc.gathering import candidates
from icegather.transport_proc.stun import failures
from icegather.transport_proc.stun.channels import UdpChannel
from icegather.transport_proc.stun.parser import parse_stun
from icegather.transport_proc.stun.resolver import is_localhost, resolve, special_use_answer
from icegather.transport_proc.stun.transaction import transact


def test_default_schedule_gives_up_on_a_silent_server_within_ten_seconds():
    schedule = RetransmissionSchedule()
    assert schedule.waits == (0.5, 1.0, 2.0, 4.0, 2.0)
    assert schedule.give_up_after == 9.5


def test_rfc_8489_defaults_give_the_39_5_seconds_chromium_waits():
    assert RetransmissionSchedule(initial_rto=0.5, max_sends=7, final_wait=16).give_up_after == 39.5


def test_priority_follows_rfc_8445_and_orders_host_over_srflx_over_relay():
    assert candidates.priority("host", 65535) == (126 << 24) + (65535 << 8) + 255
    host = candidates.priority("host", candidates.local_preference(0))
    srflx = candidates.priority("srflx", candidates.local_preference(0))
    relay_udp = candidates.priority("relay", candidates.local_preference(0, "udp"))
    relay_tls = candidates.priority("relay", candidates.local_preference(0, "tls"))
    assert host > srflx > relay_udp > relay_tls


def test_foundation_is_shared_exactly_by_same_type_base_server_and_protocol():
    same = candidates.foundation("srflx", "192.0.2.2", "203.0.113.1", "udp")
    assert same == candidates.foundation("srflx", "192.0.2.2", "203.0.113.1", "udp")
    assert same != candidates.foundation("srflx", "192.0.2.2", "203.0.113.2", "udp")
    assert same != candidates.foundation("relay", "192.0.2.2", "203.0.113.1", "udp")


def test_candidate_lines_round_trip_through_the_shared_grammar():
    info = candidates.relay_candidate(("203.0.113.9", 61000), ("198.51.100.7", 50000), "192.0.2.2",
                                      "203.0.113.1", 0, "turn:t.example", "tcp")
    fields = parse_candidate(info.candidate)
    assert (fields.type, fields.address, fields.port) == ("relay", "203.0.113.9", 61000)
    assert (fields.related_address, fields.related_port) == ("198.51.100.7", 50000)
    assert format_candidate(fields) == info.candidate
    assert format_candidate(CandidateFields("1", 1, "udp", 1, "::1", 9, "host")) == "candidate:1 1 udp 1 ::1 9 typ host"


@pytest.mark.parametrize(
    "line",
    ["", "candidate:", "candidate:1 1 udp 1 1.2.3.4 9 host", "candidate:1 1 sctp 1 1.2.3.4 9 typ host",
     "candidate:1 1 udp 0 1.2.3.4 9 typ host", "candidate:1 1 udp 1 not-an-ip 9 typ host",
     "candidate:1 1 udp 1 1.2.3.4 70000 typ host", "candidate:1 1 udp 1 1.2.3.4 9 typ magic",
     "candidate:1 1 udp 1 1.2.3.4 9 typ srflx raddr 1.2.3.4", "candidate:!! 1 udp 1 1.2.3.4 9 typ host"],
)
def test_malformed_candidate_lines_are_refused(line):
    with pytest.raises(ValueError):
        parse_candidate(line)


def test_local_addresses_skip_link_local_and_fall_back_to_loopback_only_when_alone():
    assert choose_local_addresses(["127.0.0.1", "192.0.2.2", "fe80::1", "fd00::2", "192.0.2.2"]) == (
        "192.0.2.2", "fd00::2",
    )
    assert choose_local_addresses(["127.0.0.1", "::1", "fe80::1"]) == ("127.0.0.1", "::1")


def test_each_local_address_tries_the_first_server_address_of_its_family():
    assert pair_addresses(("192.0.2.2", "fd00::2", "192.0.2.3"), ("2001:db8::1", "203.0.113.1", "203.0.113.2")) == (
        ("192.0.2.2", "203.0.113.1"), ("fd00::2", "2001:db8::1"), ("192.0.2.3", "203.0.113.1"),
    )
    assert pair_addresses(("192.0.2.2",), ("2001:db8::1",)) == ()


def test_names_under_invalid_fail_without_a_lookup_and_others_are_looked_up():
    assert "RFC 6761" in special_use_answer("stun1.invalid")
    assert special_use_answer("INVALID.") is not None
    assert special_use_answer("stun.example.org") is None
    assert special_use_answer("invalid.example.org") is None


def test_localhost_names_are_the_loopback_addresses_without_a_lookup():
    for name in ("localhost", "LocalHost.", "turn.localhost"):
        assert asyncio.run(resolve(name, 3478, 1.0)) == ("127.0.0.1", "::1")
    assert not is_localhost("localhost.example.org")


def test_reason_phrases_lose_control_characters_and_are_capped_at_127_characters():
    assert failures.sanitize_reason("Unauthorized\r\n\x1b[31mevil") == "Unauthorized [31mevil"
    assert len(failures.sanitize_reason("x" * 1000)) == 127
    # A phrase with nothing to drop keeps every character, its runs of spaces made one.
    assert failures.sanitize_reason(" Coturn-4.6.1  'Gorst' ünïcode ") == "Coturn-4.6.1 'Gorst' ünïcode"
    assert failures.sanitize_reason("zero\u200bwidth\u00a0space") == "zero width space"  # Cf, and Zs
    assert failures.server_error(401, "\n\t").text == "Unauthorized (the server sent no reason phrase)"
    assert failures.server_error(999, "Unauthorized").code == 701


def test_701_texts_name_the_cause_and_the_server():
    assert failures.no_response(("192.0.2.1", 3478), 5, 9.5, "udp").text == (
        "no response from 192.0.2.1:3478 after 5 attempts in 9.5 s"
    )
    assert failures.connection_refused(("192.0.2.1", 3478)).text == "connection refused by 192.0.2.1:3478 (TCP)"
    assert failures.connection_lost(("192.0.2.1", 1), ConnectionResetError()).text == "connection reset by 192.0.2.1:1"


def test_the_response_parser_keeps_an_error_whose_reason_phrase_is_not_utf8():
    response = stun.Message(stun.Method.ALLOCATE, stun.Class.ERROR)
    response.attributes["ERROR-CODE"] = (401, "Unauth?rized")
    data = bytearray(bytes(response))
    # Found by the whole phrase: a lone "?" could be a byte of the random transaction ID.
    data[data.index(b"Unauth?rized") + len("Unauth")] = 0xFF  # now invalid UTF-8
    message = parse_stun(bytes(data))
    assert message.attributes["ERROR-CODE"] == (401, "Unauth\ufffdrized")


def test_the_response_parser_reads_alternate_server_and_refuses_broken_framing():
    response = stun.Message(stun.Method.ALLOCATE, stun.Class.ERROR)
    response.attributes["ERROR-CODE"] = (300, "Try Alternate")
    data = with_alternate_server(bytes(response), ("192.0.2.20", 3479))
    assert parse_stun(data).attributes["ALTERNATE-SERVER"] == ("192.0.2.20", 3479)
    with pytest.raises(ValueError):
        parse_stun(data[:-2])  # length no longer matches
    with pytest.raises(ValueError):
        parse_stun(b"\x80" + data[1:])  # not STUN (ChannelData / RTP-like first bits)


def test_local_addresses_are_preferred_ipv6_first_then_alternating_families_as_rfc_8421_says():
    order = rfc8421_order(["192.0.2.2", "192.0.2.3", "fd00::2", "fd00::3", "192.0.2.4"])
    assert order == ("fd00::2", "192.0.2.2", "fd00::3", "192.0.2.3", "192.0.2.4")


def test_an_ipv6_host_candidate_outranks_an_ipv4_one(tmp_path):
    recording = gather({"iceServers": []}, GatherOptions(FAST_SCHEDULE, ("127.0.0.1", "::1")))
    priorities = {candidate.address: candidate.priority for candidate in recording.of_type("host")}
    assert priorities["::1"] > priorities["127.0.0.1"]


def test_retransmissions_keep_to_the_schedule_when_the_event_loop_was_late_once():
    # Sends are due at 0, 0.2 and 0.6 s. The loop is blocked for 0.5 s after the first send,
    # so the second goes out late (~0.5 s); the third must still go at 0.6 s, not 0.4 s after
    # the late one (0.9 s).
    schedule = RetransmissionSchedule(initial_rto=0.2, max_sends=3, final_wait=1)

    async def run(server_address) -> None:
        channel = UdpChannel.open("127.0.0.1")
        asyncio.get_running_loop().call_later(0.01, time.sleep, 0.5)
        request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        try:
            with pytest.raises(failures.AttemptFailed):
                await transact(channel, request, server_address, schedule)
        finally:
            channel.close()

    with ScriptedStunServer(never_answer) as silent:
        asyncio.run(run(("127.0.0.1", silent.port)))
        sent = [received.at for received in silent.received]
    assert len(sent) == 3
    assert sent[1] - sent[0] >= 0.5  # the blocked loop did delay the second send
    assert sent[2] - sent[0] < 0.75  # the third kept its time on the schedule (0.6 s)


def test_an_answer_read_in_the_turn_its_retransmission_falls_due_stops_the_retransmission():
    # The loop is blocked from 0.01 s to 1.01 s: the answer, sent at 0.05 s, waits in the socket
    # meanwhile, and the second send falls due (at 0.2 s). The next turn of the loop reads the
    # answer first and then runs the due timer, before the transaction's coroutine wakes up to
    # cancel it: that timer must not send again.
    schedule = RetransmissionSchedule(initial_rto=0.2, max_sends=3, final_wait=1)
    answer = mapped_to(("192.0.2.9", 4000))

    def late_answer(request: stun.Message, source: Address) -> bytes:
        time.sleep(0.05)
        return answer(request, source)

    async def run(server_address) -> tuple[bytes, ...]:
        channel = UdpChannel.open("127.0.0.1")
        asyncio.get_running_loop().call_later(0.01, time.sleep, 1.0)
        try:
            requests = []
            # The second request, once answered, says the server has read all that came before;
            # its schedule never resends, however long the answer takes.
            for each_schedule in (schedule, RetransmissionSchedule(initial_rto=5.0, max_sends=1, final_wait=1)):
                request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
                await transact(channel, request, server_address, each_schedule)
                requests.append(request.transaction_id)
            return tuple(requests)
        finally:
            channel.close()

    with ScriptedStunServer(late_answer) as server:
        sent = asyncio.run(run(("127.0.0.1", server.port)))
        received = tuple(got.request.transaction_id for got in server.received)
    assert received == sent  # each once: the first was not sent again


def test_an_answered_transaction_leaves_no_reference_cycle_for_the_collector():
    # The transport runs its cyclic collector seldom (transport_proc.__main__); a request that
    # made cyclic garbage would make every gathering pay for collections.
    async def run(server_address, count: int) -> None:
        channel = UdpChannel.open("127.0.0.1")
        try:
            for _ in range(count):
                # A first wait long enough that a loaded machine never retransmits: each
                # request is then answered exactly once.
                await transact(channel, stun.Message(stun.Method.BINDING, stun.Class.REQUEST), server_address,
                               RetransmissionSchedule(initial_rto=5.0, max_sends=1, final_wait=1))
        finally:
            channel.close()

    def garbage_after(count: int) -> int:
        gc.collect()
        gc.disable()
        try:
            asyncio.run(run(("127.0.0.1", server.port), count))
        finally:
            gc.enable()
        return gc.collect()

    with ScriptedStunServer(mapped_to(("192.0.2.9", 4000))) as server:
        few, many = garbage_after(10), garbage_after(210)
    assert len(server.received) == 220
    assert many - few < 20  # the event loop's own, whatever the count; not a few per request


def test_the_transports_collector_runs_again_once_start_up_is_over_and_skips_what_start_up_made():
    # main() stops the collector while the transport starts; a collector left off would let
    # a long-running service keep every cycle its gatherings drop.
    probe = (
        "import gc\n"
        "gc.disable()\n"
        "from icegather.transport_proc.__main__ import GC_MIDDLE_THRESHOLD, GC_THRESHOLD, tune_garbage_collector\n"
        "tune_garbage_collector()\n"
        "print(gc.isenabled(), gc.get_threshold()[:2] == (GC_THRESHOLD, GC_MIDDLE_THRESHOLD),"
        " gc.get_freeze_count() > 10_000)"
    )
    assert printed_by(probe).split() == ["True", "True", "True"]


def test_explain_refuses_digits_that_are_not_ascii_with_a_clear_error():
    out, err = io.StringIO(), io.StringIO()
    assert run(["explain", "²"], out, err) == 2
    assert err.getvalue().startswith("icegather: '²' is neither a STUN/TURN error code icegather knows")
