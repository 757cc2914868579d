"""What one transport takes on at once: at most ``--max-jobs`` gatherings and audits, and only
jobs whose sockets fit in its open files (``Job.files_needed``, an upper bound of what a job
holds at once), each refused with a clear error rather than failing on a socket it cannot open.
The estimates are pure; the limits are tested on a real service whose open-file limit is set
low."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import zmq
from fake_transport import lingerless_context
from loop_waits import until
from test_service import running_service

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.transport_client import TransportClient
from icegather.main_proc.link.transport_error import TransportError
from icegather.shared import protocol
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule
from icegather.shared.config.ice_config import parse_configuration
from icegather.transport_proc.audit.server_audit import ServerAudit
from icegather.transport_proc.gathering.orchestration import Gathering
from icegather.transport_proc.sandbox.policy import BASE_FILES
from icegather.transport_proc.service import TransportService

DUAL_STACK = ("192.0.2.2", "2001:db8::2")
STUN = {"urls": "stun:stun.example.org"}
TURN_UDP = {"urls": "turn:turn.example.org", "username": "u", "credential": "c"}
TURNS = {"urls": "turns:turn.example.org", "username": "u", "credential": "c"}
STUNS = {"urls": "stuns:stun.example.org"}


def gathering(servers: list[dict[str, Any]], policy: str = "all", **options: Any) -> Gathering:
    configuration = parse_configuration({"iceServers": servers, "iceTransportPolicy": policy})
    request = protocol.Gather(1, configuration, GatherOptions(**options))
    return Gathering(request, lambda message: None, lambda: DUAL_STACK)


def audit(servers: list[dict[str, Any]]) -> ServerAudit:
    request = protocol.Audit(1, parse_configuration({"iceServers": servers}), GatherOptions())
    return ServerAudit(request, lambda message: None, lambda: DUAL_STACK)


# --- what a job may hold (pure) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("servers", "options", "files"),
    [
        ([STUN], {}, 2),  # the host socket of each address, which STUN over UDP uses
        ([STUN, TURN_UDP], {}, 4),  # and the allocation's socket, from each
        ([STUNS], {}, 4),  # a TLS connection of its own, from each
        ([STUN, TURN_UDP], {"relay_check": True}, 6),  # a peer socket for the relay checked
        ([STUN, TURN_UDP], {"relay_check": True, "ipv6_relay": True}, 10),  # the IPv6 ask's allocation, checked too
        ([TURN_UDP, TURNS], {"relay_check": True, "quality_seconds": 5.0}, 2 * (1 + 2 * 4)),  # far end, stream end
        ([STUN], {"local_addresses": ("127.0.0.1",)}, 1),  # the addresses configured, not the machine's
    ],
    ids=["STUN", "STUN and TURN", "STUN over TLS", "relay check", "IPv6 ask", "quality streams", "one address"],
)
def test_a_gathering_may_hold_a_socket_per_local_address_and_per_url_what_its_options_add(servers, options, files):
    assert gathering(servers, **options).files_needed() == files


def test_a_relay_only_gathering_counts_no_socket_for_the_stun_urls_it_does_not_run():
    assert gathering([STUNS, TURN_UDP], policy="relay").files_needed() == gathering([TURN_UDP]).files_needed()


def test_an_audit_holds_per_url_its_socket_the_ipv6_asks_and_a_tls_probes_from_one_address():
    assert audit([STUN]).files_needed() == 1
    assert audit([STUN, TURN_UDP, TURNS]).files_needed() == 1 + 2 + 3


# --- a real service under a low open-file limit -------------------------------------------


def test_a_service_admits_jobs_while_their_open_files_fit_and_refuses_the_next_saying_what_it_needs(
    tmp_path: Path, silent_udp_server: Any
) -> None:
    endpoint = f"ipc://{tmp_path}/transport"
    # Two host sockets each (no gathering here may hold more), in a budget of three files.
    options = GatherOptions(RetransmissionSchedule(0.05, 1, 1), local_addresses=("127.0.0.1", "::1"))
    servers = {"iceServers": [{"urls": silent_udp_server.url()}]}

    async def scenario() -> list[str]:
        context = lingerless_context()
        sock = context.socket(zmq.ROUTER)
        service = TransportService(sock, open_files=BASE_FILES + 3)
        sock.bind(endpoint)
        serving = asyncio.ensure_future(service.serve())
        transport = await TransportClient.connect(endpoint)
        outcomes = []
        try:
            first = RTCPeerConnection(servers, transport=transport, options=options)
            await first.gather()  # complete, and holding its sockets until it is closed
            second = RTCPeerConnection(servers, transport=transport, options=options)
            with pytest.raises(TransportError) as refused:
                await second.gather()
            outcomes.append(str(refused.value))
            first.close()
            await until(lambda: service.files_held == 0)  # counted until its sockets are closed
            third = RTCPeerConnection(servers, transport=transport, options=options)
            await third.gather()
            outcomes.append(third.iceGatheringState)
            third.close()
            four_addresses = GatherOptions(local_addresses=("127.0.0.1", "::1", "127.0.0.2", "127.0.0.3"))
            too_many = RTCPeerConnection(servers, transport=transport, options=four_addresses)
            with pytest.raises(TransportError) as never:
                await too_many.gather()
            outcomes.append(str(never.value))
        finally:
            transport.close()
            serving.cancel()
            await service.shutdown()
            service.connections.close()
            sock.close(linger=0)
            context.term()
        return outcomes

    assert asyncio.run(scenario()) == [
        "the transport refused to gather: the transport's open files are taken: this gathering may hold 2, and 1 "
        "of 3 are free; close some first",
        "complete",
        "the transport refused to gather: this gathering may hold 4 open files, more than the 3 the transport has "
        "for all its jobs: use fewer URLs or local addresses, or give the transport a higher open-file limit",
    ]


def test_a_service_at_its_gathering_limit_refuses_more_with_a_clear_error(tmp_path, silent_udp_server):
    socket_path = tmp_path / "service" / "transport"
    endpoint = f"ipc://{socket_path}"
    options = GatherOptions(RetransmissionSchedule(0.5, 2, 2), local_addresses=("127.0.0.1",))

    async def scenario():
        transport = await TransportClient.connect(endpoint)
        connections = [
            RTCPeerConnection({"iceServers": [{"urls": silent_udp_server.url()}]}, transport=transport, options=options)
            for _ in range(3)
        ]
        results = await asyncio.gather(*(pc.gather() for pc in connections), return_exceptions=True)
        for pc in connections:
            pc.close()
        transport.close()
        return results

    with running_service("--bind", endpoint, "--max-jobs", "2", ready=socket_path):
        results = asyncio.run(scenario())

    refused = [r for r in results if isinstance(r, TransportError)]
    assert [str(r) for r in refused] == [
        "the transport refused to gather: "
        "the transport already runs 2 gatherings and audits, its limit; close some first"
    ]
    assert results.count(None) == 2  # the other two completed
