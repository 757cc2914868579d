"""What a value from a caller, a file or the wire is shaped like, as the W3C dictionaries and
sequences are read: any mapping, any sequence but text. A dict and a list are tested first: JSON
and msgpack make them, and asking the ABCs costs ten times as much, on every gathering and every
event in both processes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard


def is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    return type(value) is dict or isinstance(value, Mapping)


def is_list(value: object) -> TypeGuard[Sequence[Any]]:
    """A sequence, but not a string or bytes (whose items are characters or numbers)."""
    return type(value) is list or (isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)))
