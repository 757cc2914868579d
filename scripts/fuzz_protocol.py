#!/usr/bin/env python3
"""Fuzz what the main process does with bytes from the transport: the wire-protocol decoder,
then the event-building path (``PeerConnectionObserver`` -> DOM events) for whatever the
decoder lets through.

Inputs are random bytes, valid messages with random byte mutations, and well-framed msgpack
maps with the right message types and random field values. Every input must end in one of
two ways: a ``ProtocolError`` from the decoder, or a message the observer turns into an event
(or refuses) without raising. Anything else is a bug: the script prints it and exits 1.

    python scripts/fuzz_protocol.py                   # 100,000 cases (about a minute)
    python scripts/fuzz_protocol.py --examples 2000   # the quick run the test suite does
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import traceback
from collections import Counter

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icegather.main_proc.dom.peerconnection import PeerConnectionObserver, RTCPeerConnection
from icegather.main_proc.link.routing import Router
from icegather.shared import protocol
from icegather.shared.protocol.messages import TO_MAIN
from icegather.shared.protocol.schemas import SCHEMAS, fields_of
from icegather.shared.structs import (
    AuditResultInfo,
    CandidateInfo,
    IceCandidateErrorInfo,
    RelayCheckInfo,
    ServerAnswerInfo,
    ServerNoteInfo,
    TransactionTraceInfo,
)

VALID = [
    protocol.encode(message, seq)
    for seq, message in enumerate(
        [
            protocol.ServerHello(pid=42),
            protocol.Heartbeat(),
            protocol.Candidate(1, CandidateInfo("candidate:1 1 udp 2122260223 192.0.2.2 50000 typ host")),
            protocol.Candidate(
                1,
                CandidateInfo(
                    "candidate:2 1 udp 16777215 203.0.113.9 61000 typ relay raddr 192.0.2.2 rport 50000",
                    "turn:turn.example.org",
                    "udp",
                ),
            ),
            protocol.CandidateError(
                1, IceCandidateErrorInfo("192.0.2.2", 50000, "turn:t.example", 401, "Unauthorized", "server_error")
            ),
            protocol.CandidateError(
                1, IceCandidateErrorInfo("", 0, "stun:s.invalid", 701, "host lookup failed", "dns")
            ),
            protocol.ServerAnswer(1, ServerAnswerInfo("::1", 4000, "stun:[::1]", 0.5, "::1")),
            protocol.RelayCheck(
                1,
                RelayCheckInfo(
                    address="127.0.0.1", port=4000, url="turn:t.example", relayed_address="127.0.0.1",
                    relayed_port=5000, probes=6, out_received=6, back_received=6, indication_probes=3,
                    indication_out_received=3, indication_back_received=3, channel_probes=3, channel_out_received=3,
                    channel_back_received=3, stray_probes=0, out_source_address="127.0.0.1", out_source_port=5000,
                    rtt_ms=0.4, back_cause="", failed_request="", error_code=0, error_cause="", error_text="",
                    not_checked_reason="",
                ),
            ),
            protocol.AuditResult(
                1, AuditResultInfo("turn:t.example", "peer_permission", "127.0.0.1", "refused", 403, "Forbidden", 0)
            ),
            protocol.GatheringState(1, "complete"),
            protocol.GatherRejected(1, "internal error"),
        ]
    )
]

# Field values: edge cases of every check in shared.protocol, and arbitrary ones. Flat on
# purpose: deep random structures cost generation time and the decoder refuses them at the top.
PLAUSIBLE = [
    "",
    "192.0.2.2",
    "::1",
    "fe80::1%eth0",
    "999.1.1.1",
    0,
    1,
    65535,
    65536,
    -1,
    299,
    300,
    699,
    700,
    799,
    800,
    "x" * 600,
    "stun:stun.example.org",
    "turn:t.example?transport=tcp",
    "gathering",
    "complete",
    "new",
    "udp",
    "tcp",
    "tls",
    "candidate:1 1 udp 2122260223 192.0.2.2 50000 typ host",
    "candidate:garbage",
    0.5,
    -1.0,
    float("nan"),
    float("inf"),
    True,
    False,
    None,
    2**53,
    2**53 + 1,
]
leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=32)
    | st.binary(max_size=32)
)
values = st.one_of(st.sampled_from(PLAUSIBLE), leaves, st.lists(leaves, max_size=3))
# Mostly valid values per field, so that many cases get through the decoder to the event path.
addresses = st.ip_addresses().map(str) | st.just("")
LIKELY = {
    "address": addresses,
    "port": st.integers(0, 65535),
    "url": st.sampled_from(["stun:stun.example.org", "turn:[::1]:3478?transport=tcp", "stun:s.invalid"])
    | st.text(max_size=40),
    "error_code": st.integers(300, 799),
    "error_text": st.text(min_size=1, max_size=140),
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
    "rtt_ms": st.floats(0, 1000),
    "state": st.sampled_from(["gathering", "complete"]),
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
    "not_checked_reason": st.sampled_from(["", "relayed_out_of_scope", "bogus"]),
    "check": st.sampled_from(["allocate_without_credentials", "peer_permission", "certificate", "software"]),
    "subject": st.sampled_from(["", "127.0.0.1", "TLSv1"]),
    "outcome": st.sampled_from(["accepted", "refused", "failed"]),
    "expires": st.integers(0, 2**31),
    "method": st.sampled_from(["Binding", "Allocate", "Bind"]),
    "sends_ms": st.lists(st.floats(0, 100), max_size=3),
    "ended_ms": st.floats(0, 200),
    "cause": st.sampled_from(["", "no_response", "bogus"]),
    "server_port": st.integers(0, 65535),
}
# The struct each message to the main process carries as its "info".
INFO_STRUCTS = {
    protocol.Candidate: CandidateInfo,
    protocol.CandidateError: IceCandidateErrorInfo,
    protocol.ServerAnswer: ServerAnswerInfo,
    protocol.ServerNote: ServerNoteInfo,
    protocol.RelayCheck: RelayCheckInfo,
    protocol.AuditResult: AuditResultInfo,
    protocol.TransactionTrace: TransactionTraceInfo,
}
FIELDS = sorted({name for cls in (*SCHEMAS, *TO_MAIN.values()) for name in fields_of(cls)})


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
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


def usually(likely: st.SearchStrategy, one_in: int = 10) -> st.SearchStrategy:
    """``likely``, but one time in ``one_in`` an arbitrary value instead."""
    return st.integers(1, one_in).flatmap(lambda n: values if n == 1 else likely)


@st.composite
def fields_drawn(draw: st.DrawFn, cls: type) -> dict:
    """The fields of a message or struct, mostly valid; now and then one is dropped, one too
    many is added, or a value is arbitrary."""
    body = {}
    for name in fields_of(cls):
        if draw(st.integers(1, 20)) == 1:
            continue
        if name == "info":
            body[name] = draw(usually(fields_drawn(INFO_STRUCTS[cls])))
        else:
            body[name] = draw(usually(LIKELY.get(name, st.integers(0, 3))))
    if draw(st.integers(1, 20)) == 1:
        body[draw(st.sampled_from(FIELDS))] = draw(values)
    return body


@st.composite
def framed(draw: st.DrawFn) -> bytes:
    """A msgpack map shaped like a message to the main process, mostly valid."""
    name = draw(st.sampled_from(list(TO_MAIN)))
    message = {
        "type": name if draw(st.integers(1, 20)) > 1 else draw(st.text(max_size=12)),
        "seq": draw(usually(st.integers(0, 9))),
    }
    message.update(draw(fields_drawn(TO_MAIN[name])))
    return msgpack.packb(message)


inputs = st.one_of(st.binary(max_size=512), mutated(), framed())


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
    return "event" if len(fired) > 1 else "no event"


def fuzz(examples: int, derandomize: bool = False) -> tuple[Counter[str], list[str]]:
    """Run ``examples`` cases; ``derandomize`` makes them the same cases every run (the suite's
    quick run, so that what it counts cannot change from run to run)."""
    outcomes: Counter[str] = Counter()
    bugs: list[str] = []

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=derandomize,
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs)
    def case(data: bytes) -> None:
        outcomes["cases"] += 1
        try:
            messages = [message for _, message in protocol.decode_to_main(data)]
        except protocol.ProtocolError:
            outcomes["rejected by the decoder"] += 1
            return
        except Exception:
            bugs.append(f"decoder raised on {data!r}:\n{traceback.format_exc()}")
            return
        outcomes["accepted by the decoder"] += 1
        for message in messages:
            try:
                outcomes[f"delivered: {deliver(message)}"] += 1
            except Exception:
                bugs.append(f"event path raised on {message!r}:\n{traceback.format_exc()}")

    case()
    return outcomes, bugs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=100_000)
    args = parser.parse_args()
    started = time.monotonic()
    outcomes, bugs = fuzz(args.examples)
    seconds = time.monotonic() - started
    print(f"fuzz_protocol: {outcomes['cases']} cases in {seconds:.1f} s")
    for name, count in sorted(outcomes.items()):
        if name != "cases":
            print(f"  {name}: {count}")
    print(f"  unhandled exceptions: {len(bugs)}")
    for bug in bugs[:5]:
        print(bug, file=sys.stderr)
    return 1 if bugs else 0


if __name__ == "__main__":
    sys.exit(main())
