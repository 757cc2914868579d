"""The relay check: data through each allocation and back, against real coturn instances
configured as each scenario needs, and against scripted relays (``scripted_relays``) for the
relays coturn cannot be made to break: each mechanism one way, reflection, a relayed address
the server points elsewhere. Its sans-IO parts: tests/test_relay_facts.py."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import cast

import pytest
from aioice import stun
from gathering_helpers import LOOPBACK, events_of
from local_coturn import Coturn, local_coturn
from scripted_relays import RelayBehaviour, ScriptedRelay

from icegather.main_proc.commands.cli import run
from icegather.main_proc.dom.icegather_events import IceRelayCheckEvent
from icegather.main_proc.views.report import relay_check_record
from icegather.main_proc.views.text_lines import format_line
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule
from icegather.shared.structs import RelayCheckInfo
from icegather.shared.vocabulary.relay_outcomes import Mechanism
from icegather.transport_proc.relay.check import (
    PROBES_PER_KIND,
    SECOND_ROUND_PROBES,
    RelayChecker,
    plan_peer,
)
from icegather.transport_proc.relay.probes import CheckedAllocation, Probe
from icegather.transport_proc.stun.channels import StreamChannel, UdpChannel, bind_socket, stream_frame_length
from icegather.transport_proc.turn.allocation import Allocated, AllocateSession
from icegather.transport_proc.turn.lifecycle import allocate, release
from icegather.transport_proc.turn.relay_messages import Relayed, channel_data, relayed, send_indication

CHECKING = dataclasses.replace(LOOPBACK, relay_check=True)
PROBES = 2 * PROBES_PER_KIND  # with indications, then with ChannelData
EACH = PROBES_PER_KIND
# A mechanism that carried nothing one way gets a second round of probes, both ways.
RETRIED = PROBES_PER_KIND + SECOND_ROUND_PROBES
PASSWORD = "p"


def relay_checks(configuration: dict, options: GatherOptions = CHECKING) -> list[IceRelayCheckEvent]:
    return events_of("icerelaycheck", configuration, options)


def check_of(turn: Coturn, transport: str | None = None, options: GatherOptions = CHECKING) -> IceRelayCheckEvent:
    [check] = relay_checks({"iceServers": [turn.ice_server("turn", transport)]}, options)
    return check


def scripted_server(relay: ScriptedRelay) -> dict:
    return {"urls": relay.url(), "username": "u", "credential": PASSWORD}


def scripted_check(behaviour: RelayBehaviour) -> tuple[IceRelayCheckEvent, ScriptedRelay]:
    with ScriptedRelay(PASSWORD, behaviour) as relay:
        [check] = relay_checks({"iceServers": [scripted_server(relay)]})
    return check, relay


def mechanisms(check: IceRelayCheckEvent) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(probes, out, back) with Send/Data indications, then with ChannelData."""
    return (
        (check.indicationProbes, check.indicationOutReceived, check.indicationBackReceived),
        (check.channelProbes, check.channelOutReceived, check.channelBackReceived),
    )


def cli_records(servers: list[dict], tmp_path) -> tuple[int, list[dict]]:
    """The command line's NDJSON records for ``servers`` and its exit status."""
    config = tmp_path / "ice.json"
    config.write_text(json.dumps({"iceServers": servers}))
    argv = ["--json", "--rto", "0.05", "--max-sends", "2", "--final-wait", "2", "--local-address", "127.0.0.1",
            "--config", str(config)]
    out, err = io.StringIO(), io.StringIO()
    status = run(argv, out, err)
    assert err.getvalue() == ""
    return status, [json.loads(line) for line in out.getvalue().splitlines()]


# --- against coturn ------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_healthy_relay_carries_every_probe_both_ways_and_gives_its_rtt(coturn, transport):
    check = check_of(coturn, transport)

    assert check.outcome == "works"
    assert check.url == coturn.url("turn", transport)
    assert (check.probes, check.outReceived, check.backReceived) == (PROBES, PROBES, PROBES)
    assert mechanisms(check) == ((EACH, EACH, EACH), (EACH, EACH, EACH))
    assert (check.outSourceAddress, check.outSourcePort) == (check.relayedAddress, check.relayedPort)
    assert check.rttMs is not None and 0 < check.rttMs < 1000
    assert check.errorCode is None and check.failedRequest is None and check.backCause is None
    assert check.strayProbes == 0 and check.errorCause is None and check.notCheckedReason is None


class HeldUpAfterEachRound(RelayChecker):
    """A check whose loop is held up after each round of probes until the round's wait is over,
    with its probes waiting at both sockets: on a loaded machine, the loop reads them late. The
    round goes out at once, leaving the loop no turn to read any before it is held."""

    async def _send_round(self, mechanism: Mechanism, count: int) -> None:
        first = self.log.count("back", sent=True)
        for index in range(first, first + count):
            self._send(Probe("back", mechanism, index))
            self._send(Probe("out", mechanism, index))

    async def _until(self, done: Callable[[], bool], deadline: float) -> None:
        assert self.peer is not None
        loop = asyncio.get_running_loop()
        time.sleep(max(0.0, deadline - loop.time()))
        if not done():
            sockets = [self.peer.sock, cast(UdpChannel, self.channel).sock]
            # Until a probe waits at each socket; a relay that carries nothing one way is for the
            # asserts to name, after a while.
            given_up = time.monotonic() + 5.0
            while len(select.select(sockets, [], [], 0.05)[0]) < len(sockets) and time.monotonic() < given_up:
                pass
            time.sleep(0.1)  # the rest of the round, sent just after its first probes
        await super()._until(done, deadline)


def test_probes_that_arrived_before_a_busy_loop_read_them_count_as_carried(coturn):
    server = (coturn.host, coturn.port)
    schedule = RetransmissionSchedule(initial_rto=0.05)

    async def check() -> RelayCheckInfo:
        channel = UdpChannel.open("127.0.0.1")
        session = AllocateSession(coturn.username, coturn.password)
        try:
            allocated = await allocate(channel, session, server, session.first_request(), schedule)
            assert isinstance(allocated, Allocated)
            relay = allocated.relayed[0]
            checked = CheckedAllocation(channel.local_address, coturn.url("turn"), relay)
            plan = plan_peer(relay[0], "127.0.0.1", None, server[0], ("127.0.0.1",))
            checker = HeldUpAfterEachRound(channel, session, server, checked, plan, schedule)
            try:
                return await checker.run()
            finally:
                checker.close()
        finally:
            await release(channel, session, server)

    info = asyncio.run(check())

    # Read late, each counts; none was lost, so no second round went out either.
    assert (info.probes, info.out_received, info.back_received) == (PROBES, PROBES, PROBES)
    assert (info.indication_probes, info.channel_probes) == (EACH, EACH)


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
    assert check.backCause == "port_unreachable" and check.strayProbes == 0
    assert check.rttMs is None


def test_a_denied_peer_address_is_coturns_403_on_create_permission():
    with local_coturn(extra_args=["--denied-peer-ip=127.0.0.1"]) as turn:
        check = check_of(turn)

    assert check.outcome == "refused"
    assert (check.failedRequest, check.errorCode, check.errorText) == ("CreatePermission", 403, "Forbidden IP")
    assert (check.errorCause, check.notCheckedReason) == ("server_error", None)
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
    dual_stack = dataclasses.replace(CHECKING, local_addresses=("127.0.0.1", "::1"), ipv6_relay=True)
    with local_coturn(relay_ips=("127.0.0.1", "::1")) as turn:
        checks = relay_checks({"iceServers": [turn.ice_server()]}, dual_stack)

    assert sorted((check.relayedAddress, check.outcome) for check in checks) == [
        ("127.0.0.1", "works"),
        ("::1", "works"),
    ]


def test_without_a_local_address_of_the_relays_family_the_relay_is_not_checked():
    with local_coturn(relay_ips=("::1",)) as turn:
        check = check_of(turn)  # gathering from 127.0.0.1 only

    assert (check.outcome, check.probes, check.notCheckedReason) == ("not_checked", 0, "no_local_address")
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


# --- each mechanism, each way: scripted relays -----------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "outcome", "carried"),
    [
        # node-turn's bug: browsers switch to ChannelData after ChannelBind, and lose the call.
        (RelayBehaviour(channel_data_out=False), "channel_out_dropped", ((EACH, EACH, EACH), (RETRIED, 0, RETRIED))),
        (RelayBehaviour(channel_back=False), "channel_back_dropped", ((EACH, EACH, EACH), (RETRIED, RETRIED, 0))),
        (RelayBehaviour(indications_out=False), "indication_out_dropped", ((RETRIED, 0, RETRIED), (EACH, EACH, EACH))),
        (RelayBehaviour(data_indications_back=False), "indication_back_dropped",
         ((RETRIED, RETRIED, 0), (EACH, EACH, EACH))),
    ],
)
def test_a_mechanism_that_carries_nothing_one_way_is_named_though_the_other_carries_data(behaviour, outcome, carried):
    check, _ = scripted_check(behaviour)

    assert check.outcome == outcome
    assert mechanisms(check) == carried
    assert check.rttMs is not None and check.failedRequest is None and check.strayProbes == 0


def test_a_channel_bind_answer_without_integrity_is_its_own_outcome_beside_the_data_that_went_through():
    check, relay = scripted_check(RelayBehaviour(sign_channel_bind=False))

    assert check.outcome == "channel_bind_failed"
    assert (check.failedRequest, check.errorCode, check.errorCause) == ("ChannelBind", 701, "answer_unverified")
    # The server answered, so it may have bound the channel: ChannelData was probed too.
    assert mechanisms(check) == ((EACH, EACH, EACH), (EACH, EACH, EACH))
    assert relay.seen["ChannelData"] == EACH
    line = format_line(relay_check_record(check, 1.0))
    assert "NOT CHECKED" not in line and "CHANNELBIND FAILED" in line and "6/6 out, 6/6 back" in line


def test_a_relay_that_reflects_everything_to_its_sender_reads_reflected_and_the_transport_lives():
    # gather() raises TransportError if the main process had to kill the transport.
    check, _ = scripted_check(RelayBehaviour(reflect=True))

    assert check.outcome == "reflected"
    assert (check.outReceived, check.backReceived, check.rttMs) == (0, 0, None)
    # Every probe, each way, turned up at the end that sent it: none counts as received; each
    # mechanism carried none, so each had its second round.
    assert (check.probes, check.strayProbes) == (2 * RETRIED, 4 * RETRIED)


# The relay causes a scripted relay produces (tests/test_diagnosis.py has the others' scenarios).
SCRIPTED_RELAY_CAUSES: dict[str, RelayBehaviour] = {
    "relay reflects data": RelayBehaviour(reflect=True),
    "send indications dropped": RelayBehaviour(indications_out=False),
    "data indications missing": RelayBehaviour(data_indications_back=False),
    "channel data dropped": RelayBehaviour(channel_data_out=False),
    "channel carries nothing back": RelayBehaviour(channel_back=False),
    "channel bind unusable": RelayBehaviour(sign_channel_bind=False),
}


@pytest.mark.parametrize("cause", list(SCRIPTED_RELAY_CAUSES))
def test_each_scripted_relays_cause_fails_the_command_with_a_finding_for_any_server(cause, tmp_path):
    with ScriptedRelay(PASSWORD, SCRIPTED_RELAY_CAUSES[cause]) as relay:
        status, records = cli_records([scripted_server(relay)], tmp_path)

    summary = records[-1]
    [finding] = summary["diagnosis"]["findings"]
    assert (summary["failure"], summary["diagnosis"]["verdict"], finding["cause"]) == (None, "relay broken", cause)
    assert "coturn" not in finding["finding"] + finding["nextCheck"]  # it is not coturn
    assert status == 1


# --- where the peer socket may send -----------------------------------------------------------


def test_no_probe_goes_to_a_relayed_address_outside_the_servers_scope():
    # A server on 127.0.0.1 pointing at TEST-NET-3: nothing may go there, and nothing does.
    check, relay = scripted_check(RelayBehaviour(advertised=("203.0.113.9", 40000)))

    assert (check.outcome, check.notCheckedReason) == ("not_checked", "relayed_out_of_scope")
    assert check.relayedAddress == "203.0.113.9"
    assert "203.0.113.9 is public" in check.errorText
    assert check.probes == 0  # the peer socket's probes: it sent none
    assert [relay.seen[kind] for kind in ("CreatePermission", "ChannelBind", "Send", "ChannelData")] == [0, 0, 0, 0]


def test_a_relayed_address_in_the_servers_own_scope_is_checked():
    check, relay = scripted_check(RelayBehaviour(relay_host="127.0.0.2"))

    assert (check.outcome, check.relayedAddress) == ("works", "127.0.0.2")
    assert relay.seen["peer data"] == PROBES


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
    # Named, not shown: the STUN messages carry random transaction ids, and each pytest-xdist
    # worker must collect the same tests.
    ids=["empty", "short-channel-data", "reserved-channel", "binding-response", "data-without-peer"],
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
