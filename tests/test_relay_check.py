"""The relay check: data through each allocation and back, against real coturn instances
configured as each scenario needs, and its sans-IO parts on their own."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import struct

import pytest
from aioice import stun
from gathering_helpers import LOOPBACK, events_of
from local_coturn import Coturn, local_coturn

from icegather.main_proc.dom.icegather_events import IceRelayCheckEvent
from icegather.shared.relay_outcomes import RELAY_OUTCOMES, relay_outcome
from icegather.shared.structs import GatherOptions, RelayCheckInfo
from icegather.transport_proc.relay.check import PROBES_PER_KIND, PeerPlan, plan_peer
from icegather.transport_proc.relay.probes import CheckedAllocation, ProbeLog
from icegather.transport_proc.stun.channels import StreamChannel, bind_socket, stream_frame_length
from icegather.transport_proc.turn.relay_messages import Relayed, channel_data, relayed, send_indication

CHECKING = dataclasses.replace(LOOPBACK, relay_check=True)
PROBES = 2 * PROBES_PER_KIND  # with indications, then with ChannelData


def relay_checks(configuration: dict, options: GatherOptions = CHECKING) -> list[IceRelayCheckEvent]:
    return events_of("icerelaycheck", configuration, options)


def check_of(turn: Coturn, transport: str | None = None, options: GatherOptions = CHECKING) -> IceRelayCheckEvent:
    [check] = relay_checks({"iceServers": [turn.ice_server("turn", transport)]}, options)
    return check


# --- against coturn ------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_healthy_relay_carries_every_probe_both_ways_and_gives_its_rtt(coturn, transport):
    check = check_of(coturn, transport)

    assert check.outcome == "works"
    assert check.url == coturn.url("turn", transport)
    assert (check.probes, check.outReceived, check.backReceived) == (PROBES, PROBES, PROBES)
    assert (check.outSourceAddress, check.outSourcePort) == (check.relayedAddress, check.relayedPort)
    assert check.rttMs is not None and 0 < check.rttMs < 1000
    assert check.errorCode is None and check.failedRequest is None and check.backCause is None


def test_a_relay_reached_over_tls_is_checked_through_the_tls_connection(tls_coturn):
    options = dataclasses.replace(CHECKING, verify_tls=False)  # the test's own certificate authority
    [check] = relay_checks({"iceServers": [tls_coturn.ice_server("turns")]}, options)

    assert (check.outcome, check.outReceived, check.backReceived) == ("works", PROBES, PROBES)


def test_the_check_is_off_unless_asked_for_as_browsers_do_not_make_one(coturn):
    assert relay_checks({"iceServers": [coturn.ice_server()]}, LOOPBACK) == []


def test_a_wrong_external_ip_shows_as_data_from_another_address_and_nothing_back():
    with local_coturn(extra_args=["--external-ip=127.0.0.77/127.0.0.1"]) as turn:
        check = check_of(turn)

    assert check.outcome == "wrong_source"
    assert check.relayedAddress == "127.0.0.77"
    # The relay really sends from 127.0.0.1, and nothing listens on the address it advertises.
    assert (check.outSourceAddress, check.outSourcePort) == ("127.0.0.1", check.relayedPort)
    assert (check.outReceived, check.backReceived) == (PROBES, 0)
    assert check.backCause == "port_unreachable"
    assert check.rttMs is None


def test_a_denied_peer_address_is_coturns_403_on_create_permission():
    with local_coturn(extra_args=["--denied-peer-ip=127.0.0.1"]) as turn:
        check = check_of(turn)

    assert check.outcome == "refused"
    assert (check.failedRequest, check.errorCode, check.errorText) == ("CreatePermission", 403, "Forbidden IP")
    assert check.probes == 0


def test_coturn_by_default_refuses_loopback_peers_as_coturn_4_6_does():
    with local_coturn(loopback_peers=False) as turn:
        check = check_of(turn)

    assert (check.outcome, check.failedRequest, check.errorCode) == ("refused", "CreatePermission", 403)


def test_an_ipv6_relay_is_checked_with_a_peer_socket_on_ipv6():
    dual_stack = dataclasses.replace(CHECKING, local_addresses=("127.0.0.1", "::1"))
    with local_coturn(relay_ips=("::1",)) as turn:  # reached over IPv4, relaying over IPv6 only
        check = check_of(turn, options=dual_stack)

    assert (check.relayedAddress, check.outSourceAddress) == ("::1", "::1")
    assert (check.outcome, check.outReceived, check.backReceived) == ("works", PROBES, PROBES)


def test_each_relay_of_a_dual_allocation_is_checked():
    dual_stack = dataclasses.replace(CHECKING, local_addresses=("127.0.0.1", "::1"))
    with local_coturn(relay_ips=("127.0.0.1", "::1")) as turn:
        checks = relay_checks({"iceServers": [turn.ice_server()]}, dual_stack)

    assert sorted((check.relayedAddress, check.outcome) for check in checks) == [
        ("127.0.0.1", "works"),
        ("::1", "works"),
    ]


def test_without_a_local_address_of_the_relays_family_the_relay_is_not_checked():
    with local_coturn(relay_ips=("::1",)) as turn:
        check = check_of(turn)  # gathering from 127.0.0.1 only

    assert (check.outcome, check.probes) == ("not_checked", 0)
    assert check.errorText == "no local IPv6 address for a peer socket"


def test_each_allocation_of_a_gathering_is_checked_on_its_own(coturn):
    configuration = {"iceServers": [coturn.ice_server("turn"), coturn.ice_server("turn", "tcp")]}
    checks = relay_checks(configuration)

    assert sorted(check.url for check in checks) == sorted([coturn.url("turn"), coturn.url("turn", "tcp")])
    assert {check.outcome for check in checks} == {"works"}
    assert len({check.relayedPort for check in checks}) == 2


def test_a_tcp_connection_to_a_server_sends_small_messages_at_once(coturn):
    async def connect() -> int:
        sock = bind_socket("127.0.0.1", socket.SOCK_STREAM)
        channel = await StreamChannel.connect(sock, ("127.0.0.1", coturn.port), 5.0)
        try:
            return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            channel.close()

    # Without TCP_NODELAY a ChannelBind after relayed data waited 40 ms for a delayed ACK.
    assert asyncio.run(connect()) != 0


# --- the peer socket and where the relay sees it ---------------------------------------------


def test_the_peer_is_the_clients_own_address_when_the_server_sees_it_unchanged():
    assert plan_peer("203.0.113.5", "192.0.2.2", "192.0.2.2", "203.0.113.1", ("192.0.2.2",)) == PeerPlan(
        "192.0.2.2", "192.0.2.2"
    )


def test_behind_a_nat_the_peer_is_seen_at_the_mapped_address():
    plan = plan_peer("203.0.113.5", "10.0.0.2", "198.51.100.7", "203.0.113.1", ("10.0.0.2",))
    assert plan == PeerPlan("10.0.0.2", "198.51.100.7") and plan.behind_nat


def test_no_nat_stands_between_this_machine_and_a_server_on_it():
    # coturn's external-ip rewrites the mapped address too when the client shares the relay's IP.
    assert not plan_peer("127.0.0.77", "127.0.0.1", "127.0.0.77", "127.0.0.1", ("127.0.0.1",)).behind_nat
    assert not plan_peer("192.0.2.9", "192.0.2.2", "198.51.100.7", "192.0.2.2", ("192.0.2.2",)).behind_nat


def test_a_relay_of_the_other_family_gets_a_peer_of_its_family_loopback_for_loopback():
    local = ("192.0.2.2", "2001:db8::2", "::1")
    assert plan_peer("::1", "127.0.0.1", "127.0.0.1", "127.0.0.1", local) == PeerPlan("::1", "::1")
    assert plan_peer("2001:db8::9", "192.0.2.2", "192.0.2.2", "192.0.2.9", local) == PeerPlan(
        "2001:db8::2", "2001:db8::2"
    )
    assert plan_peer("2001:db8::9", "192.0.2.2", None, "192.0.2.9", ("192.0.2.2",)) is None


# --- probes -------------------------------------------------------------------------------


def test_only_this_checks_own_probes_count_once_each():
    log, other = ProbeLog(), ProbeLog()
    sent = log.send("out", 0, at=1.0)
    other.send("out", 0, at=1.0)

    assert log.receive(other.payload("out", 0), at=1.1) is None  # another check's token
    assert log.receive(log.payload("out", 1), at=1.1) is None  # never sent
    assert log.receive(sent + b"x", at=1.1) is None
    assert log.receive(sent, at=1.2, source=("127.0.0.1", 5000)) is not None
    assert log.receive(sent, at=1.3, source=("127.0.0.9", 5000)) is None  # a duplicate
    assert (log.count("out"), log.out_source) == (1, ("127.0.0.1", 5000))


def test_the_relay_rtt_is_the_sum_of_the_median_one_way_delays():
    log = ProbeLog()
    for index, (out, back) in enumerate([(0.010, 0.020), (0.030, 0.040), (0.500, 0.060)]):
        log.receive(log.send("out", index, at=10.0), at=10.0 + out, source=("127.0.0.1", 1))
        log.receive(log.send("back", index, at=20.0), at=20.0 + back)

    assert log.rtt_ms() == pytest.approx(30.0 + 40.0)


def test_no_rtt_without_both_directions():
    log = ProbeLog()
    log.receive(log.send("out", 0, at=1.0), at=1.1, source=("127.0.0.1", 1))
    log.send("back", 0, at=1.0)
    assert log.rtt_ms() is None


# --- outcomes -----------------------------------------------------------------------------

RELAYED = ("203.0.113.5", 50000)


def facts(**changes: object) -> RelayCheckInfo:
    log = ProbeLog()
    info = CheckedAllocation(("192.0.2.2", 40000), "turn:t.example", RELAYED).info(log)
    return dataclasses.replace(info, **{"probes": 6, **changes})


@pytest.mark.parametrize(
    ("changes", "outcome"),
    [
        (
            {"out_received": 6, "back_received": 6, "out_source_address": RELAYED[0], "out_source_port": RELAYED[1]},
            "works",
        ),
        (
            {"out_received": 6, "back_received": 6, "out_source_address": "10.0.0.5", "out_source_port": RELAYED[1]},
            "wrong_source",
        ),
        ({"out_received": 2, "out_source_address": RELAYED[0], "out_source_port": RELAYED[1]}, "out_only"),
        ({"back_received": 1}, "back_only"),
        ({}, "no_data"),
        ({"failed_request": "ChannelBind", "error_code": 403, "error_text": "Forbidden"}, "refused"),
        ({"failed_request": "CreatePermission", "error_code": 701, "error_text": "no response"}, "request_failed"),
        ({"probes": 0, "error_text": "no peer socket"}, "not_checked"),
    ],
)
def test_each_outcome_follows_from_the_facts(changes, outcome):
    assert relay_outcome(facts(**changes)) == outcome


def test_the_outcome_table_covers_every_outcome_once():
    assert len(set(RELAY_OUTCOMES)) == len(RELAY_OUTCOMES) == 8


# --- the messages that carry data ---------------------------------------------------------


def test_a_send_indication_carries_the_peer_and_the_data():
    message = stun.parse_message(send_indication(("198.51.100.7", 4000), b"probe"))
    assert (message.message_method, message.message_class) == (stun.Method.SEND, stun.Class.INDICATION)
    assert message.attributes["XOR-PEER-ADDRESS"] == ("198.51.100.7", 4000)
    assert message.attributes["DATA"] == b"probe"


def test_channel_data_is_padded_over_streams_only():
    assert channel_data(0x4000, b"abcde", padded=False) == b"\x40\x00\x00\x05abcde"
    assert channel_data(0x4000, b"abcde", padded=True) == b"\x40\x00\x00\x05abcde\x00\x00\x00"
    assert relayed(channel_data(0x4001, b"abcde", padded=True)) == Relayed(b"abcde", channel=0x4001)


def test_a_data_indication_gives_its_peer_and_data():
    indication = stun.Message(stun.Method.DATA, stun.Class.INDICATION)
    indication.attributes.update({"XOR-PEER-ADDRESS": ("198.51.100.7", 4000), "DATA": b"probe"})
    assert relayed(bytes(indication)) == Relayed(b"probe", peer=("198.51.100.7", 4000))


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"\x40\x00\x00\x09short",  # ChannelData shorter than its length
        b"\x50\x00\x00\x01x",  # a reserved channel number
        bytes(stun.Message(stun.Method.BINDING, stun.Class.RESPONSE)),
        bytes(stun.Message(stun.Method.DATA, stun.Class.INDICATION)),  # no peer, no data
    ],
)
def test_anything_else_is_not_relayed_data(message):
    assert relayed(message) is None


def test_a_stream_frames_channel_data_only_while_a_channel_may_come():
    frame = channel_data(0x4000, b"abcde", padded=True)
    stun_message = bytes(stun.Message(stun.Method.ALLOCATE, stun.Class.RESPONSE))
    http = b"HTTP/1.1 400 Bad Request\r\n"

    assert stream_frame_length(frame, channel_data=True) == len(frame) == 12
    assert stream_frame_length(stun_message, channel_data=True) == len(stun_message)
    assert stream_frame_length(http, channel_data=False) is None
    assert stream_frame_length(struct.pack("!HH", 0x8000, 0), channel_data=True) is None
