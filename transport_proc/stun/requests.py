"""The STUN requests the transport sends, each encoded once.

A request is an aioice ``stun.Message``, whose attributes aioice packs. aioice's own
``add_message_integrity`` encodes the whole message to sign it, again to add FINGERPRINT, and
``bytes()`` encodes it a third time for the send: three encodings of each signed request (an
authenticated Allocate, a Refresh), two of each one with a FINGERPRINT alone (a Binding, the
first Allocate). A ``Request`` is sealed instead: its attributes are encoded once, and
MESSAGE-INTEGRITY (RFC 8489 section 14.5) and FINGERPRINT (section 14.7) are computed over
those bytes and appended to them, which ``bytes()`` then returns. The bytes are aioice's:
``tests/test_aioice_internals.py`` compares them.

``raw_attributes`` are attributes aioice cannot encode (type, value), such as
REQUESTED-ADDRESS-FAMILY (``address_families``): they follow aioice's own, before
MESSAGE-INTEGRITY, so that the integrity covers them.
"""

from __future__ import annotations

import struct

from aioice import stun

MESSAGE_INTEGRITY = 0x0008
FINGERPRINT = 0x8028


class Request(stun.Message):
    """A STUN request, encoded once when it is sealed (``seal``), as the last step before it is
    sent: its attributes must not change after that."""

    def __init__(self, method: stun.Method, raw_attributes: tuple[tuple[int, bytes], ...] = ()) -> None:
        super().__init__(message_method=method, message_class=stun.Class.REQUEST)
        self.raw = b"".join(
            struct.pack("!HH", kind, len(value)) + value + bytes(stun.padding_length(len(value)))
            for kind, value in raw_attributes
        )
        self._sealed: bytes | None = None

    def seal(self, key: bytes | None = None) -> None:
        """Add MESSAGE-INTEGRITY with ``key`` (unless None), then FINGERPRINT, as aioice's
        ``add_message_integrity`` and ``add_fingerprint`` would, on one encoding."""
        self.attributes.pop("MESSAGE-INTEGRITY", None)
        self.attributes.pop("FINGERPRINT", None)
        data = self._encoded()
        if key is not None:
            # aioice's helpers set the header's length to cover the attribute they compute.
            integrity = stun.message_integrity(data, key)
            self.attributes["MESSAGE-INTEGRITY"] = integrity
            data += struct.pack("!HH", MESSAGE_INTEGRITY, len(integrity)) + integrity
        fingerprint = stun.message_fingerprint(data)
        self.attributes["FINGERPRINT"] = fingerprint
        data += struct.pack("!HHI", FINGERPRINT, 4, fingerprint)
        self._sealed = stun.set_body_length(data, len(data) - stun.HEADER_LENGTH)

    def __bytes__(self) -> bytes:
        return self._sealed if self._sealed is not None else self._encoded()

    def _encoded(self) -> bytes:
        """aioice's encoding of the attributes, the raw ones after them, the length to match."""
        data = super().__bytes__() + self.raw
        return stun.set_body_length(data, len(data) - stun.HEADER_LENGTH) if self.raw else data
