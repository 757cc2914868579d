"""Encoding a message, and decoding and validating one against its schema."""

from __future__ import annotations

from typing import Any

import msgpack

from icegather.shared.ice_config import IceConfiguration
from icegather.shared.protocol.checks import ProtocolError
from icegather.shared.protocol.messages import TO_MAIN, TO_TRANSPORT, TYPE_NAMES, Message
from icegather.shared.protocol.schemas import SCHEMAS, SEQ, decoder_for

MAX_MESSAGE_BYTES = 256 * 1024


_PACKER = msgpack.Packer()  # reused: building one per message costs more than packing


def encode(message: Message, seq: int) -> bytes:
    """Serialise one message with its sequence number."""
    body = _encode_value(message)
    packed: bytes = _PACKER.pack({"type": TYPE_NAMES[type(message)], "seq": seq, **body})
    return packed


def decode_to_transport(data: bytes) -> tuple[int, Message]:
    """Decode and validate a message the main process sent. Raises ``ProtocolError``."""
    return _decode(data, TO_TRANSPORT)


def decode_to_main(data: bytes) -> tuple[int, Message]:
    """Decode and validate a message the transport sent. Raises ``ProtocolError``."""
    return _decode(data, TO_MAIN)


def _encode_value(value: Any) -> Any:
    schema = SCHEMAS.get(type(value))
    if schema is not None:
        return {name: _encode_value(getattr(value, name)) for name in schema}
    if isinstance(value, IceConfiguration):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_encode_value(v) for v in value]
    return value


def _decode(data: bytes, accepted: dict[str, type]) -> tuple[int, Message]:
    if not isinstance(data, bytes) or len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"a message must be at most {MAX_MESSAGE_BYTES} bytes")
    try:
        envelope = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise ProtocolError(f"not msgpack: {type(exc).__name__}") from None
    if not isinstance(envelope, dict):
        raise ProtocolError("a message must be a map")
    kind = envelope.pop("type", None)
    if kind not in accepted:
        raise ProtocolError(f"unknown message type {str(kind)[:40]!r}")
    seq = SEQ(envelope.pop("seq", None))
    return seq, decoder_for(accepted[kind])(envelope)
