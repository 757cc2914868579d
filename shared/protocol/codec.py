"""Encoding one message, and decoding and validating one (as msgpack unpacked it)."""

from __future__ import annotations

import functools
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
    kind: type = type(message)
    envelope = {"type": message.WIRE.name, "seq": seq}
    names = _field_names(kind)
    assert names is not None  # a message declares its WIRE
    _encode_fields(message, names, envelope)
    checker_for(kind)(message, envelope)
    packed: bytes = _PACKER.pack(envelope)
    return packed


# What msgpack takes as it is: most fields are one of these, and skip the recursion.
_PLAIN = frozenset({str, int, float, bool, type(None)})


@functools.cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    """The wire fields of a message or struct in order; None for any other type."""
    wire = getattr(cls, "WIRE", None)
    schema = SCHEMAS.get(cls) if wire is None else wire.fields
    return None if schema is None else tuple(schema)


def _encode_fields(value: Any, names: tuple[str, ...], into: dict[str, Any]) -> dict[str, Any]:
    for name in names:
        field = getattr(value, name)
        into[name] = field if field.__class__ in _PLAIN else _encode_value(field)
    return into


def _encode_value(value: Any) -> Any:
    kind: type = type(value)
    names = _field_names(kind)
    if names is not None:
        return _encode_fields(value, names, {})
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
