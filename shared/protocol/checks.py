"""Field checks: each takes a value as msgpack decoded it and returns it (converted) or raises
``ProtocolError``. The schemas are built from them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from icegather.shared.config.dom_exception import DOMException
from icegather.shared.config.ice_config import IceConfiguration, parse_configuration
from icegather.shared.net.candidate import parse_candidate
from icegather.shared.net.endpoints import parse_ip

# The longest free text a message may carry (an error text, a reason).
MAX_TEXT = 512


class ProtocolError(ValueError):
    """A message that breaks the protocol. The receiver drops it and counts it."""


class InvalidMessage(ProtocolError):
    """A message of a known type, with a good sequence number, whose fields break the schema:
    its number counts as used (what follows is not taken for lost), and the receiver can tell
    which message it was, to answer a request it cannot run."""

    def __init__(self, reason: str, seq: int, kind: type, fields: dict[str, Any]) -> None:
        super().__init__(reason)
        self.seq, self.kind, self.fields = seq, kind, fields


Check = Callable[[Any], Any]


def shown(value: object) -> str:
    """A refused value as an error text quotes it: a string, cut short; anything else by its
    type only (a list nested a thousand deep has no text that is safe to make)."""
    return repr(value[:40]) if type(value) is str else f"a {type(value).__name__}"


# The checks test exact types (``type(value) is int``): msgpack makes nothing else, it is
# faster than isinstance, and it keeps bool out of int.


def integer(low: int, high: int) -> Check:
    def check(value: object) -> int:
        if type(value) is not int:
            raise ProtocolError(f"expected an integer, got {type(value).__name__}")
        if not low <= value <= high:
            raise ProtocolError(f"{value} is outside {low}-{high}")
        return value

    return check


def text(max_length: int, *, empty: bool = True) -> Check:
    def check(value: object) -> str:
        if type(value) is not str:
            raise ProtocolError(f"expected a string, got {type(value).__name__}")
        if len(value) > max_length:
            raise ProtocolError(f"a string of {len(value)} characters exceeds {max_length}")
        if not empty and not value:
            raise ProtocolError("an empty string where text is required")
        return value

    return check


def one_of(*choices: str) -> Check:
    def check(value: object) -> str:
        if type(value) is not str or value not in choices:
            raise ProtocolError(f"{shown(value)} is not one of {', '.join(choices)}")
        return value

    return check


def ip_address(*, empty: bool) -> Check:
    as_text = text(64, empty=empty)

    def check(value: object) -> str:
        address: str = as_text(value)
        if address == "":
            return address
        parsed = parse_ip(address)
        if parsed is None:
            raise ProtocolError(f"{shown(value)} is not an IP address")
        return parsed[0]

    return check


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ProtocolError(f"expected a boolean, got {type(value).__name__}")
    return value


def number(low: float, high: float) -> Check:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProtocolError(f"expected a number, got {type(value).__name__}")
        if not low <= value <= high:  # also rejects NaN
            raise ProtocolError(f"{value} is outside {low}-{high}")
        return float(value)

    return check


def optional(check: Check) -> Check:
    """``check``, or None (msgpack's nil)."""

    def optional_check(value: Any) -> Any:
        return None if value is None else check(value)

    return optional_check


def list_of(item: Check, max_items: int) -> Check:
    def check(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise ProtocolError(f"expected a list, got {type(value).__name__}")
        if len(value) > max_items:
            raise ProtocolError(f"a list of {len(value)} items exceeds {max_items}")
        return tuple(item(v) for v in value)

    return check


def candidate_line(value: Any) -> str:
    line: str = text(MAX_TEXT, empty=False)(value)
    try:
        parse_candidate(line)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None
    return line


def configuration(value: Any) -> IceConfiguration:
    if not isinstance(value, dict):
        raise ProtocolError(f"expected a map, got {type(value).__name__}")
    try:
        return parse_configuration(value)
    except (DOMException, TypeError) as exc:
        # The message names the URL, never the credential: see shared.config.ice_config.
        raise ProtocolError(f"configuration: {exc}") from None
