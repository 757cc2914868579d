"""Gathering from many servers at once, as a browser does: each failure fires once per URL and
local address that saw it, as it ends, healthy servers are not held up by failing ones, and
under the relay policy the STUN servers are never asked. Real coturn, real STUN servers on
loopback, real transport processes; see the scenario table in docs/python-api.md."""

from __future__ import annotations

import socket

import pytest
from gathering_helpers import DUAL_STACK, Recording, closed_port, errors_by_url, gather
from stun_servers import ScriptedStunServer, mapped_to, never_answer


def assert_all_events_while_gathering(recording: Recording) -> None:
    kinds = [event.type for event in recording.events]
    assert recording.states_seen == ["gathering", "complete"]
    assert kinds[0] == "icegatheringstatechange"
    assert kinds[-2:] == ["icegatheringstatechange", "icecandidate"]


def test_the_four_unresolvable_servers_of_the_web_platform_test_fire_one_701_per_url():
    urls = [
        "turn:turn1.invalid:3478",
        "turn:turn2.invalid:3478?transport=tcp",
        "turns:turn3.invalid:5349",
        "stun:stun1.invalid:3478",
    ]
    servers = [{"urls": url, "username": "u", "credential": "p"} for url in urls[:3]] + [{"urls": urls[3]}]

    # Two local address families: browsers fire one event per family for a failed lookup; the
    # lookup is per URL, so we fire one.
    recording = gather({"iceServers": servers}, DUAL_STACK)

    assert sorted(error.url for error in recording.errors) == sorted(urls)
    for error in recording.errors:
        assert 300 <= error.errorCode <= 799
        assert error.errorCode == 701 and error.errorText.startswith("host lookup failed for ")
        assert error.address is None and error.port is None
    assert_all_events_while_gathering(recording)


def test_healthy_servers_are_not_delayed_by_failing_ones_and_each_failure_fires_as_it_ends(coturn):
    with ScriptedStunServer(never_answer) as silent:
        configuration = {
            "iceServers": [
                {"urls": silent.url("stun")},
                {"urls": "stun:stun1.invalid:3478"},
                coturn.ice_server("turn"),
                coturn.ice_server("turn", transport="tcp"),
                {**coturn.ice_server("turn", password="wrong"), "urls": coturn.url("turn") + "?transport=udp"},
            ]
        }
        recording = gather(configuration)

    assert sorted(relay.url for relay in recording.of_type("relay")) == sorted(
        [coturn.url("turn"), coturn.url("turn", "tcp")]
    )
    by_url = errors_by_url(recording)
    assert sorted(by_url) == sorted(
        [silent.url("stun"), "stun:stun1.invalid:3478", coturn.url("turn") + "?transport=udp"]
    )
    assert all(len(events) == 1 for events in by_url.values())
    # The silent server's 701 comes last: everything else was dispatched the moment it was known.
    order = [event for event in recording.events if event.type in ("icecandidate", "icecandidateerror")]
    silent_event = by_url[silent.url("stun")][0]
    assert order.index(silent_event) == len(order) - 2  # only the end-of-candidates follows
    assert_all_events_while_gathering(recording)


def test_fifty_silent_servers_are_tried_at_once_and_cost_one_schedule():
    servers = [ScriptedStunServer(never_answer) for _ in range(50)]
    try:
        recording = gather({"iceServers": [{"urls": [server.url() for server in servers]}]})
        last_first_request = max(server.received[0].at for server in servers)
    finally:
        for server in servers:
            server.close()

    assert len(recording.errors) == 50
    assert all(error.errorCode == 701 and "no response" in error.errorText for error in recording.errors)
    # Every server had its first request before any of them was given up on: concurrent, so
    # fifty silent servers cost one retransmission schedule, not fifty.
    assert last_first_request < recording.first_error_at


def test_one_url_fails_once_per_local_address_that_tried_it():
    port = closed_port("127.0.0.1", socket.SOCK_STREAM)
    # localhost is 127.0.0.1 and ::1 (RFC 6761): each local address tries the server address
    # of its own family, and each sees the refusal.
    url = f"turn:localhost:{port}?transport=tcp"
    if not _tcp_port_closed("::1", port):
        pytest.skip(f"port {port} is open on ::1")

    recording = gather({"iceServers": [{"urls": url, "username": "u", "credential": "p"}]}, DUAL_STACK)

    assert sorted(error.address for error in recording.errors) == ["127.0.0.1", "::1"]
    assert all(error.url == url and "connection refused" in error.errorText for error in recording.errors)


def _tcp_port_closed(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex((host, port)) != 0


def test_relay_policy_surfaces_only_relay_candidates_and_never_asks_stun_servers(coturn):
    with ScriptedStunServer(mapped_to(("203.0.113.7", 40000))) as stun_server:
        recording = gather(
            {"iceServers": [{"urls": stun_server.url()}, coturn.ice_server("turn")], "iceTransportPolicy": "relay"}
        )
        asked = len(stun_server.received)

    assert [candidate.type for candidate in recording.candidates] == ["relay"]
    assert asked == 0
    assert recording.errors == []
