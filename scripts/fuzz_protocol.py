#!/usr/bin/env python3
"""Fuzz the wire protocol: both decoders (``decode_to_main``, ``decode_to_transport``), then
the main process's event-building path (``PeerConnectionObserver`` -> DOM events) for whatever
the decoder lets through to it.

Each case is one frame sent one way, to the main process or to the transport:

* random bytes, or a valid message with random byte mutations;
* a msgpack map shaped like a message of that direction, mostly valid, where any value may be
  of any msgpack type at every level: ``type`` and ``seq``, a message's fields, its ``info``
  struct, ``options`` (GatherOptions and its RetransmissionSchedule), ``configuration`` (its
  iceServers entries, their urls, username and credential). Values include lists and maps
  nested up to 1,100 deep (msgpack refuses past 1,023), text and bytes up to 300,000 long
  (a frame holds 256 KiB), 64-bit extremes, NaN, ext types and timestamps;
* valid messages with a bad one (one of the above) in the middle: when the frame is msgpack,
  the messages before the bad one must come out exactly as they were sent.

Every case must end in one of two ways: a ``ProtocolError`` from the decoder (``InvalidMessage``
is one), or messages, which the main process's observer turns into events (or refuses)
without raising. Anything else is a crash: the script prints each kind once, with the
smallest input that raised it, and exits 1.

    python scripts/fuzz_protocol.py                   # 100,000 cases (about 3 minutes, 2-core VM)
    python scripts/fuzz_protocol.py --quick           # the suite's run: 1,000 cases, the same each run
"""

from __future__ import annotations

import argparse
import dataclasses
import operator
import os
import re
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import msgpack
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from icegather.main_proc.dom.peerconnection import PeerConnectionObserver, RTCPeerConnection
from icegather.main_proc.link.routing import Router
from icegather.shared import protocol, structs
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule
from icegather.shared.config.ice_config import parse_configuration
from icegather.shared.protocol.frames import unpack
from icegather.shared.protocol.messages import TO_MAIN, TO_TRANSPORT
from icegather.shared.protocol.schemas import SCHEMAS, fields_of
from icegather.shared.vocabulary.audit_plan import AUDIT_CHECKS, AUDIT_OUTCOMES
from icegather.shared.vocabulary.failure_causes import FAILURE_CAUSES
from icegather.shared.vocabulary.relay_outcomes import NOT_CHECKED_REASONS
from icegather.shared.vocabulary.server_notes import SERVER_NOTES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL_EXAMPLES = 100_000
QUICK_EXAMPLES = 1000
# The stack frames a process has left when it decodes a frame: Python's default limit (1,000)
# less what runs it (the event loop, the receiving coroutine, ...). Each case runs with these.
FREE_FRAMES = 950
TO_THE_MAIN_PROCESS, TO_THE_TRANSPORT = "to the main process", "to the transport"
TABLES: dict[str, dict[str, type[protocol.Message]]] = {TO_THE_MAIN_PROCESS: TO_MAIN, TO_THE_TRANSPORT: TO_TRANSPORT}
DECODERS: dict[str, Callable[[bytes], Iterator[tuple[int, protocol.Message]]]] = {
    TO_THE_MAIN_PROCESS: protocol.decode_to_main,
    TO_THE_TRANSPORT: protocol.decode_to_transport,
}

CONFIGURATION = parse_configuration(
    {
        "iceServers": [
            {"urls": ["stun:stun.fuzz.invalid", "turn:[::1]:3478?transport=tcp"], "username": "u", "credential": "p"}
        ],
        "iceTransportPolicy": "relay",
    }
)
OPTIONS = GatherOptions(
    RetransmissionSchedule(0.1, 3, 2), ("127.0.0.1", "::1"), verify_tls=False, trace=True
)
# Valid messages of each direction, (encoded, message): what mutations start from, and what
# goes around a bad message in a frame.
VALID: dict[str, list[tuple[bytes, protocol.Message]]] = {
    direction: [(protocol.encode(message, seq), message) for seq, message in enumerate(messages)]
    for direction, messages in {
        TO_THE_MAIN_PROCESS: [
            protocol.ServerHello(pid=42),
            protocol.Heartbeat(),
            protocol.Candidate(1, structs.CandidateInfo("candidate:1 1 udp 2122260223 192.0.2.2 50000 typ host")),
            protocol.Candidate(
                1,
                structs.CandidateInfo(
                    "candidate:2 1 udp 16777215 203.0.113.9 61000 typ relay raddr 192.0.2.2 rport 50000",
                    "turn:turn.example.org",
                    "udp",
                ),
            ),
            protocol.CandidateError(
                1,
                structs.IceCandidateErrorInfo(
                    "192.0.2.2", 50000, "turn:t.example", 401, "Unauthorized", "server_error"
                ),
            ),
            protocol.CandidateError(
                1, structs.IceCandidateErrorInfo("", 0, "stun:s.invalid", 701, "host lookup failed", "dns")
            ),
            protocol.ServerAnswer(1, structs.ServerAnswerInfo("::1", 4000, "stun:[::1]", 0.5, "::1")),
            protocol.ServerAnswer(1, structs.ServerAnswerInfo("::1", 4000, "stun:[::1]", 0.5, "::1",
                                                              software="Coturn-4.6.1 'Gorst'")),
            protocol.ServerNote(1, structs.ServerNoteInfo("::1", 4000, "stun:[::1]", "software", "coturn-4.6.1")),
            protocol.RelayCheck(
                1,
                structs.RelayCheckInfo(
                    address="127.0.0.1", port=4000, url="turn:t.example", relayed_address="127.0.0.1",
                    relayed_port=5000, probes=6, out_received=6, back_received=6, indication_probes=3,
                    indication_out_received=3, indication_back_received=3, channel_probes=3, channel_out_received=3,
                    channel_back_received=3, stray_probes=0, out_source_address="127.0.0.1", out_source_port=5000,
                    rtt_ms=0.4, back_cause="", failed_request="", error_code=0, error_cause="", error_text="",
                    not_checked_reason="",
                ),
            ),
            protocol.RelayQuality(
                1,
                structs.RelayQualityInfo(
                    "127.0.0.1", 4000, "turn:t.example", "127.0.0.1", 5000, "turn:u.example", 0, "127.0.0.1", 5002,
                    "channel", "udp", 1.0, 50, 160, 50, 49, 49, 48, 1, 0, 0.2, 0.3, 0.5, 0.6, 0.9, 1.1, 100.0,
                    (5,) * 10, (0,) * 9 + (2,), (0.6,) * 10, "", "",
                ),
            ),
            protocol.NatTest(
                1,
                structs.NatTestInfo(
                    "127.0.0.1", 4000, "stun:s.example", "filtering_change_port", "127.0.0.2", 3478, True,
                    "127.0.0.2", 3479, "127.0.0.1", 4000,
                ),
            ),
            protocol.TransactionTrace(
                1,
                structs.TransactionTraceInfo(
                    "stun:[::1]", "::1", 4000, "::1", 3478, "Binding", (0.0, 100.0), 120.5, "answer", 0, "", 20.5
                ),
            ),
            protocol.AuditResult(
                1,
                structs.AuditResultInfo(
                    "turn:t.example", "peer_permission", "127.0.0.1", "refused", 403, "Forbidden", 0
                ),
            ),
            protocol.GatheringState(1, "complete"),
            protocol.GatherRejected(1, "internal error"),
            protocol.AuditState(1, "auditing"),
            protocol.AuditRejected(1, "this id is already in use"),
            protocol.Draining("certificate_files_replaced", ("/etc/ssl/certs/ca-certificates.crt",)),
        ],
        TO_THE_TRANSPORT: [
            protocol.ClientHello(heartbeat_interval=0.5),
            protocol.Gather(1, CONFIGURATION, OPTIONS),
            protocol.Close(1),
            protocol.Audit(2, CONFIGURATION, OPTIONS),
            protocol.CloseAudit(2),
        ],
    }.items()
}


@dataclasses.dataclass(frozen=True)
class Nested:
    """A list (``opener`` b"\\x91") or a map (b"\\x81\\xa1x": key "x") of one item, ``depth``
    deep around ``leaf``: msgpack's packer refuses to nest past 511."""

    depth: int
    opener: bytes
    leaf: object


def pack(value: object) -> bytes:
    """msgpack, as ``msgpack.packb`` makes it, with ``Nested`` values at any depth."""
    if isinstance(value, Nested):
        return value.opener * value.depth + pack(value.leaf)
    if isinstance(value, dict):
        return _header(len(value), 0x80, b"\xde") + b"".join(pack(k) + pack(v) for k, v in value.items())
    if isinstance(value, list):
        return _header(len(value), 0x90, b"\xdc") + b"".join(pack(v) for v in value)
    packed: bytes = msgpack.packb(value)
    return packed


def _header(length: int, fixed: int, sized: bytes) -> bytes:
    return bytes([fixed | length]) if length < 16 else sized + length.to_bytes(2, "big")


# Values of every msgpack type. Field values that test the edge of every check come from
# PLAUSIBLE and LIKELY; these are the ones no sender should ever send.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.sampled_from([-(2**63), -1, 2**31, 2**53 + 1, 2**63, 2**64 - 1]),
    st.floats(),
    st.text(max_size=32),
    st.binary(max_size=32),
    st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=12)),  # -1 is a Timestamp
    st.builds(msgpack.Timestamp, st.integers(0, 2**34 - 1), st.integers(0, 999_999_999)),
)
# Past MAX_TEXT (512), the longest URL (1,024), 16-bit lengths, a frame (256 KiB).
long_values = st.builds(
    operator.mul, st.sampled_from(["x", "\u00e9", b"\x00"]), st.sampled_from([513, 1025, 70_000, 300_000])
)
# Past msgpack's packer (511) and its unpacker (1,023), and where Python's recursion limit
# (1,000) meets anything that walks a value recursively.
nested = st.builds(
    Nested,
    st.sampled_from([100, 511, 512, 900, 990, 1000, 1022, 1023, 1024, 1100]) | st.integers(2, 1100),
    st.sampled_from([b"\x91", b"\x81\xa1x"]),
    scalars,
)
shallow = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)
PLAUSIBLE = [
    "", "192.0.2.2", "::1", "fe80::1%eth0", "999.1.1.1", 0, 1, 65535, 65536, -1, 299, 300, 699, 700, 799, 800,
    "x" * 600, "stun:stun.fuzz.invalid", "turn:t.invalid?transport=tcp", "gathering", "complete", "new", "udp", "tcp",
    "tls", "candidate:1 1 udp 2122260223 192.0.2.2 50000 typ host", "candidate:garbage", 0.5, -1.0, float("nan"),
    float("inf"), True, False, None, 2**53, 2**53 + 1, [], {}, ["stun:stun.fuzz.invalid"], {"type": "heartbeat"},
]
values = st.one_of(st.sampled_from(PLAUSIBLE), scalars, shallow, long_values, nested)

# Mostly valid values per field, so that many cases get through the decoder (and, to the main
# process, to the event path).
addresses = st.ip_addresses().map(str) | st.just("")
# Names under .invalid and loopback only: scripts/fuzz_confined_transport.py sends these cases
# to a real transport, which must send nothing beyond this machine.
GOOD_URLS = [
    "stun:stun.fuzz.invalid", "stun:[::1]:3478", "turn:t.invalid?transport=tcp", "turns:127.0.0.1:5349",
    "stun:s.invalid", "STUN:X.INVALID",
]
BAD_URLS = ["turn:alice:secret@t.example", "stun:[::1", "stun:host:99999", "stun:" + "a" * 1100, "http://x", ""]
good_urls = st.sampled_from(GOOD_URLS)
urls = good_urls | st.sampled_from(BAD_URLS) | st.text(max_size=40) | st.text(max_size=40).map("stun:".__add__)
LIKELY: dict[str, st.SearchStrategy[object]] = {
    "pid": st.integers(0, 2**31),
    "protocol_version": st.sampled_from([protocol.PROTOCOL_VERSION, 0, 2**16 + 1]),
    "heartbeat_interval": st.floats(0, 4000),
    "pc_id": st.integers(0, 2**53 + 1),
    "audit_id": st.integers(0, 2**53 + 1),
    "address": addresses,
    "port": st.integers(0, 65535),
    "url": urls,  # any text of 1 to 1,024 characters in a report
    "error_code": st.integers(300, 799),
    "error_text": st.text(min_size=1, max_size=140),
    "software": st.text(max_size=140),
    "candidate": st.builds(
        "candidate:{} 1 {} {} {} {} typ {}".format,
        st.integers(0, 2**32),
        st.sampled_from(["udp", "tcp", "UDP"]),
        st.integers(0, 2**32 - 1),
        addresses,
        st.integers(0, 65535),
        st.sampled_from(["host", "srflx", "relay", "prflx", "bogus"]),
    ),
    "relay_protocol": st.sampled_from(["", "udp", "tcp", "tls"]),
    "rtt_ms": st.floats(0, 1000) | st.none(),
    "state": st.sampled_from(["gathering", "complete", "auditing"]),
    "reason": st.text(min_size=1, max_size=40),
    "server_address": addresses,
    "relayed_address": addresses,
    "relayed_port": st.integers(0, 65535),
    "probes": st.integers(0, 6),
    "out_received": st.integers(0, 6),
    "back_received": st.integers(0, 6),
    "out_source_address": addresses,
    "out_source_port": st.integers(0, 65535),
    "back_cause": st.sampled_from(["", "port_unreachable"]),
    "failed_request": st.sampled_from(["", "CreatePermission", "ChannelBind"]),
    "error_cause": st.sampled_from(["", "server_error", "answer_unverified"]),
    "not_checked_reason": st.sampled_from(["", *NOT_CHECKED_REASONS, "bogus"]),
    "note": st.sampled_from([*SERVER_NOTES, "bogus"]),
    "detail": st.text(max_size=40),
    "check": st.sampled_from([*AUDIT_CHECKS, "bogus"]),
    "subject": st.sampled_from(["", "127.0.0.1", "TLSv1"]),
    "outcome": st.sampled_from([*AUDIT_OUTCOMES, "answer", "error"]),
    "expires": st.integers(0, 2**31),
    "relay": addresses,
    "method": st.sampled_from(["Binding", "Allocate", "Bind"]),
    "sends_ms": st.lists(st.floats(0, 100), max_size=3),
    "ended_ms": st.floats(0, 200),
    "cause": st.sampled_from(["", *FAILURE_CAUSES[:3], "bogus"]),
    "server_port": st.integers(0, 65535),
    "initial_rto": st.floats(0, 2),
    "max_sends": st.integers(0, 9),
    "final_wait": st.integers(0, 17),
    "local_addresses": st.lists(addresses, max_size=3) | addresses.map(lambda address: [address] * 65),
    "verify_tls": st.booleans(),
    "relay_check": st.booleans(),
    "trace": st.booleans(),
    "quality_seconds": st.floats(0, 700),
    "quality_rate": st.integers(0, 1001),
    "mechanism": st.sampled_from(["channel", "indication", "bogus"]),
    "transport": st.sampled_from(["udp", "tcp", "tls", "sctp"]),
    "test": st.sampled_from(["mapping_other_address", "filtering_change_port", "bogus"]),
    "series_sent": st.lists(st.integers(0, 10), max_size=4),
    "server_index": st.integers(0, 64),
}
# The fields that hold a struct, with that struct.
STRUCTS: dict[tuple[type, str], type] = {
    **{
        (message, "info"): info
        for message, info in {
            protocol.Candidate: structs.CandidateInfo,
            protocol.CandidateError: structs.IceCandidateErrorInfo,
            protocol.ServerAnswer: structs.ServerAnswerInfo,
            protocol.ServerNote: structs.ServerNoteInfo,
            protocol.RelayCheck: structs.RelayCheckInfo,
            protocol.RelayQuality: structs.RelayQualityInfo,
            protocol.NatTest: structs.NatTestInfo,
            protocol.AuditResult: structs.AuditResultInfo,
            protocol.TransactionTrace: structs.TransactionTraceInfo,
        }.items()
    },
    (protocol.Gather, "options"): GatherOptions,
    (protocol.Audit, "options"): GatherOptions,
    (GatherOptions, "schedule"): RetransmissionSchedule,
}
CLASSES = (*TO_MAIN.values(), *TO_TRANSPORT.values(), *SCHEMAS)
FIELDS = sorted({name for cls in CLASSES for name in fields_of(cls)})
# Every field of every message and struct, as the decoder names it when it refuses one.
EVERY_FIELD = {f"{cls.__name__}.{name}" for cls in CLASSES for name in fields_of(cls)}


def one_in(draw: st.DrawFn, n: int) -> bool:
    return draw(st.integers(1, n)) == 1


def bases() -> dict[type, list[dict[str, object]]]:
    """The fields of each message and struct in the valid messages, as they are on the wire:
    what mostly-valid messages start from (the rules between fields hold there)."""
    found: dict[type, list[dict[str, object]]] = {}

    def add(cls: type, fields: Any) -> None:
        found.setdefault(cls, []).append(fields)
        for name, value in fields.items():
            if (cls, name) in STRUCTS:
                add(STRUCTS[cls, name], value)

    for encoded, message in (pair for pairs in VALID.values() for pair in pairs):
        add(type(message), {k: v for k, v in msgpack.unpackb(encoded).items() if k not in ("type", "seq")})
    return found


BASES = bases()


@st.composite
def ice_urls(draw: st.DrawFn) -> object:
    """An iceServers entry's urls: mostly a good URL or a list of them, else anything."""
    roll = draw(st.integers(1, 6))
    if roll == 1:
        return draw(values | urls.map(lambda url: [url] * 65) | st.lists(st.lists(urls, max_size=2), max_size=2))
    if roll == 2:
        return draw(urls | st.lists(urls, max_size=3))
    return draw(good_urls | st.lists(good_urls, max_size=3))


@st.composite
def ice_server(draw: st.DrawFn) -> object:
    """An iceServers entry, mostly well formed."""
    if one_in(draw, 10):
        return draw(values)
    entry: dict[str, object] = {}
    if not one_in(draw, 20):
        entry["urls"] = draw(ice_urls())
    for key in ("username", "credential"):
        if not one_in(draw, 8):
            entry[key] = draw(values if one_in(draw, 6) else st.text(max_size=16) | st.just("x" * 513))
    if one_in(draw, 20):
        entry[draw(st.sampled_from(["credentialType", "extra", ""]))] = draw(values)
    return entry


@st.composite
def configurations(draw: st.DrawFn) -> dict[str, object]:
    """An RTCConfiguration, mostly well formed."""
    configuration: dict[str, object] = {}
    if not one_in(draw, 10):
        configuration["iceServers"] = draw(
            values if one_in(draw, 10) else st.lists(ice_server(), max_size=3) | ice_server().map(lambda s: [s] * 65)
        )
    if one_in(draw, 3):
        configuration["iceTransportPolicy"] = draw(values if one_in(draw, 4) else st.sampled_from(["all", "relay"]))
    if one_in(draw, 3):
        configuration["iceCandidatePoolSize"] = draw(values if one_in(draw, 4) else st.integers(0, 256))
    return configuration


LIKELY["configuration"] = configurations()


def inner(draw: st.DrawFn, cls: type, name: str, value: object) -> object:
    """A valid field's value, or, for a struct or a configuration, one drawn from it."""
    if (cls, name) in STRUCTS:
        return draw(fields_drawn(STRUCTS[cls, name], value))
    return draw(configurations()) if name == "configuration" and one_in(draw, 2) else value


@st.composite
def fields_drawn(draw: st.DrawFn, cls: type, base: dict[str, object]) -> dict[str, object]:
    """The fields of a message or struct: a valid one's, where, at each level, a field or two
    now and then takes a plausible value (LIKELY) or one of any type, one is dropped, or one
    too many is added."""
    body = {name: inner(draw, cls, name, value) for name, value in base.items()}
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 1, 2])) if body else 0):
        name = draw(st.sampled_from(sorted(body)))
        body[name] = draw(LIKELY[name] if name in LIKELY and not one_in(draw, 2) else values)
    if body and one_in(draw, 15):
        del body[draw(st.sampled_from(sorted(body)))]
    if one_in(draw, 20):
        body[draw(st.sampled_from(FIELDS))] = draw(values)
    return body


@st.composite
def message_map(draw: st.DrawFn, direction: str) -> dict[str, object]:
    """A map shaped like a message of ``direction``: its ``type`` now and then missing, any
    value, or a message of the other direction; its ``seq`` now and then missing or any value."""
    table = TABLES[direction]
    name = draw(st.sampled_from(sorted(table)))
    message: dict[str, object] = {}
    roll = draw(st.integers(1, 20))
    if roll == 2:
        message["type"] = draw(values)
    elif roll == 3:  # a message the other side sends
        message["type"] = draw(st.sampled_from(sorted(TO_TRANSPORT if table is TO_MAIN else TO_MAIN)))
    elif roll > 3:
        message["type"] = name
    roll = draw(st.integers(1, 20))
    if roll == 2:
        message["seq"] = draw(values)
    elif roll > 2:
        message["seq"] = draw(st.integers(0, 9))
    message.update(draw(fields_drawn(table[name], draw(st.sampled_from(BASES[table[name]])))))
    return message


@st.composite
def mutated(draw: st.DrawFn, direction: str) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID[direction]))[0])
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, max(0, len(data) - 1)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if action == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete" and data:
            del data[position]
        elif action == "truncate":
            del data[position:]
    return bytes(data)


@dataclasses.dataclass(frozen=True)
class Case:
    direction: str
    shape: str
    data: bytes = dataclasses.field(repr=False)
    # The valid messages the frame starts with, before a bad one.
    sent_first: tuple[protocol.Message, ...] = ()


@st.composite
def cases(draw: st.DrawFn) -> Case:
    direction = draw(st.sampled_from(sorted(TABLES)))
    shape = draw(st.sampled_from(["random bytes", "mutated message", "message map", "bad message in a frame"]))
    if shape == "random bytes":
        return Case(direction, shape, draw(st.binary(max_size=512)))
    if shape == "mutated message":
        return Case(direction, shape, draw(mutated(direction)))
    if shape == "message map":
        return Case(direction, shape, pack(draw(message_map(direction))))
    before, after = (draw(st.lists(st.sampled_from(VALID[direction]), min_size=1, max_size=3)) for _ in range(2))
    bad = draw(message_map(direction).map(pack) | mutated(direction) | st.binary(max_size=16))
    data = b"".join(encoded for encoded, _ in before) + bad + b"".join(encoded for encoded, _ in after)
    return Case(direction, shape, data, tuple(message for _, message in before))


def deliver(message: protocol.Message) -> str:
    """Hand a decoded message to a gathering peer connection's observer, as the client does."""
    pc = RTCPeerConnection({"iceServers": [{"urls": "stun:stun.example.org"}]})
    fired: list[object] = []
    for kind in ("icecandidate", "icecandidateerror", "iceserveranswer", "icerelaycheck", "icegatheringstatechange"):
        pc.addEventListener(kind, fired.append)
    router = Router()
    pc_id = router.add(PeerConnectionObserver(pc))
    pc._gathering_state_changed("gathering")
    route = message.WIRE.route
    if route is not None:
        router.route(dataclasses.replace(message, **{route.job_field: pc_id}))
    return "with an event" if len(fired) > 1 else "without"


QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
FIELD_PATH = re.compile(r"(?:\w+\.\w+: )+")


def where_refused(error: protocol.ProtocolError) -> tuple[str, str | None]:
    """Where a refusal happened: the message whose fields were refused, or else what the
    refusal says (before any colon, quoted values and numbers masked); and the innermost field
    it names, if any."""
    text = QUOTED.sub("'…'", str(error))
    text = re.sub(r"got \w+", "got …", re.sub(r"(?<!\d)-?\d+", "N", text))
    path = FIELD_PATH.match(text)
    innermost = path.group().rstrip(": ").rsplit(": ", 1)[-1] if path else None
    return text.split(": ", 1)[0].split(".", 1)[0], innermost


@dataclasses.dataclass
class Result:
    outcomes: Counter[str] = dataclasses.field(default_factory=Counter)
    refused: Counter[str] = dataclasses.field(default_factory=Counter)
    fields_refused: set[str] = dataclasses.field(default_factory=set)
    # A kind of crash (the exception and where it was raised): how often, and the smallest
    # input that raised it, with its traceback.
    crashes: Counter[str] = dataclasses.field(default_factory=Counter)
    smallest: dict[str, tuple[Case, str]] = dataclasses.field(default_factory=dict)

    def crash(self, key: str, case: Case, trace: str) -> None:
        self.crashes[key] += 1
        if key not in self.smallest or len(case.data) < len(self.smallest[key][0].data):
            self.smallest[key] = (case, trace)

    def raised(self, where: str, case: Case, exc: Exception) -> None:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        place = f"{os.path.relpath(frame.filename, ROOT)}:{frame.lineno}"
        self.crash(f"{where}: {type(exc).__name__} at {place}", case, traceback.format_exc())


def stack_depth() -> int:
    frame, depth = sys._getframe(1), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def run(case: Case, result: Result) -> None:
    outcomes = result.outcomes
    outcomes["cases"] += 1
    outcomes[f"cases {case.direction}"] += 1
    outcomes[f"cases: {case.shape}"] += 1
    decoded: list[protocol.Message] = []
    try:
        decoded.extend(message for _, message in DECODERS[case.direction](case.data))
    except protocol.ProtocolError as error:
        outcomes[f"refused {case.direction}"] += 1
        where, innermost = where_refused(error)
        result.refused[where] += 1
        if innermost is not None:
            result.fields_refused.add(innermost)
    except Exception as exc:
        result.raised("the decoder", case, exc)
        return
    else:
        outcomes[f"accepted {case.direction}"] += 1
    if case.sent_first and decoded[: len(case.sent_first)] != list(case.sent_first):
        try:
            unpack(case.data)
        except protocol.ProtocolError:
            pass  # not msgpack: nothing comes out of it
        else:
            result.crash("the frame: the messages before a bad one changed", case, f"they came out as {decoded}")
    elif case.sent_first:
        outcomes["frames whose messages before the bad one came out"] += 1
    if case.direction == TO_THE_MAIN_PROCESS:
        for message in decoded:
            try:
                outcomes[f"delivered {deliver(message)}"] += 1
            except Exception as exc:
                result.raised("the event path", case, exc)


def seed_cases() -> tuple[Case, ...]:
    """A gather refused at each level its options nest (the options, their schedule): the
    fuzzer's seed corpus, so that which levels a run reaches does not hang on what a change of
    the message tables happens to make Hypothesis draw."""
    gather = BASES[protocol.Gather][0]
    options = gather["options"]
    assert isinstance(options, dict)
    refused = (
        {**options, "quality_rate": 0},
        {**options, "schedule": {**options["schedule"], "initial_rto": 0}},
    )
    return tuple(
        Case(TO_THE_TRANSPORT, "message map", pack({"type": "gather", "seq": 0, **gather, "options": bad}))
        for bad in refused
    )


def fuzz(examples: int, derandomize: bool = False) -> Result:
    """Run ``examples`` cases; ``derandomize`` makes them the same cases every run (the suite's
    quick run, so that what it counts cannot change from run to run)."""
    result = Result()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=derandomize,
        suppress_health_check=list(HealthCheck),
    )
    @given(cases())
    def case(drawn: Case) -> None:
        # Hypothesis gives a test 2,000 frames more than Python's limit, which would hide
        # what recurses too deep in a real process.
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(stack_depth() + FREE_FRAMES)
        try:
            run(drawn, result)
        finally:
            sys.setrecursionlimit(limit)

    for seed in seed_cases():
        case = example(seed)(case)
    case()
    return result


def report(result: Result, seconds: float) -> list[str]:
    outcomes = result.outcomes

    def count(prefix: str) -> str:
        return ", ".join(f"{key[len(prefix):].strip(': ')} {n}" for key, n in sorted(outcomes.items())
                         if key.startswith(prefix))

    accepted = sum(outcomes[f"accepted {direction}"] for direction in TABLES)
    refused = sum(result.refused.values())
    lines = [
        f"fuzz_protocol: {outcomes['cases']} cases in {seconds:.1f} s ({count('cases ')})",
        f"  shapes: {count('cases: ')}",
        f"  accepted: {accepted} ({count('accepted ')})",
        f"    messages delivered to an observer: {count('delivered ')}",
        f"    frames with a bad message whose messages before it came out: "
        f"{outcomes['frames whose messages before the bad one came out']}",
        f"  refused with ProtocolError: {refused} ({count('refused ')}), by message or reason:",
    ]
    groups = [f"{n:7} {where}" for where, n in result.refused.most_common()]
    lines += ["  " + "".join(f"{group:<40}" for group in groups[i : i + 3]).rstrip() for i in range(0, len(groups), 3)]
    unreached = sorted(EVERY_FIELD - result.fields_refused)
    lines.append(
        f"  fields refused at least once: {len(EVERY_FIELD & result.fields_refused)} of {len(EVERY_FIELD)}"
        + (f" (never: {', '.join(unreached)})" if 0 < len(unreached) <= 12 else "")
    )
    lines.append(f"  crashes: {sum(result.crashes.values())}")
    lines += [f"    {n} in {key}" for key, n in result.crashes.most_common()]
    return lines


def cases_asked(argv: list[str] | None, description: str | None, full: int, quick: int) -> tuple[int, bool]:
    """A fuzzer's command line: how many cases, and whether they are the quick run's, the same
    every run (``--quick``)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=full)
    parser.add_argument("--quick", action="store_true", help=f"{quick} cases, the same every run")
    args = parser.parse_args(argv)
    return (quick, True) if args.quick else (args.examples, False)


def main(argv: list[str] | None = None) -> int:
    examples, derandomize = cases_asked(argv, __doc__, FULL_EXAMPLES, QUICK_EXAMPLES)
    started = time.monotonic()
    result = fuzz(examples, derandomize)
    print("\n".join(report(result, time.monotonic() - started)))
    for key, (case, trace) in result.smallest.items():
        print(f"\n{key}: the smallest input, {case}, {len(case.data)} bytes:", file=sys.stderr)
        print(f"{case.data[:300]!r}\n{trace}", file=sys.stderr)
    return 1 if result.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
