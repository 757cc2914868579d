"""Gathering like a browser: many servers at once, every transport, each failure attributed to
the URL and local socket that saw it. Real coturn instances, real STUN servers on loopback,
real transport processes; see the scenario table in the README."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
import time
from collections.abc import Callable, Iterator

import pytest
from gathering_helpers import FAST_SCHEDULE, LOOPBACK, Recording, gather
from local_coturn import Coturn, local_coturn
from stun_servers import (
    ScriptedStunServer,
    ScriptedTcpServer,
    answer_binding_over_stream,
    error_to_every_request,
    hang_up,
    mapped_to,
    never_answer,
    try_alternate,
)

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.shared.structs import GatherOptions

DUAL_STACK = GatherOptions(schedule=FAST_SCHEDULE, local_addresses=("127.0.0.1", "::1"))
IPV6_ONLY = GatherOptions(schedule=FAST_SCHEDULE, local_addresses=("::1",), ipv6_relay=True)
INSECURE_TLS = GatherOptions(schedule=FAST_SCHEDULE, local_addresses=("127.0.0.1",), verify_tls=False)


def closed_port(host: str, kind: int) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def errors_by_url(recording: Recording) -> dict[str, list]:
    found: dict[str, list] = {}
    for error in recording.errors:
        found.setdefault(error.url, []).append(error)
    return found


def assert_all_events_while_gathering(recording: Recording) -> None:
    kinds = [event.type for event in recording.events]
    assert recording.states_seen == ["gathering", "complete"]
    assert kinds[0] == "icegatheringstatechange"
    assert kinds[-2:] == ["icegatheringstatechange", "icecandidate"]


# --- many servers at once --------------------------------------------------------------------


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


# --- server responses ---------------------------------------------------------------------------


def test_a_stun_server_behind_a_nat_gives_a_server_reflexive_candidate_with_its_url():
    # The mapped address is only written into the candidate; no packet goes there.
    with (
        ScriptedStunServer(mapped_to(("203.0.113.7", 40000))) as nat,
        ScriptedStunServer(mapped_to(("203.0.113.7", 40000))) as second,
    ):
        recording = gather({"iceServers": [{"urls": [nat.url(), second.url()]}]})

    [host] = recording.of_type("host")
    srflx = recording.of_type("srflx")
    assert len(srflx) == 1  # the second server found the same address from the same base
    assert (srflx[0].address, srflx[0].port) == ("203.0.113.7", 40000)
    assert (srflx[0].relatedAddress, srflx[0].relatedPort) == (host.address, host.port)
    assert srflx[0].url in (nat.url(), second.url())
    assert recording.errors == []


def test_a_server_error_fires_with_the_servers_own_code_and_reason_phrase():
    with ScriptedStunServer(error_to_every_request(403, "Forbidden by policy")) as server:
        recording = gather({"iceServers": [{"urls": server.url("turn"), "username": "u", "credential": "p"}]})

    [error] = recording.errors
    assert (error.errorCode, error.errorText, error.url) == (403, "Forbidden by policy", server.url("turn"))
    assert error.address == "127.0.0.1" and error.port == server.received[0].source[1]


def test_coturn_over_its_allocation_quota_answers_486(coturn_with_quota_of_one):
    turn = coturn_with_quota_of_one
    recording = gather({"iceServers": [turn.ice_server("turn"), turn.ice_server("turn", transport="tcp")]})

    [relay] = recording.of_type("relay")
    [error] = recording.errors
    assert (error.errorCode, error.errorText) == (486, "Allocation Quota Reached")
    assert {relay.url, error.url} == {turn.url("turn"), turn.url("turn", "tcp")}


@pytest.mark.parametrize(
    ("coturn_option", "code", "reason"),
    [
        # The relay coturn would hand out is refused by its configuration. (coturn 4.6.1 sends
        # 403 only to CreatePermission and ChannelBind, which gathering never sends.)
        ("--no-udp-relay", 442, "UDP Transport is not allowed by the TURN Server configuration"),
    ],
)
def test_coturn_refusing_the_relay_fires_its_code_and_reason_for_every_turn_url(coturn_option, code, reason):
    with local_coturn(extra_args=[coturn_option]) as turn:
        urls = [turn.url("turn"), turn.url("turn", "tcp")]
        recording = gather({"iceServers": [turn.ice_server("turn"), turn.ice_server("turn", transport="tcp")]})

    assert sorted(error.url for error in recording.errors) == sorted(urls)
    assert {(error.errorCode, error.errorText) for error in recording.errors} == {(code, reason)}


def test_a_server_whose_default_family_has_no_relay_gives_the_other_familys_relay():
    # coturn answers 440 to the default (IPv6 here) and to IPv6 alone; IPv4 alone works.
    with local_coturn(extra_args=["--allocation-default-address-family=ipv6"]) as turn:
        recording = gather({"iceServers": [turn.ice_server("turn"), turn.ice_server("turn", transport="tcp")]})

    assert recording.errors == []
    assert sorted((relay.url, relay.address) for relay in recording.of_type("relay")) == sorted(
        [(turn.url("turn"), "127.0.0.1"), (turn.url("turn", "tcp"), "127.0.0.1")]
    )


def test_try_alternate_is_followed_to_the_server_it_names(coturn):
    with ScriptedStunServer(try_alternate((coturn.host, coturn.port))) as redirector:
        server = {"urls": redirector.url("turn"), "username": coturn.username, "credential": coturn.password}
        recording = gather({"iceServers": [server]})

    assert recording.errors == []
    [relay] = recording.of_type("relay")
    assert relay.url == redirector.url("turn")  # the URL the user configured, not the alternate


def test_a_try_alternate_that_may_not_be_followed_sends_nothing_to_the_alternate():
    options = dataclasses.replace(LOOPBACK, follow_redirects=False)  # the exporter's, for a module's credentials
    with (
        ScriptedStunServer(never_answer) as alternate,
        ScriptedStunServer(try_alternate(("127.0.0.1", alternate.port))) as redirector,
    ):
        server = {"urls": redirector.url("turn"), "username": "u", "credential": "p"}
        recording = gather({"iceServers": [server]}, options)

    [error] = recording.errors
    assert (error.errorCode, error.errorCause) == (701, "redirect_not_followed")
    assert alternate.received == []


def test_a_second_try_alternate_ends_the_attempt_with_300():
    with ScriptedStunServer(never_answer) as server:
        server.script = try_alternate(("127.0.0.1", server.port))  # it redirects to itself
        recording = gather({"iceServers": [{"urls": server.url("turn"), "username": "u", "credential": "p"}]})

    [error] = recording.errors
    assert (error.errorCode, error.url) == (300, server.url("turn"))
    assert len(server.received) == 2  # the first 300 was followed, the second was not


def test_a_silent_turn_server_over_udp_fires_one_701_for_its_url():
    with ScriptedStunServer(never_answer) as silent:
        recording = gather({"iceServers": [{"urls": silent.url("turn"), "username": "u", "credential": "p"}]})

    [error] = recording.errors  # Chromium fires a second, STUN, 701 for the same host
    assert error.errorCode == 701
    assert error.errorText.startswith(f"no response from 127.0.0.1:{silent.port} after {FAST_SCHEDULE.max_sends}")


@pytest.mark.parametrize(
    ("reset", "text"),
    [
        (True, "connection reset by 127.0.0.1:{port}"),
        (False, "connection closed by 127.0.0.1:{port} before it answered"),
    ],
)
def test_a_turn_server_that_hangs_up_over_tcp_fires_701_saying_how(reset, text):
    with ScriptedTcpServer(hang_up(reset)) as server:
        url = f"turn:127.0.0.1:{server.port}?transport=tcp"
        recording = gather({"iceServers": [{"urls": url, "username": "u", "credential": "p"}]})

    [error] = recording.errors
    assert (error.errorCode, error.errorText, error.url) == (701, text.format(port=server.port), url)
    assert error.address == "127.0.0.1" and error.port is not None


# --- TLS ---------------------------------------------------------------------------------------


def test_turns_with_a_certificate_nobody_trusts_fires_701_naming_the_tls_failure(tls_coturn):
    url = tls_coturn.url("turns")
    recording = gather({"iceServers": [tls_coturn.ice_server("turns")]})

    [error] = recording.errors
    assert (error.errorCode, error.url) == (701, url)
    assert error.errorText.startswith(f"TLS handshake with 127.0.0.1:{tls_coturn.tls_port} failed: ")
    assert "certificate" in error.errorText
    assert error.address == "127.0.0.1" and error.port is not None
    assert recording.of_type("relay") == []


def test_turns_and_stuns_work_against_a_self_signed_server_when_told_to_accept_it(tls_coturn):
    configuration = {"iceServers": [tls_coturn.ice_server("turns"), {"urls": tls_coturn.url("stuns")}]}
    recording = gather(configuration, INSECURE_TLS)

    assert recording.errors == []
    [relay] = recording.of_type("relay")
    assert (relay.url, relay.relayProtocol) == (tls_coturn.url("turns"), "tls")


def test_a_stuns_answer_is_reported_but_makes_no_udp_srflx_candidate(certificate_authority):
    # RFC 7064: STUN over TLS learns the mapped address of that TLS connection, which closes
    # right after; it says nothing about a UDP socket, so it is not a UDP srflx candidate.
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1").configure_cert(tls)
    with ScriptedTcpServer(answer_binding_over_stream(("203.0.113.7", 40000)), tls=tls) as server:
        url = f"stuns:127.0.0.1:{server.port}"
        recording = gather({"iceServers": [{"urls": url}]}, INSECURE_TLS)

    assert recording.errors == []
    assert recording.of_type("srflx") == []
    [answer] = recording.answers
    assert answer.url == url


def test_turns_verifies_the_certificate_against_the_trusted_cas_and_the_host_name(
    tls_coturn, certificate_authority, tmp_path, monkeypatch
):
    bundle = tmp_path / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # the transport process inherits it
    port = tls_coturn.tls_port
    server = {"username": tls_coturn.username, "credential": tls_coturn.password}
    by_name, by_address = f"turns:localhost:{port}", f"turns:127.0.0.1:{port}"

    recording = gather({"iceServers": [{**server, "urls": by_name}, {**server, "urls": by_address}]})

    [relay] = recording.of_type("relay")
    assert relay.url == by_name  # the certificate names localhost ...
    [error] = recording.errors  # ... and not 127.0.0.1
    assert (error.url, error.errorCode) == (by_address, 701)
    assert "TLS handshake" in error.errorText and "mismatch" in error.errorText


# --- address families ---------------------------------------------------------------------------


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


# --- policy ------------------------------------------------------------------------------------


def test_relay_policy_surfaces_only_relay_candidates_and_never_asks_stun_servers(coturn):
    with ScriptedStunServer(mapped_to(("203.0.113.7", 40000))) as stun_server:
        recording = gather(
            {"iceServers": [{"urls": stun_server.url()}, coturn.ice_server("turn")], "iceTransportPolicy": "relay"}
        )
        asked = len(stun_server.received)

    assert [candidate.type for candidate in recording.candidates] == ["relay"]
    assert asked == 0
    assert recording.errors == []


@pytest.fixture
def coturn_with_quota_of_one() -> Iterator[Coturn]:
    # One per test: coturn 4.6.1 gives a UDP client's quota back only when the session times
    # out, a while after the allocation is released.
    with local_coturn(extra_args=["--user-quota=1"]) as turn:
        yield turn


def test_closing_releases_every_turn_allocation_with_a_refresh_of_lifetime_zero():
    with local_coturn(extra_args=["--verbose"]) as turn:  # verbose: coturn logs each refresh
        recording = gather({"iceServers": [turn.ice_server("turn"), turn.ice_server("turn", transport="tcp")]})
        assert len(recording.of_type("relay")) == 2
        released = wait_for(lambda: turn.log.count(f"username=<{turn.username}>, lifetime=0"), 2, 5.0)

    assert released == 2


def test_closing_returns_at_once_and_the_transport_releases_its_allocation_then_exits_by_itself():
    with local_coturn(extra_args=["--verbose"]) as turn:

        async def scenario() -> tuple[bool, int, int | None]:
            pc = RTCPeerConnection({"iceServers": [turn.ice_server("turn")]}, options=LOOPBACK)
            await pc.gather()
            assert pc.transport is not None and pc.transport.process is not None
            popen = pc.transport.process.popen
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0)
                    ticks += 1

            ticker = asyncio.ensure_future(tick())
            pc.close()
            returned_while_running = popen.poll() is None  # close() did not wait for the process
            await pc.aclose()  # this does, without blocking the loop
            ticker.cancel()
            return returned_while_running, ticks, popen.returncode

        returned_while_running, ticks, returncode = asyncio.run(scenario())
        released = wait_for(lambda: turn.log.count(f"username=<{turn.username}>, lifetime=0"), 1, 5.0)

    assert returned_while_running
    assert ticks > 0  # the event loop ran while the transport released and exited
    assert returncode == 0  # it exited by itself, after the release: not killed
    assert released == 1


def wait_for(count: Callable[[], int], expected: int, seconds: float) -> int:
    """Poll ``count`` until it reaches ``expected`` or ``seconds`` pass: coturn's log is written
    by another process, a little later."""
    deadline = time.monotonic() + seconds
    while count() < expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return count()


def test_allocation_mismatch_is_retried_from_three_new_ports_before_it_is_reported():
    with ScriptedStunServer(error_to_every_request(437, "Allocation Mismatch")) as server:
        recording = gather({"iceServers": [{"urls": server.url("turn"), "username": "u", "credential": "p"}]})
        ports = {received.source[1] for received in server.received}

    [error] = recording.errors
    assert (error.errorCode, error.errorText) == (437, "Allocation Mismatch")
    assert len(ports) == 4  # the first port and three new ones (RFC 8656 section 7.3)
    assert error.port in ports
