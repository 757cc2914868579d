"""Why a URL failed, as the transport sees it happen: ICMP errors read from the kernel's
``sock_extended_err``, sends the kernel refuses, and a bug contained to the URL it hit."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct

from gathering_helpers import FAST_SCHEDULE, gather
from local_coturn import free_port
from stun_servers import ScriptedStunServer, mapped_to, try_alternate

from icegather.shared import protocol
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule
from icegather.shared.config.ice_config import parse_configuration
from icegather.shared.structs import CandidateInfo, IceCandidateErrorInfo
from icegather.transport_proc.gathering import candidates
from icegather.transport_proc.gathering.orchestration import Gathering
from icegather.transport_proc.stun import icmp


def extended_error(origin: int, icmp_type: int, code: int, offender: str = "192.0.2.1", info: int = 0) -> bytes:
    """A ``sock_extended_err`` as Linux writes it, with its offender's ``sockaddr_in``."""
    header = icmp.EXTENDED_ERROR.pack(111, origin, icmp_type, code, 0, info, 0)
    sockaddr = struct.pack("=H", socket.AF_INET) + b"\x00\x00" + socket.inet_aton(offender) + b"\x00" * 8
    return header + sockaddr


def failure_for(data: bytes, level: int = socket.IPPROTO_IP, kind: int = icmp.IP_RECVERR):
    error = icmp.parse_extended_error(level, kind, data)
    assert error is not None
    return icmp.failure(error, ("203.0.113.9", 3478))


def test_each_kind_of_icmp_error_gets_its_own_cause_and_names_the_router_that_sent_it():
    cases = {
        (3, 3): ("port_unreachable", "port unreachable: ICMP says nothing listens on UDP 203.0.113.9:3478"),
        (3, 1): ("host_unreachable", "host unreachable: ICMP from 192.0.2.1 says 203.0.113.9 cannot be reached"),
        (3, 0): ("network_unreachable",
                 "network unreachable: ICMP from 192.0.2.1 says there is no route to 203.0.113.9"),
        (3, 13): ("prohibited", "administratively prohibited: ICMP from 192.0.2.1 says a firewall rejects UDP to "
                                "203.0.113.9:3478"),
        (11, 0): ("icmp_other", "ICMP error (type 11 code 0) for UDP to 203.0.113.9:3478 from 192.0.2.1"),
    }
    for (icmp_type, code), (cause, text) in cases.items():
        failure = failure_for(extended_error(icmp.ORIGIN_ICMP, icmp_type, code))
        assert (failure.code, failure.cause, failure.text) == (701, cause, text)


def test_packet_too_big_says_the_path_mtu():
    failure = failure_for(extended_error(icmp.ORIGIN_ICMP, 3, 4, info=1280))
    assert failure.cause == "fragmentation_needed"
    assert failure.text.endswith("the path to 203.0.113.9:3478 takes at most 1280 bytes")


def test_icmpv6_types_map_to_the_same_causes():
    for (icmp_type, code), cause in {(1, 4): "port_unreachable", (1, 3): "host_unreachable", (1, 1): "prohibited",
                                     (2, 0): "fragmentation_needed", (3, 0): "icmp_other"}.items():
        data = extended_error(icmp.ORIGIN_ICMP6, icmp_type, code)
        assert failure_for(data, socket.IPPROTO_IPV6, icmp.IPV6_RECVERR).cause == cause


def test_a_local_error_is_a_refused_send_and_other_control_messages_are_not_errors():
    assert failure_for(extended_error(icmp.ORIGIN_LOCAL, 0, 0)).cause == "send_failed"
    assert icmp.parse_extended_error(socket.SOL_SOCKET, 29, b"\x00" * 16) is None  # a timestamp, say
    assert icmp.parse_extended_error(socket.IPPROTO_IP, icmp.IP_RECVERR, b"\x00" * 4) is None  # truncated


def test_a_server_queued_behind_an_icmp_error_still_gets_its_only_request(closed_udp_port):
    # On one host socket: the request to the closed port brings back ICMP, which Linux reports
    # on the *next* send, to the healthy server, and drops that datagram. With one send
    # allowed, the healthy server answers only if icegather sends it again.
    with ScriptedStunServer(mapped_to(("203.0.113.7", 40000))) as healthy:
        one_send = GatherOptions(RetransmissionSchedule(0.2, max_sends=1, final_wait=2), ("127.0.0.1",))
        recording = gather(
            {"iceServers": [{"urls": f"stun:127.0.0.1:{closed_udp_port}"}, {"urls": healthy.url()}]}, one_send
        )

    [error] = recording.errors
    assert (error.url, error.errorCause) == (f"stun:127.0.0.1:{closed_udp_port}", "port_unreachable")
    [srflx] = recording.of_type("srflx")
    assert srflx.url == healthy.url()
    assert len(healthy.received) == 1


class Recording:
    """What a gathering sends, by kind."""

    def __init__(self) -> None:
        self.errors: list[IceCandidateErrorInfo] = []
        self.candidates: list[CandidateInfo] = []
        self.states: list[str] = []

    def send(self, message: protocol.Message) -> None:
        if isinstance(message, protocol.CandidateError):
            self.errors.append(message.info)
        elif isinstance(message, protocol.Candidate):
            self.candidates.append(message.info)
        elif isinstance(message, protocol.GatheringState):
            self.states.append(message.state)


def test_a_bug_in_one_attempt_fails_that_url_with_its_traceback_logged_and_the_gathering_completes(
    coturn, monkeypatch, caplog
):
    def broken(*args: object) -> CandidateInfo:
        raise RuntimeError("a bug in srflx candidates")

    monkeypatch.setattr(candidates, "srflx_candidate", broken)  # the injected bug: STUN only
    sink = Recording()
    with ScriptedStunServer(mapped_to(("203.0.113.7", 40000))) as stun_server:
        configuration = parse_configuration({"iceServers": [{"urls": stun_server.url()}, coturn.ice_server("turn")]})
        request = protocol.Gather(1, configuration, GatherOptions(FAST_SCHEDULE, ("127.0.0.1",)))
        gathering = Gathering(request, sink.send)

        async def run() -> None:
            await asyncio.wait_for(gathering.run(), 10)
            await gathering.close()

        with caplog.at_level(logging.ERROR):
            asyncio.run(run())

    assert sink.states == ["gathering", "complete"]
    [error] = sink.errors
    assert (error.url, error.error_code, error.cause) == (stun_server.url(), 701, "internal_error")
    assert error.error_text == "internal error in icegather: RuntimeError"
    assert [c.url for c in sink.candidates if " typ relay " in c.candidate] == [coturn.url("turn")]
    assert "a bug in srflx candidates" in caplog.text  # the traceback is in the log


def test_a_redirect_to_an_unreachable_family_is_its_own_cause():
    with ScriptedStunServer(try_alternate(("::1", free_port()))) as server:
        recording = gather({"iceServers": [{"urls": server.url("turn"), "username": "u", "credential": "p"}]})
    [error] = recording.errors
    assert error.errorCause == "redirect_unreachable"
