"""Asking a TURN server for a relay of a given address family (RFC 8656 sections 7.2 and 18).

An Allocate without REQUESTED-ADDRESS-FAMILY asks for an IPv4 relay (what a browser sends); a
server whose relays are IPv6 only answers 440, and REQUESTED-ADDRESS-FAMILY asks for one family.
aioice does not know that attribute; it goes in a ``requests.Request``'s raw attributes, which
come ahead of MESSAGE-INTEGRITY so that the integrity covers them.

icegather does not ask for a dual allocation (ADDITIONAL-ADDRESS-FAMILY): servers that do not
know it may drop the whole request (node-turn does), where RFC 8489 section 15 says to ignore an
unknown comprehension-optional attribute, and a browser's plain Allocate works there. An IPv6
relay is asked for on an allocation of its own instead.
"""

from __future__ import annotations

import struct
from typing import Literal

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


def family_attributes(ask: FamilyAsk) -> tuple[tuple[int, bytes], ...]:
    """The attributes (type, value) that ask for ``ask``."""
    return ((REQUESTED_ADDRESS_FAMILY, struct.pack("!B3x", FAMILY_CODES[ask])),)

