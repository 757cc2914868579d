"""The TURN messages that move data through a relay (RFC 8656 sections 9-12), sans-IO.

Requests (CreatePermission, ChannelBind) are built by the ``AllocateSession`` that holds the
allocation's credential; this module builds what is not signed (Send indications, ChannelData)
and takes apart what the server relays back (Data indications, ChannelData).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from aioice import stun

from icegather.shared.net.endpoints import Address
from icegather.transport_proc.stun.parser import parse_stun

# The first channel number a client may bind (RFC 8656 section 12).
FIRST_CHANNEL = 0x4000
LAST_CHANNEL = 0x4FFF


def peer_attribute(peer: Address) -> dict[str, Any]:
    return {"XOR-PEER-ADDRESS": peer}


def channel_attributes(number: int, peer: Address) -> dict[str, Any]:
    return {"CHANNEL-NUMBER": number, "XOR-PEER-ADDRESS": peer}


def send_indication(peer: Address, data: bytes) -> bytes:
    """A Send indication: ``data`` to ``peer`` (section 11.1). Indications are not signed."""
    message = stun.Message(message_method=stun.Method.SEND, message_class=stun.Class.INDICATION)
    message.attributes["XOR-PEER-ADDRESS"] = peer
    message.attributes["DATA"] = data
    return bytes(message)


def channel_data(number: int, data: bytes, padded: bool) -> bytes:
    """A ChannelData message (section 12.4); over TCP and TLS padded to four bytes (12.5)."""
    padding = b"\x00" * (-len(data) % 4) if padded else b""
    return struct.pack("!HH", number, len(data)) + data + padding


@dataclass(frozen=True)
class Relayed:
    """Data the server relayed from a peer: from ``peer`` (a Data indication) or on ``channel``."""

    data: bytes
    peer: Address | None = None
    channel: int | None = None


def relayed(message: bytes) -> Relayed | None:
    """What a Data indication or ChannelData message carries, or None if it is neither or is
    malformed."""
    if len(message) >= 4 and FIRST_CHANNEL <= struct.unpack_from("!H", message)[0] <= LAST_CHANNEL:
        number, length = struct.unpack_from("!HH", message)
        payload = message[4 : 4 + length]
        return Relayed(payload, channel=number) if len(payload) == length else None
    try:
        indication = parse_stun(message)
    except ValueError:
        return None
    peer = indication.attributes.get("XOR-PEER-ADDRESS")
    data = indication.attributes.get("DATA")
    if (indication.message_method, indication.message_class) != (stun.Method.DATA, stun.Class.INDICATION):
        return None
    if peer is None or not isinstance(data, bytes):
        return None
    return Relayed(data, peer=(peer[0], peer[1]))
