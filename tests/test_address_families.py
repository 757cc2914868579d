"""IPv4 and IPv6: a server is tried only from local addresses of its family, a relay of each
family when the server has both, an IPv6 relay rather than 440 when it has only that, and 701
without a socket when no local address can reach the server or none can be bound. Real coturn
on loopback, real transport processes."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from gathering_helpers import DUAL_STACK, FAST_SCHEDULE, closed_port, errors_by_url, gather
from local_coturn import Coturn, local_coturn

from icegather.shared.config.gather_options import GatherOptions

IPV6_ONLY = GatherOptions(schedule=FAST_SCHEDULE, local_addresses=("::1",), ipv6_relay=True)


@pytest.fixture(scope="module")
def ipv6_coturn() -> Iterator[Coturn]:
    # A dual-stack relay, as most deployments have: IPv4 relayed addresses for IPv6 clients.
    with local_coturn(host="::1", relay_ips=("127.0.0.1", "::1")) as turn:
        yield turn


def test_turn_over_ipv6_loopback_gives_a_relay_of_each_family_over_udp_and_tcp(ipv6_coturn):
    recording = gather(
        {"iceServers": [ipv6_coturn.ice_server("turn"), ipv6_coturn.ice_server("turn", transport="tcp")]},
        IPV6_ONLY,
    )

    assert recording.errors == []
    relays = recording.of_type("relay")
    # A dual allocation (RFC 8656 section 7.2): one IPv4 and one IPv6 relayed address per URL.
    assert sorted((relay.url, relay.address) for relay in relays) == sorted(
        (url, address) for url in (ipv6_coturn.url("turn"), ipv6_coturn.url("turn", "tcp"))
        for address in ("127.0.0.1", "::1")
    )
    assert all(relay.relatedAddress == "::1" for relay in relays)  # the mapped address of our socket


def test_an_ipv6_only_relay_gives_a_relay_candidate_instead_of_440():
    with local_coturn(relay_ips=("::1",)) as turn:
        recording = gather({"iceServers": [turn.ice_server("turn"), turn.ice_server("turn", transport="tcp")]})

    assert recording.errors == []
    assert sorted((relay.url, relay.address) for relay in recording.of_type("relay")) == sorted(
        [(turn.url("turn"), "::1"), (turn.url("turn", "tcp"), "::1")]
    )


def test_an_ip_literal_server_is_tried_only_from_local_addresses_of_its_family():
    v4 = closed_port("127.0.0.1", socket.SOCK_DGRAM)
    v6 = closed_port("::1", socket.SOCK_DGRAM)
    recording = gather({"iceServers": [{"urls": [f"stun:127.0.0.1:{v4}", f"stun:[::1]:{v6}"]}]}, DUAL_STACK)

    by_url = errors_by_url(recording)
    [from_v4] = by_url[f"stun:127.0.0.1:{v4}"]
    [from_v6] = by_url[f"stun:[::1]:{v6}"]
    assert from_v4.address == "127.0.0.1" and from_v6.address == "::1"
    assert "port unreachable" in from_v4.errorText and "port unreachable" in from_v6.errorText


def test_a_server_of_a_family_no_local_address_has_fires_701_without_a_socket():
    recording = gather({"iceServers": [{"urls": "stun:[::1]:3478"}]})  # LOOPBACK: 127.0.0.1 only

    [error] = recording.errors
    assert error.errorText == "no local IPv6 address to reach ::1 from"
    assert error.address is None and error.port is None


def test_a_local_address_whose_socket_cannot_be_created_fires_701_saying_so():
    # 203.0.113.254 (TEST-NET-3) is on no interface: bind() fails, nothing is sent.
    options = GatherOptions(schedule=FAST_SCHEDULE, local_addresses=("203.0.113.254",))
    recording = gather({"iceServers": [{"urls": "stun:127.0.0.1:3478"}]}, options)

    [error] = recording.errors
    assert error.errorCode == 701
    assert error.errorText.startswith("socket could not be created on 203.0.113.254: ")
    assert recording.of_type("host") == []
