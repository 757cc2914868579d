"""Parsing of STUN messages that arrive from servers.

Requests are aioice ``stun.Message`` objects, sealed with aioice's MESSAGE-INTEGRITY and
FINGERPRINT functions (``requests``). Responses are parsed here instead of with
``stun.parse_message``, for two reasons:

* a server's bytes are untrusted, and one bad attribute must not hide the rest: aioice drops
  the whole message when a reason phrase is not UTF-8, so a 401 would look like a timeout;
* gathering needs ALTERNATE-SERVER (300 Try Alternate), which aioice
  does not know, and every XOR-RELAYED-ADDRESS of a dual allocation (aioice keeps one).

The result is a ``ServerMessage``: an aioice ``stun.Message`` that keeps the bytes its
MESSAGE-INTEGRITY covers and checks them itself, with aioice's public ``message_integrity``,
so nothing private of aioice's is touched. Anything that is not a well-formed STUN message
raises ``ValueError``.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Callable
from typing import Any

from aioice import stun

ALTERNATE_SERVER = 0x8023
ERROR_CODE = 0x0009
MESSAGE_INTEGRITY = 0x0008
FINGERPRINT = 0x8028
# aioice's enums by value: a lookup here costs a tenth of calling the enum, three times a gathering.
METHODS = {method.value: method for method in stun.Method}
CLASSES = {kind.value: kind for kind in stun.Class}  # the two bits make all four classes


class ServerMessage(stun.Message):
    """A STUN message from a server, with the bytes its MESSAGE-INTEGRITY authenticates."""

    def __init__(self, *, integrity_data: bytes | None, relayed: tuple[Any, ...] = (), **fields: Any) -> None:
        super().__init__(**fields)
        self.integrity_data = integrity_data
        # Every XOR-RELAYED-ADDRESS, in order (a dual allocation has one per address family).
        self.relayed_addresses = relayed
        # Where it came from, set by the channel that took it in (RFC 5780's CHANGE-REQUEST asks
        # for an answer from another address than the request went to).
        self.source: tuple[str, int] | None = None

    def check_message_integrity(self, key: bytes) -> bool:
        """Whether MESSAGE-INTEGRITY is present and right for ``key`` (RFC 8489 section 14.5)."""
        mac = self.attributes.get("MESSAGE-INTEGRITY")
        if self.integrity_data is None or not isinstance(mac, bytes):
            return False
        return hmac.compare_digest(mac, stun.message_integrity(self.integrity_data, key))


def parse_stun(data: bytes) -> ServerMessage:
    if len(data) < stun.HEADER_LENGTH:
        raise ValueError("shorter than a STUN header")
    message_type, length, cookie, transaction_id = struct.unpack_from("!HHI12s", data)
    if message_type & 0xC000 or cookie != stun.COOKIE:
        raise ValueError("not a STUN message")
    if length != len(data) - stun.HEADER_LENGTH or length % 4:
        raise ValueError("STUN length field does not match the message")
    method = METHODS.get(message_type & 0x3EEF)
    if method is None:
        raise ValueError("unknown STUN method")
    attributes, integrity_data, relayed = _attributes(data, transaction_id)
    return ServerMessage(
        message_method=method,
        message_class=CLASSES[message_type & 0x0110],
        transaction_id=transaction_id,
        attributes=attributes,
        integrity_data=integrity_data,
        relayed=tuple(relayed),
    )


def _attributes(data: bytes, transaction_id: bytes) -> tuple[dict[str, Any], bytes | None, list[Any]]:
    attributes: dict[str, Any] = {}
    relayed: list[Any] = []
    integrity_data = None
    position = stun.HEADER_LENGTH
    while position < len(data):
        if position + 4 > len(data):
            raise ValueError("truncated STUN attribute header")
        kind, size = struct.unpack_from("!HH", data, position)
        value = data[position + 4 : position + 4 + size]
        if len(value) != size:
            raise ValueError("truncated STUN attribute")
        # Attributes after MESSAGE-INTEGRITY are not authenticated; only FINGERPRINT may follow.
        if integrity_data is None or kind == FINGERPRINT:
            name, decoded = _decode_attribute(kind, value, transaction_id)
            if name is not None and name not in attributes:
                attributes[name] = decoded
            if name == "XOR-RELAYED-ADDRESS" and decoded is not None:
                relayed.append(decoded)
            if kind == FINGERPRINT and decoded != stun.message_fingerprint(data[:position]):
                raise ValueError("STUN fingerprint does not match")
            if kind == MESSAGE_INTEGRITY:
                integrity_data = data[:position]
        position += 4 + size + stun.padding_length(size)
    return attributes, integrity_data, relayed


def _decode_attribute(kind: int, value: bytes, transaction_id: bytes) -> tuple[str | None, object]:
    if kind == ERROR_CODE:
        return "ERROR-CODE", _error_code(value)
    if kind == ALTERNATE_SERVER:
        return "ALTERNATE-SERVER", _or_none(stun.unpack_address, value)
    entry = stun.ATTRIBUTES_BY_TYPE.get(kind)
    if entry is None:
        return None, None
    _, name, _, unpack = entry
    if unpack is stun.unpack_xor_address:
        return name, _or_none(unpack, value, transaction_id)
    return name, _or_none(unpack, value)


def _error_code(value: bytes) -> tuple[int, str]:
    if len(value) < 4:
        raise ValueError("ERROR-CODE attribute is shorter than 4 bytes")
    code = (value[2] & 0x07) * 100 + value[3]
    return code, value[4:].decode("utf-8", errors="replace")


def _or_none(unpack: Callable[..., Any], *args: Any) -> Any:
    """A malformed optional attribute counts as absent; the caller decides what it needed."""
    try:
        return unpack(*args)
    except (ValueError, struct.error, UnicodeDecodeError):
        return None
