"""The wire protocol between the main process and the transport process.

Every message is one msgpack map: ``{"type": <name>, "seq": <n>, ...fields}``. ``seq`` counts
the messages of one direction of one connection from 0, so that the receiver can tell a lost
or replayed message from a good one (see ``SequenceChecker``).

This module is the counterpart of Firefox's ``PMediaTransport.ipdl`` plus its
``DEFINE_IPC_SERIALIZER_WITH_FIELDS`` lines, with one difference that matters: decoding
*validates*. Each message type has a schema below; a message that does not match it exactly
(unknown type or field, wrong type, port or code out of range, oversized string, broken
invariant) raises ``ProtocolError`` and never reaches the code that acts on messages.

Messages, main -> transport:

===================  =========================================================================
``client_hello``     protocol_version, heartbeat_interval (seconds; 0: no heartbeats)
``heartbeat``        (nothing: the client is alive, every heartbeat_interval)
``gather``           pc_id, configuration (browser-shaped, with credentials), options
``close``            pc_id: stop gathering, release the peer connection's allocations
===================  =========================================================================

Messages, transport -> main:

===================  =========================================================================
``server_hello``     protocol_version, pid
``heartbeat``        (nothing: it says the transport is alive, every heartbeat_interval)
``candidate``        pc_id, info: CandidateInfo
``candidate_error``  pc_id, info: IceCandidateErrorInfo (Firefox: ``OnCandidateError``)
``server_answer``    pc_id, info: ServerAnswerInfo (a server URL answered; icegather's own)
``gathering_state``  pc_id, state: "gathering" | "complete"
``gather_rejected``  pc_id, reason: the transport refused a ``gather`` it could not run
===================  =========================================================================
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from shared.candidate import parse_candidate
from shared.dom_exception import DOMException
from shared.ice_config import IceConfiguration, parse_configuration
from shared.ice_url import MAX_URL_LENGTH
from shared.structs import (
    CandidateInfo,
    GatherOptions,
    IceCandidateErrorInfo,
    RetransmissionSchedule,
    ServerAnswerInfo,
)

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 256 * 1024
MAX_TEXT = 512
MAX_LOCAL_ADDRESSES = 64
MAX_PC_ID = 2**53
MAX_RTT_MS = 600_000.0
MAX_HEARTBEAT_INTERVAL = 3600.0


class ProtocolError(ValueError):
    """A message that breaks the protocol. The receiver drops it and counts it."""


# --- messages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientHello:
    protocol_version: int = PROTOCOL_VERSION
    heartbeat_interval: float = 0.0


@dataclass(frozen=True)
class Heartbeat:
    pass


@dataclass(frozen=True)
class ServerHello:
    pid: int
    protocol_version: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class Gather:
    pc_id: int
    configuration: IceConfiguration
    options: GatherOptions


@dataclass(frozen=True)
class Close:
    pc_id: int


@dataclass(frozen=True)
class Candidate:
    pc_id: int
    info: CandidateInfo


@dataclass(frozen=True)
class CandidateError:
    pc_id: int
    info: IceCandidateErrorInfo


@dataclass(frozen=True)
class ServerAnswer:
    pc_id: int
    info: ServerAnswerInfo


@dataclass(frozen=True)
class GatheringState:
    pc_id: int
    state: str


@dataclass(frozen=True)
class GatherRejected:
    pc_id: int
    reason: str


Message = (
    ClientHello | ServerHello | Heartbeat | Gather | Close | Candidate | CandidateError
    | ServerAnswer | GatheringState | GatherRejected
)

# --- field checks: each takes a decoded value and returns it (converted) or raises ------------

Check = Callable[[Any], Any]


# The checks test exact types (``value.__class__ is int``): msgpack makes nothing else, it is
# faster than isinstance, and it keeps bool out of int.


def integer(low: int, high: int) -> Check:
    def check(value: Any) -> int:
        if value.__class__ is not int:
            raise ProtocolError(f"expected an integer, got {type(value).__name__}")
        if not low <= value <= high:
            raise ProtocolError(f"{value} is outside {low}-{high}")
        return value

    return check


def text(max_length: int, *, empty: bool = True) -> Check:
    def check(value: Any) -> str:
        if value.__class__ is not str:
            raise ProtocolError(f"expected a string, got {type(value).__name__}")
        if len(value) > max_length:
            raise ProtocolError(f"a string of {len(value)} characters exceeds {max_length}")
        if not empty and not value:
            raise ProtocolError("an empty string where text is required")
        return value

    return check


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str:
        if value not in choices:
            raise ProtocolError(f"{str(value)[:40]!r} is not one of {', '.join(choices)}")
        return value

    return check


def ip_address(*, empty: bool) -> Check:
    as_text = text(64, empty=empty)

    def check(value: Any) -> str:
        as_text(value)
        if value == "":
            return value
        normal = _normal_ip(value)
        if normal is None:
            raise ProtocolError(f"{value!r} is not an IP address")
        return normal

    return check


@functools.lru_cache(maxsize=4096)
def _normal_ip(text: str) -> str | None:
    """The canonical form of an IP address, or None. Cached: a transport reports the same few
    local addresses over and over, and parsing them is the costliest check."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


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


def list_of(item: Check, max_items: int) -> Check:
    def check(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise ProtocolError(f"expected a list, got {type(value).__name__}")
        if len(value) > max_items:
            raise ProtocolError(f"a list of {len(value)} items exceeds {max_items}")
        return tuple(item(v) for v in value)

    return check


def candidate_line(value: Any) -> str:
    text(MAX_TEXT, empty=False)(value)
    try:
        parse_candidate(value)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None
    return value


def configuration(value: Any) -> IceConfiguration:
    if not isinstance(value, dict):
        raise ProtocolError(f"expected a map, got {type(value).__name__}")
    try:
        return parse_configuration(value)
    except (DOMException, TypeError) as exc:
        # The message names the URL, never the credential: see shared.ice_config.
        raise ProtocolError(f"configuration: {exc}") from None


def struct(cls: type) -> Check:
    return lambda value: _struct_decoder(cls)(value)


# --- schemas: the fields of every struct and message, in wire order ---------------------------

PC_ID = integer(0, MAX_PC_ID)
SEQ = integer(0, 2**63)

SCHEMAS: dict[type, dict[str, Check]] = {
    IceCandidateErrorInfo: {
        "address": ip_address(empty=True),
        "port": integer(0, 65535),
        "url": text(MAX_URL_LENGTH, empty=False),
        "error_code": integer(300, 799),
        "error_text": text(MAX_TEXT, empty=False),
    },
    CandidateInfo: {
        "candidate": candidate_line,
        "url": text(MAX_URL_LENGTH),
        "relay_protocol": one_of("", "udp", "tcp", "tls"),
    },
    ServerAnswerInfo: {
        "address": ip_address(empty=False),
        "port": integer(1, 65535),
        "url": text(MAX_URL_LENGTH, empty=False),
        "rtt_ms": number(0.0, MAX_RTT_MS),
    },
    RetransmissionSchedule: {
        "initial_rto": number(0.001, 60.0),
        "max_sends": integer(1, 16),
        "final_wait": integer(1, 64),
    },
    GatherOptions: {
        "schedule": struct(RetransmissionSchedule),
        "local_addresses": list_of(ip_address(empty=False), MAX_LOCAL_ADDRESSES),
        "verify_tls": boolean,
    },
    ClientHello: {"protocol_version": integer(0, 2**16), "heartbeat_interval": number(0.0, MAX_HEARTBEAT_INTERVAL)},
    Heartbeat: {},
    ServerHello: {"pid": integer(0, 2**31), "protocol_version": integer(0, 2**16)},
    Gather: {"pc_id": PC_ID, "configuration": configuration, "options": struct(GatherOptions)},
    Close: {"pc_id": PC_ID},
    Candidate: {"pc_id": PC_ID, "info": struct(CandidateInfo)},
    CandidateError: {"pc_id": PC_ID, "info": struct(IceCandidateErrorInfo)},
    ServerAnswer: {"pc_id": PC_ID, "info": struct(ServerAnswerInfo)},
    GatheringState: {"pc_id": PC_ID, "state": one_of("gathering", "complete")},
    GatherRejected: {"pc_id": PC_ID, "reason": text(MAX_TEXT, empty=False)},
}

# Rules that involve more than one field.
INVARIANTS: dict[type, tuple[tuple[Callable[[Any], bool], str], ...]] = {
    IceCandidateErrorInfo: (
        (lambda e: (e.address == "") == (e.port == 0), "address and port must be both set or both empty"),
    ),
}

TO_TRANSPORT: dict[str, type] = {
    "client_hello": ClientHello,
    "heartbeat": Heartbeat,
    "gather": Gather,
    "close": Close,
}
TO_MAIN: dict[str, type] = {
    "server_hello": ServerHello,
    "heartbeat": Heartbeat,
    "candidate": Candidate,
    "candidate_error": CandidateError,
    "server_answer": ServerAnswer,
    "gathering_state": GatheringState,
    "gather_rejected": GatherRejected,
}
TYPE_NAMES: dict[type, str] = {cls: name for name, cls in (TO_TRANSPORT | TO_MAIN).items()}


# --- encoding and decoding ------------------------------------------------------------------


_PACKER = msgpack.Packer()  # reused: building one per message costs more than packing


def encode(message: Message, seq: int) -> bytes:
    """Serialise one message with its sequence number."""
    body = _encode_value(message)
    return _PACKER.pack({"type": TYPE_NAMES[type(message)], "seq": seq, **body})


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
    return seq, _struct_decoder(accepted[kind])(envelope)


@functools.cache
def _struct_decoder(cls: type) -> Callable[[Any], Any]:
    """The decoder of one struct or message, built once from its schema and invariants (the
    codec's hot path: every event passes here)."""
    checks = tuple(SCHEMAS[cls].items())
    names = SCHEMAS[cls].keys()
    invariants = INVARIANTS.get(cls, ())
    where = cls.__name__

    def decode(value: Any) -> Any:
        if value.__class__ is not dict:
            raise ProtocolError(f"{where}: expected a map, got {type(value).__name__}")
        if value.keys() != names:
            unknown = set(value) - set(names)
            if unknown:
                raise ProtocolError(f"{where}: unknown field {str(sorted(map(str, unknown))[0])[:40]!r}")
            missing = next(name for name in names if name not in value)
            raise ProtocolError(f"{where}: missing field {missing!r}")
        kwargs = {}
        name = ""
        try:
            for name, check in checks:
                kwargs[name] = check(value[name])
        except ProtocolError as exc:
            raise ProtocolError(f"{where}.{name}: {exc}") from None
        result = cls(**kwargs)
        for holds, rule in invariants:
            if not holds(result):
                raise ProtocolError(f"{where}: {rule}")
        return result

    return decode


class SequenceChecker:
    """Checks the ``seq`` numbers of one direction of one connection.

    Each message must carry the next number. A lower one is a replay or a duplicate; a higher
    one means messages were lost in between (counted in ``lost``). Either is a protocol error:
    a receiver must never act on a message twice, nor pretend that nothing was lost. After a
    gap the checker expects the number after the one it saw, so one loss is reported once.
    """

    def __init__(self) -> None:
        self.expected = 0
        self.lost = 0

    def check(self, seq: int) -> None:
        if seq < self.expected:
            raise ProtocolError(f"sequence number {seq} was already used")
        if seq > self.expected:
            missing = seq - self.expected
            self.lost += missing
            self.expected = seq + 1
            raise ProtocolError(f"{missing} message(s) lost before sequence number {seq}")
        self.expected = seq + 1


class Inbox:
    """The receiving end of one direction of one connection: decodes, validates and
    sequence-checks each message, raising ``ProtocolError`` for anything it refuses."""

    def __init__(self, decode: Callable[[bytes], tuple[int, Message]]) -> None:
        self._decode = decode
        self.sequence = SequenceChecker()

    def read(self, data: bytes) -> Message:
        seq, message = self._decode(data)
        self.sequence.check(seq)
        return message
