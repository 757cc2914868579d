"""The TURN Allocate state machine, without a network: each RFC 8656 rule it follows."""

from __future__ import annotations

import struct

import pytest
from aioice import stun

from icegather.transport_proc.stun.address_families import IPV6_ALONE
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.stun.parser import parse_stun
from icegather.transport_proc.turn.allocation import (
    MAX_NONCE_RENEWALS,
    MAX_STALE_NONCE_RETRIES,
    Allocated,
    AllocateSession,
    Redirect,
    SendRequest,
    long_term_key,
)

SERVER = ("192.0.2.10", 3478)
KEY = long_term_key("alice", "example.org", "secret")


def reply(request: stun.Message, message_class: stun.Class, key: bytes | None = None, **attributes) -> stun.Message:
    """A server's response to ``request``, as bytes on the wire and back through our parser."""
    response = stun.Message(request.message_method, message_class, request.transaction_id)
    response.attributes.update(attributes)
    if key is not None:
        response.add_message_integrity(key)
    else:
        response.add_fingerprint()
    return parse_stun(bytes(response))


def challenge(request: stun.Message, code: int = 401, nonce: bytes = b"nonce-1") -> stun.Message:
    return reply(request, stun.Class.ERROR, **{"ERROR-CODE": (code, "Unauthorized"), "REALM": "example.org",
                                               "NONCE": nonce})


def authenticated_session() -> tuple[AllocateSession, stun.Message]:
    session = AllocateSession("alice", "secret")
    step = session.on_response(challenge(session.first_request()), SERVER)
    assert isinstance(step, SendRequest)
    return session, step.request


def test_first_allocate_carries_no_credentials_and_the_401_challenge_is_answered():
    session = AllocateSession("alice", "secret")
    first = session.first_request()
    assert "USERNAME" not in first.attributes and "MESSAGE-INTEGRITY" not in first.attributes

    step = session.on_response(challenge(first), SERVER)

    assert isinstance(step, SendRequest)
    second = step.request
    assert second.attributes["USERNAME"] == "alice"
    assert second.attributes["REALM"] == "example.org" and second.attributes["NONCE"] == b"nonce-1"
    assert parse_stun(bytes(second)).check_message_integrity(KEY)


def test_401_to_the_request_with_credentials_ends_the_attempt_with_401():
    session, request = authenticated_session()
    with pytest.raises(AttemptFailed) as caught:
        session.on_response(challenge(request), SERVER)
    assert (caught.value.code, caught.value.text) == (401, "Unauthorized")


def test_stale_nonce_is_retried_with_the_new_nonce_a_bounded_number_of_times():
    session, request = authenticated_session()
    for attempt in range(MAX_STALE_NONCE_RETRIES):
        step = session.on_response(challenge(request, 438, f"nonce-{attempt + 2}".encode()), SERVER)
        assert isinstance(step, SendRequest)
        request = step.request
        assert request.attributes["NONCE"] == f"nonce-{attempt + 2}".encode()
    with pytest.raises(AttemptFailed) as caught:
        session.on_response(challenge(request, 438, b"again"), SERVER)
    assert caught.value.code == 438


def test_success_needs_a_relayed_address_and_gives_relayed_and_mapped_addresses():
    session, request = authenticated_session()
    success = reply(request, stun.Class.RESPONSE, KEY, **{
        "XOR-RELAYED-ADDRESS": ("203.0.113.9", 61000), "XOR-MAPPED-ADDRESS": ("198.51.100.7", 50000),
        "LIFETIME": 600,
    })
    assert session.accepts(success)
    assert session.on_response(success, SERVER) == Allocated((("203.0.113.9", 61000),), ("198.51.100.7", 50000), 600)

    empty = reply(request, stun.Class.RESPONSE, KEY, LIFETIME=600)
    with pytest.raises(AttemptFailed) as caught:
        AllocateSession("alice", "secret").on_response(empty, SERVER)
    assert caught.value.code == 701 and "XOR-RELAYED-ADDRESS" in caught.value.text


def test_success_signed_with_another_key_is_not_trusted_but_unsigned_401_is():
    session, request = authenticated_session()
    forged = reply(request, stun.Class.RESPONSE, long_term_key("alice", "example.org", "guess"),
                   **{"XOR-RELAYED-ADDRESS": ("203.0.113.9", 61000)})
    unsigned = reply(request, stun.Class.RESPONSE, **{"XOR-RELAYED-ADDRESS": ("203.0.113.9", 61000)})
    assert not session.accepts(forged)
    assert not session.accepts(unsigned)
    assert session.accepts(challenge(request))


def test_try_alternate_is_followed_once_from_scratch():
    session = AllocateSession("alice", "secret")
    redirect = reply(session.first_request(), stun.Class.ERROR, **{"ERROR-CODE": (300, "Try Alternate")})
    redirect.attributes["ALTERNATE-SERVER"] = ("192.0.2.20", 3478)
    assert session.on_response(redirect, SERVER) == Redirect(("192.0.2.20", 3478))
    assert "USERNAME" not in session.first_request().attributes
    with pytest.raises(AttemptFailed) as caught:
        session.on_response(redirect, SERVER)
    assert caught.value.code == 300


@pytest.mark.parametrize(
    "code, reason", [(486, "Allocation Quota Reached"), (403, "Forbidden"), (508, "Insufficient Capacity")]
)
def test_other_error_responses_end_the_attempt_with_their_code_and_reason(code, reason):
    session, request = authenticated_session()
    with pytest.raises(AttemptFailed) as caught:
        session.on_response(reply(request, stun.Class.ERROR, KEY, **{"ERROR-CODE": (code, reason)}), SERVER)
    assert (caught.value.code, caught.value.text) == (code, reason)


def test_refresh_to_zero_releases_with_the_session_credentials():
    session, _ = authenticated_session()
    refresh = session.refresh_to_zero()
    assert refresh.message_method == stun.Method.REFRESH and refresh.attributes["LIFETIME"] == 0
    assert parse_stun(bytes(refresh)).check_message_integrity(KEY)


def test_the_password_is_not_in_the_session_repr():
    session, _ = authenticated_session()
    assert "secret" not in repr(session)


def test_a_438_on_a_later_request_renews_the_nonce_a_bounded_number_of_times():
    session, _ = authenticated_session()
    refresh = session.refresh_to_zero()
    nonces = [f"nonce-{n}".encode() for n in range(2, 2 + MAX_NONCE_RENEWALS + 1)]

    renewed = [
        session.took_new_nonce(reply(refresh, stun.Class.ERROR, **{"ERROR-CODE": (438, "Stale Nonce"), "NONCE": nonce}))
        for nonce in nonces
    ]

    assert renewed == [True] * MAX_NONCE_RENEWALS + [False]
    again = session.request(stun.Method.CREATE_PERMISSION, {"XOR-PEER-ADDRESS": ("127.0.0.1", 0)})
    assert again.attributes["NONCE"] == nonces[MAX_NONCE_RENEWALS - 1]
    assert parse_stun(bytes(again)).check_message_integrity(KEY)


def test_only_a_438_with_a_nonce_renews_it():
    session, _ = authenticated_session()
    refresh = session.refresh_to_zero()
    assert not session.took_new_nonce(reply(refresh, stun.Class.ERROR, **{"ERROR-CODE": (438, "Stale Nonce")}))
    assert not session.took_new_nonce(reply(refresh, stun.Class.ERROR, **{"ERROR-CODE": (403, "Forbidden"),
                                                                            "NONCE": b"n"}))
    assert not session.took_new_nonce(reply(refresh, stun.Class.RESPONSE, KEY, LIFETIME=0))


def family_asked(request: stun.Message) -> dict[int, bytes]:
    """The address-family attributes of an encoded request: type -> value."""
    data, found, position = bytes(request), {}, stun.HEADER_LENGTH
    while position < len(data):
        kind, size = struct.unpack_from("!HH", data, position)
        if kind in (0x0017, 0x8000, 0x8032):
            found[kind] = data[position + 4 : position + 4 + size]
        position += 4 + size + stun.padding_length(size)
    return found


def test_the_first_allocate_is_a_browsers_with_no_address_family_attribute():
    _, request = authenticated_session()
    # An extra attribute a server does not know can make it drop the request (node-turn does).
    assert family_asked(request) == {}
    assert parse_stun(bytes(request)).check_message_integrity(KEY)


def test_a_session_for_one_family_asks_for_it_under_the_integrity():
    session = AllocateSession("alice", "secret", family=IPV6_ALONE)
    first = session.first_request()
    assert family_asked(first) == {0x0017: b"\x02\x00\x00\x00"}
    step = session.on_response(reply(first, stun.Class.ERROR, **{"ERROR-CODE": (401, "Unauthorized"),
                                                                   "REALM": "example.org", "NONCE": b"n"}), SERVER)
    assert isinstance(step, SendRequest) and family_asked(step.request) == {0x0017: b"\x02\x00\x00\x00"}
    assert parse_stun(bytes(step.request)).check_message_integrity(KEY)  # the integrity covers it


def test_440_moves_on_to_ipv6_alone_then_ipv4_alone_then_gives_up():
    session, request = authenticated_session()
    asked = []
    for _ in range(2):
        step = session.on_response(reply(request, stun.Class.ERROR, KEY, **{"ERROR-CODE": (440, "Unsupported")}),
                                   SERVER)
        assert isinstance(step, SendRequest)
        request = step.request
        asked.append(family_asked(request))
        assert parse_stun(bytes(request)).check_message_integrity(KEY)

    assert asked == [{0x0017: b"\x02\x00\x00\x00"}, {0x0017: b"\x01\x00\x00\x00"}]
    with pytest.raises(AttemptFailed) as caught:
        session.on_response(reply(request, stun.Class.ERROR, KEY, **{"ERROR-CODE": (440, "Unsupported")}), SERVER)
    assert caught.value.code == 440


def test_an_error_to_the_signed_request_is_a_refusal_of_what_it_signed():
    session, request = authenticated_session()
    with pytest.raises(AttemptFailed) as caught:
        session.on_response(reply(request, stun.Class.ERROR, **{"ERROR-CODE": (400, "")}), SERVER)
    # Pion answers 400 with no reason phrase: the registry's name stands in, and says so.
    assert (caught.value.code, caught.value.cause) == (400, "signed_request_refused")
    assert caught.value.text == "Bad Request (the server sent no reason phrase)"


def attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + bytes(stun.padding_length(len(value)))


def several_relayed(request: stun.Message, *relayed: tuple[str, int]) -> stun.Message:
    """A signed success with several XOR-RELAYED-ADDRESS (aioice encodes one)."""
    body = b"".join(attribute(0x0016, stun.pack_xor_address(a, request.transaction_id)) for a in relayed)
    header = struct.pack("!HHI12s", stun.Method.ALLOCATE | stun.Class.RESPONSE, len(body), stun.COOKIE,
                         request.transaction_id)
    message = header + body
    return parse_stun(
        stun.set_body_length(message, len(body) + 24) + attribute(0x0008, stun.message_integrity(message, KEY))
    )


def test_several_relayed_addresses_give_one_relay_per_family_and_no_relay_for_an_unspecified_address():
    session, request = authenticated_session()
    both = session.on_response(several_relayed(request, ("203.0.113.9", 61000), ("2001:db8::9", 61001)), SERVER)
    assert isinstance(both, Allocated) and both.relayed == (("203.0.113.9", 61000), ("2001:db8::9", 61001))

    session, request = authenticated_session()
    # coturn 4.6 puts 0.0.0.0:0 for a family it could not allocate.
    one = session.on_response(several_relayed(request, ("0.0.0.0", 0), ("2001:db8::9", 61001)), SERVER)
    assert isinstance(one, Allocated) and one.relayed == (("2001:db8::9", 61001),)
