"""Asking a TURN server for a relay of a given address family (RFC 8656 sections 7.2 and 18).

An Allocate without REQUESTED-ADDRESS-FAMILY asks for an IPv4 relay (what a browser sends); a
server whose relays are IPv6 only answers 440, and REQUESTED-ADDRESS-FAMILY asks for one family.
aioice does not know that attribute; ``FamilyRequest`` adds it to its message encoding, ahead of
MESSAGE-INTEGRITY so that the integrity covers it.

icegather does not ask for a dual allocation (ADDITIONAL-ADDRESS-FAMILY): servers that do not
know it may drop the whole request (node-turn does), where RFC 8489 section 15 says to ignore an
unknown comprehension-optional attribute, and a browser's plain Allocate works there. An IPv6
relay is asked for on an allocation of its own instead.
"""

from __future__ import annotations

import struct
from typing import Any, Literal

from aioice import stun

REQUESTED_ADDRESS_FAMILY = 0x0017

Family = Literal["IPv4", "IPv6"]
FAMILY_CODES: dict[Family, int] = {"IPv4": 0x01, "IPv6": 0x02}
# A family asked for with REQUESTED-ADDRESS-FAMILY.
FamilyAsk = Family
# An IPv6 relay alone: asked after a 440 to the browser's plain Allocate (a server whose relays
# are IPv6 only), and on its own socket beside an IPv4 allocation (a server with both).
IPV6_ALONE: FamilyAsk = "IPv6"
# IPv4 alone: asked last, for a server whose default family is IPv6 but whose relays are IPv4.
IPV4_ALONE: FamilyAsk = "IPv4"
TRAILER = ("MESSAGE-INTEGRITY", "FINGERPRINT")
TRAILER_SIZES = {"MESSAGE-INTEGRITY": 4 + 20, "FINGERPRINT": 4 + 4}  # type, length and value


def family_attributes(ask: FamilyAsk) -> tuple[tuple[int, bytes], ...]:
    """The attributes (type, value) that ask for ``ask``."""
    return ((REQUESTED_ADDRESS_FAMILY, struct.pack("!B3x", FAMILY_CODES[ask])),)


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
