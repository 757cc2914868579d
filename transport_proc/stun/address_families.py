"""Asking a TURN server for a relay of a given address family (RFC 8656 sections 7.2 and 18).

An Allocate without REQUESTED-ADDRESS-FAMILY asks for an IPv4 relay; a server whose relays are
IPv6 only answers 440. REQUESTED-ADDRESS-FAMILY asks for one family, ADDITIONAL-ADDRESS-FAMILY
(IPv6 only) for an IPv6 relay beside the IPv4 one: a *dual allocation*, whose success response
has an XOR-RELAYED-ADDRESS per family, or one and an ADDRESS-ERROR-CODE for the family the
server could not give. aioice knows none of these attributes; ``FamilyRequest`` adds them to
its message encoding, ahead of MESSAGE-INTEGRITY so that the integrity covers them.

coturn before 4.10 (Debian 12 and 13 ship 4.6) knows these two attributes by the numbers of the
TURN-bis drafts, 0x8032 and 0x8033, and not by RFC 8656's. A dual allocation asks with both
numbers: both are comprehension-optional, so a server ignores the one it does not know.
"""

from __future__ import annotations

import struct
from typing import Any, Literal

from aioice import stun

REQUESTED_ADDRESS_FAMILY = 0x0017
ADDITIONAL_ADDRESS_FAMILY = 0x8000
ADDRESS_ERROR_CODE = 0x8001
DRAFT_ADDITIONAL_ADDRESS_FAMILY = 0x8032
DRAFT_ADDRESS_ERROR_CODE = 0x8033
ADDRESS_ERROR_CODES = (ADDRESS_ERROR_CODE, DRAFT_ADDRESS_ERROR_CODE)

Family = Literal["IPv4", "IPv6"]
FAMILY_CODES: dict[Family, int] = {"IPv4": 0x01, "IPv6": 0x02}
FAMILY_NAMES: dict[int, Family] = {code: name for name, code in FAMILY_CODES.items()}
# The attribute that asks for a family: REQUESTED-ADDRESS-FAMILY, or ADDITIONAL-ADDRESS-FAMILY.
FamilyAsk = tuple[Literal["requested", "additional"], Family]
# What an Allocate asks for, in the order they are tried after a 440: both (the IPv4 default
# and an additional IPv6 relay), then IPv6 alone, then IPv4 alone (for a server whose default
# family is IPv6 but whose relays are IPv4).
DUAL: FamilyAsk = ("additional", "IPv6")
FALLBACKS: tuple[FamilyAsk, ...] = (("requested", "IPv6"), ("requested", "IPv4"))
TRAILER = ("MESSAGE-INTEGRITY", "FINGERPRINT")
TRAILER_SIZES = {"MESSAGE-INTEGRITY": 4 + 20, "FINGERPRINT": 4 + 4}  # type, length and value


def family_attributes(ask: FamilyAsk) -> tuple[tuple[int, bytes], ...]:
    """The attributes (type, value) that ask for ``ask``."""
    value = struct.pack("!B3x", FAMILY_CODES[ask[1]])
    if ask[0] == "requested":
        return ((REQUESTED_ADDRESS_FAMILY, value),)
    return (ADDITIONAL_ADDRESS_FAMILY, value), (DRAFT_ADDITIONAL_ADDRESS_FAMILY, value)


class FamilyRequest(stun.Message):
    """A STUN request with attributes aioice cannot encode (type, value), placed after its own
    attributes and before MESSAGE-INTEGRITY and FINGERPRINT."""

    def __init__(self, *args: Any, raw_attributes: tuple[tuple[int, bytes], ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.raw = b"".join(
            struct.pack("!HH", kind, len(value)) + value + bytes(stun.padding_length(len(value)))
            for kind, value in raw_attributes
        )

    def __bytes__(self) -> bytes:
        # aioice's encoding, with the raw attributes spliced in before MESSAGE-INTEGRITY and
        # FINGERPRINT (which aioice always adds last), and the length in the header to match.
        encoded = super().__bytes__()
        trailer = sum(TRAILER_SIZES[name] for name in TRAILER if name in self.attributes)
        split = len(encoded) - trailer
        body_length = len(encoded) - stun.HEADER_LENGTH + len(self.raw)
        return encoded[:2] + struct.pack("!H", body_length) + encoded[4:split] + self.raw + encoded[split:]


def parse_address_error(value: bytes) -> tuple[Family | None, int, str] | None:
    """ADDRESS-ERROR-CODE: the family the server could not allocate, the code and the reason."""
    if len(value) < 4:
        return None
    family = FAMILY_NAMES.get(value[0])
    code = (value[2] & 0x07) * 100 + value[3]
    return family, code, value[4:].decode("utf-8", errors="replace")
