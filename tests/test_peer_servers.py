"""Gathering against servers no one here wrote: Pion TURN, node-turn, the ``stun`` npm package's
example server. Each differs from coturn on the wire (scripts/peer_servers/README.md); each
must get the verdict a browser's result deserves, and what icegather asks beyond a browser
must never cost that result."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from gathering_helpers import ASKING_IPV6, LOOPBACK, events_of, gather

from icegather.main_proc.dom.peerconnection import RTCPeerConnection

pytestmark = pytest.mark.peers


def notes_of(server) -> dict[str, str]:
    return {note.note: note.detail for note in events_of("iceservernote", {"iceServers": [server]}, ASKING_IPV6)}


def test_node_turn_allocates_as_for_a_browser_though_it_drops_requests_with_attributes_it_does_not_know(nodeturn):
    # node-turn drops an Allocate that carries an attribute it does not know (RFC 8489 section
    # 15 says to ignore a comprehension-optional one): the browser's plain Allocate comes first.
    recording = gather({"iceServers": [nodeturn.ice_server("turn")]})

    assert recording.errors == []
    [relay] = recording.of_type("relay")
    assert (relay.url, relay.address) == (nodeturn.url("turn"), "127.0.0.1")


def test_what_node_turn_does_with_the_ipv6_ask_and_its_software_are_notes_not_errors(nodeturn):
    notes = notes_of(nodeturn.ice_server("turn"))

    # It sends SOFTWARE in its Allocate success only, and drops the ask for an IPv6 relay.
    assert notes["software"] == "node-turn"
    assert notes["ipv6_relay_unanswered"].startswith("701 no response from")


def test_pion_gives_an_ipv4_relay_to_the_ipv6_ask_which_is_noted(pion):
    notes = notes_of(pion.ice_server("turn"))

    assert "software" not in notes  # Pion names no software
    assert notes["ipv6_relay_ignored"].startswith("127.0.0.1:")


def test_coturn_refuses_the_ipv6_ask_with_440_which_is_noted(coturn):
    notes = notes_of(coturn.ice_server("turn"))

    assert notes["software"].startswith("Coturn-")
    assert notes["ipv6_relay_refused"] == "440 Unsupported address family"


def test_a_software_named_in_the_first_answer_is_noted_once_before_that_answers_event(coturn):
    # coturn names itself in its first answer, which carries it (protocol 13); node-turn names
    # itself only in a later answer, a note of its own (above). The events are the same.
    async def fired_in_order() -> list[tuple[str, str]]:
        fired: list[tuple[str, str]] = []
        async with RTCPeerConnection({"iceServers": [coturn.ice_server("turn")]}, options=LOOPBACK) as pc:
            pc.addEventListener("iceservernote", lambda note: fired.append((note.type, note.note)))
            pc.addEventListener("iceserveranswer", lambda answer: fired.append((answer.type, "")))
            await asyncio.wait_for(pc.gather(), 30)
        return fired

    assert asyncio.run(fired_in_order()) == [("iceservernote", "software"), ("iceserveranswer", "")]


def test_a_peer_connection_asks_for_an_ipv6_relay_only_when_told_as_browsers_never_do(coturn):
    told = dataclasses.replace(LOOPBACK, trace=True, ipv6_relay=True)
    default = dataclasses.replace(LOOPBACK, trace=True)
    allocates = {
        options: [(t.method, t.errorCode) for t in events_of("icetransaction", {"iceServers": [coturn.ice_server()]},
                                                             options)]
        for options in (default, told)
    }

    assert allocates[default] == [("Allocate", 401), ("Allocate", None)]  # the challenge, then the relay
    assert allocates[told] == [("Allocate", 401), ("Allocate", None), ("Allocate", 401), ("Allocate", 440)]


@pytest.mark.parametrize("transport", [None, "tcp"])
def test_pions_400_to_a_wrong_password_is_a_refused_credential_with_the_registrys_phrase(pion, transport):
    recording = gather({"iceServers": [pion.ice_server("turn", transport=transport, password="wrong")]})

    [error] = recording.errors
    assert (error.errorCode, error.errorCause) == (400, "signed_request_refused")
    assert error.errorText == "Bad Request (the server sent no reason phrase)"


def test_node_turns_401_to_a_wrong_password_is_a_refused_credential(nodeturn):
    recording = gather({"iceServers": [nodeturn.ice_server("turn", password="wrong")]})

    [error] = recording.errors
    assert (error.errorCode, error.errorCause) == (401, "signed_request_refused")


def test_answers_with_a_random_transaction_id_are_not_silence(stun_example):
    recording = gather({"iceServers": [{"urls": stun_example.url()}]})

    [error] = recording.errors
    assert (error.errorCode, error.errorCause) == (701, "answer_wrong_transaction")
    assert "answered 2 times, but with another transaction ID" in error.errorText
