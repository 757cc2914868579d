"""A request is encoded once when it is sealed (the bytes are aioice's own:
tests/test_aioice_internals.py)."""

from __future__ import annotations

from unittest import mock

from aioice import stun

from icegather.transport_proc.stun.address_families import IPV4_ALONE, family_attributes
from icegather.transport_proc.stun.parser import parse_stun
from icegather.transport_proc.stun.requests import Request

KEY = b"0123456789abcdef"


def allocate(raw: tuple[tuple[int, bytes], ...] = ()) -> Request:
    request = Request(stun.Method.ALLOCATE, raw)
    request.attributes.update({"LIFETIME": 600, "REQUESTED-TRANSPORT": 0x11000000, "USERNAME": "alice",
                               "REALM": "example.org", "NONCE": b"abcdefgh"})
    return request


def test_the_integrity_and_fingerprint_of_a_sealed_request_cover_its_raw_attributes() -> None:
    request = allocate(family_attributes(IPV4_ALONE))
    request.seal(KEY)

    parsed = parse_stun(bytes(request))  # which checks the FINGERPRINT

    assert parsed.check_message_integrity(KEY)
    assert parsed.attributes["REQUESTED-TRANSPORT"] == 0x11000000
    assert bytes(request)[stun.HEADER_LENGTH:].count(family_attributes(IPV4_ALONE)[0][1]) == 1


def test_sealing_encodes_the_attributes_once_and_sending_not_again() -> None:
    request = allocate()
    with mock.patch.object(stun.Message, "__bytes__", autospec=True, side_effect=stun.Message.__bytes__) as encode:
        request.seal(KEY)
        first, second = bytes(request), bytes(request)

    assert encode.call_count == 1  # aioice's add_message_integrity, add_fingerprint and bytes() make three
    assert first == second


def test_an_unsealed_request_encodes_its_raw_attributes_with_the_length_to_match() -> None:
    request = Request(stun.Method.ALLOCATE, family_attributes(IPV4_ALONE))
    request.attributes["LIFETIME"] = 600

    data = bytes(request)

    assert int.from_bytes(data[2:4], "big") == len(data) - stun.HEADER_LENGTH
    assert parse_stun(data).attributes["LIFETIME"] == 600
