"""What a STUN or TURN server answers, fired as the browser's ``icecandidateerror`` with the
server's own code and reason phrase, or 701 saying what happened: errors, quotas, relays refused,
redirects followed once, silence, hang-ups and allocation mismatches retried from new ports.
Real coturn instances and real STUN servers on loopback; see the scenario table in
docs/python-api.md."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from gathering_helpers import FAST_SCHEDULE, LOOPBACK, gather
from local_coturn import Coturn, local_coturn
from stun_servers import (
    ScriptedStunServer,
    ScriptedTcpServer,
    error_to_every_request,
    hang_up,
    mapped_to,
    never_answer,
    try_alternate,
)


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


@pytest.fixture
def coturn_with_quota_of_one() -> Iterator[Coturn]:
    # One per test: coturn 4.6.1 gives a UDP client's quota back only when the session times
    # out, a while after the allocation is released.
    with local_coturn(extra_args=["--user-quota=1"]) as turn:
        yield turn


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


def test_allocation_mismatch_is_retried_from_three_new_ports_before_it_is_reported():
    with ScriptedStunServer(error_to_every_request(437, "Allocation Mismatch")) as server:
        recording = gather({"iceServers": [{"urls": server.url("turn"), "username": "u", "credential": "p"}]})
        ports = {received.source[1] for received in server.received}

    [error] = recording.errors
    assert (error.errorCode, error.errorText) == (437, "Allocation Mismatch")
    assert len(ports) == 4  # the first port and three new ones (RFC 8656 section 7.3)
    assert error.port in ports
