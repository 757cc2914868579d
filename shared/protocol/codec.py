"""Encoding one message, and decoding and validating one (as msgpack unpacked it)."""

from __future__ import annotations

from typing import Any

import msgpack  # type: ignore[import-untyped]

from icegather.shared.config.ice_config import IceConfiguration
from icegather.shared.protocol.checks import InvalidMessage, ProtocolError, shown
from icegather.shared.protocol.messages import Message
from icegather.shared.protocol.schemas import SCHEMAS, SEQ, checker_for, decoder_for

_PACKER = msgpack.Packer()  # reused: building one per message costs more than packing


def encode(message: Message, seq: int) -> bytes:
    """Serialise one message with its sequence number, checked first against the schema the
    receiver checks it with: ``ProtocolError`` for a message that would be refused there."""
    body = _encode_value(message)
    kind: type = type(message)
    checker_for(kind)(message, body)
    packed: bytes = _PACKER.pack({"type": message.WIRE.name, "seq": seq, **body})
    return packed


def _encode_value(value: Any) -> Any:
    wire = getattr(value, "WIRE", None)
    schema = SCHEMAS.get(type(value)) if wire is None else wire.fields
    if schema is not None:
        return {name: _encode_value(getattr(value, name)) for name in schema}
    if isinstance(value, IceConfiguration):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_encode_value(v) for v in value]
    return value


def decode(envelope: Any, accepted: dict[str, type]) -> tuple[int, Message]:
    """Validate one unpacked message of a type in ``accepted``; its ``seq`` and the message.
    Raises ``ProtocolError``."""
    if not isinstance(envelope, dict):
        raise ProtocolError("a message must be a map")
    kind = envelope.pop("type", None)
    if kind.__class__ is not str:  # a list or a map is unhashable, and may be nested deep
        raise ProtocolError(f"a message type must be a string, got {type(kind).__name__}")
    if kind not in accepted:
        raise ProtocolError(f"unknown message type {shown(kind)}")
    seq = SEQ(envelope.pop("seq", None))
    try:
        message: Message = decoder_for(accepted[kind])(envelope)
    except ProtocolError as exc:
        raise InvalidMessage(str(exc), seq, accepted[kind], envelope) from None
    return seq, message
