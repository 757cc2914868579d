"""The bookkeeping of a relay check, sans-IO: which probes went out, which arrived where they
legitimately can, which turned up anywhere else, and the ``RelayCheckInfo`` that sums them up.

A probe is a datagram whose payload names the check (random bytes, so that nothing else on
the network passes for it), its direction, its mechanism and its number. "out" probes go from
the TURN client through the relay to the peer socket, and count only there; "back" probes go
from the peer socket to the relayed address and through the server to the client, and count
only there, relayed from the peer. A probe anywhere else (a server that reflects what it gets
back to its sender, say) is a stray: counted apart, never as received. Both ends are in this
process, so one clock times both: the one-way delay of each direction is measured, and the
relay's round trip is the sum of their medians.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from icegather.shared.net.endpoints import Address
from icegather.shared.protocol.checks import MAX_TEXT
from icegather.shared.structs import RelayCheckInfo
from icegather.shared.vocabulary.failure_causes import FailureCause
from icegather.shared.vocabulary.relay_outcomes import ALLOCATION_GONE_CODES, Mechanism, NotCheckedReason
from icegather.transport_proc.relay.validation import not_checked_info, validated

Direction = Literal["out", "back"]
# Where a probe turned up: "elsewhere" is at the client by a route the peer's data cannot take.
End = Literal["peer", "client", "elsewhere"]
MAGIC = b"icegather relay check "
TOKEN_BYTES = 12
DIRECTION_BYTES: dict[Direction, bytes] = {"out": b"o", "back": b"b"}
MECHANISM_BYTES: dict[Mechanism, bytes] = {"indication": b"i", "channel": b"c"}
# Where each direction's probes legitimately arrive.
DESTINATION: dict[Direction, End] = {"out": "peer", "back": "client"}


@dataclass(frozen=True)
class Probe:
    direction: Direction
    mechanism: Mechanism
    index: int


DIRECTIONS: dict[bytes, Direction] = {tag: name for name, tag in DIRECTION_BYTES.items()}
MECHANISMS: dict[bytes, Mechanism] = {tag: name for name, tag in MECHANISM_BYTES.items()}


@dataclass
class ProbeLog:
    """Probes of one relay check. ``token`` (the check's nonce) makes its payloads its own.
    ``sent`` and ``arrived`` are keyed by direction and index (indices are unique across
    mechanisms); ``mechanisms`` says which mechanism each index used."""

    token: bytes = field(default_factory=lambda: os.urandom(TOKEN_BYTES))
    sent: dict[tuple[Direction, int], float] = field(default_factory=dict)
    arrived: dict[tuple[Direction, int], float] = field(default_factory=dict)
    mechanisms: dict[int, Mechanism] = field(default_factory=dict)
    stray: set[tuple[Direction, int]] = field(default_factory=set)
    # Where the first "out" probe came from, as the peer saw it.
    out_source: Address | None = None

    def payload(self, probe: Probe) -> bytes:
        return (
            MAGIC + self.token + DIRECTION_BYTES[probe.direction] + MECHANISM_BYTES[probe.mechanism]
            + probe.index.to_bytes(2, "big")
        )

    def send(self, probe: Probe, at: float) -> bytes:
        """Record that ``probe`` goes out now; return its payload."""
        self.sent[(probe.direction, probe.index)] = at
        self.mechanisms[probe.index] = probe.mechanism
        return self.payload(probe)

    def probe_in(self, payload: bytes) -> Probe | None:
        """The probe of this check that ``payload`` names, if one was sent in that direction
        with that number; else None (another check's, never sent, not a probe)."""
        prefix = MAGIC + self.token
        if len(payload) != len(prefix) + 4 or not payload.startswith(prefix):
            return None
        direction = DIRECTIONS.get(payload[-4:-3])
        mechanism = MECHANISMS.get(payload[-3:-2])
        index = int.from_bytes(payload[-2:], "big")
        if direction is None or mechanism is None or (direction, index) not in self.sent:
            return None
        return Probe(direction, mechanism, index)

    def at_peer(self, payload: bytes, at: float, source: Address) -> Probe | None:
        """Record a payload that reached the peer socket from ``source``; the out probe it is,
        if it counts as received (see ``_arrived``)."""
        return self._arrived(payload, at, "peer", source)

    def at_client(self, payload: bytes, at: float, from_peer: bool) -> Probe | None:
        """Record a payload the server relayed to the client, ``from_peer`` when it came the
        way the peer's data must (in a Data indication from its address, or on the channel
        bound to it); the back probe it is, if it counts as received."""
        return self._arrived(payload, at, "client" if from_peer else "elsewhere", None)

    def _arrived(self, payload: bytes, at: float, end: End, source: Address | None) -> Probe | None:
        """A probe of this check counts as received where its direction goes, as it was sent,
        and the first time; anywhere else it is a stray; a duplicate counts nothing."""
        probe = self.probe_in(payload)
        if probe is None:
            return None
        key = (probe.direction, probe.index)
        if end != DESTINATION[probe.direction] or probe.mechanism != self.mechanisms[probe.index]:
            self.stray.add(key)
            return None
        if key in self.arrived:
            return None
        self.arrived[key] = at
        if source is not None and self.out_source is None:
            self.out_source = source
        return probe

    def count(self, direction: Direction, sent: bool = False, mechanism: Mechanism | None = None) -> int:
        keys = self.sent if sent else self.arrived
        return sum(
            1 for key in keys if key[0] == direction and mechanism in (None, self.mechanisms[key[1]])
        )

    def all_arrived(self, mechanism: Mechanism, back_explained: bool) -> bool:
        """Whether every probe sent with ``mechanism`` arrived each way (back: or an ICMP error
        explains why none will)."""
        sent = self.count("back", sent=True, mechanism=mechanism)
        back = self.count("back", mechanism=mechanism)
        return self.count("out", mechanism=mechanism) == sent and (back == sent or back_explained)

    def carried_none(self, mechanism: Mechanism, back_explained: bool) -> bool:
        """Whether a direction of ``mechanism`` has carried none of its probes so far (back:
        unless an ICMP error explains why)."""
        back = self.count("back", mechanism=mechanism)
        return not self.count("out", mechanism=mechanism) or not (back or back_explained)

    def outs_unsent(self) -> list[Probe]:
        """The out probes that go with the back probes sent, not sent yet (behind a NAT they wait
        until a back probe tells where the peer is)."""
        return [Probe("out", self.mechanisms[index], index)
                for direction, index in self.sent if direction == "back" and ("out", index) not in self.sent]

    def one_way_delays(self, direction: Direction) -> list[float]:
        return [at - self.sent[key] for key, at in self.arrived.items() if key[0] == direction]

    def rtt_ms(self) -> float | None:
        out, back = self.one_way_delays("out"), self.one_way_delays("back")
        if not out or not back:
            return None
        return round((statistics.median(out) + statistics.median(back)) * 1000, 3)


@dataclass(frozen=True)
class FailedRequest:
    """A CreatePermission or ChannelBind that the server refused or gave no usable answer to."""

    name: Literal["CreatePermission", "ChannelBind"]
    code: int
    cause: FailureCause  # server_error (or another server's cause) for codes 300-699
    text: str


def told_allocation_gone(failure: FailedRequest, answers: Sequence[tuple[int, str]]) -> FailedRequest:
    """What a request on the allocation that failed as ``failure`` reports, given the error
    responses (code, reason) it got on the way, in order: a 438 Stale Nonce is answered by
    asking again with the new nonce. When one of them says the server no longer holds the
    allocation (``ALLOCATION_GONE_CODES``), that one is the code, since the last answer (coturn's
    400 after its 438) would point at the request; the text gives every answer in order."""
    gone = next((answer for code in ALLOCATION_GONE_CODES for answer in answers if answer[0] == code), None)
    if gone is None or failure.cause != "server_error":
        return failure
    at = answers.index(gone)
    text = gone[1] + "".join(f", then {code} {reason}" for code, reason in answers[at + 1:])
    if at:
        text += " (after " + ", ".join(f"{code} {reason}" for code, reason in answers[:at]) + ")"
    # Up to 5 reason phrases of the server's (4 nonces renewed) could outgrow the schema's text.
    return replace(failure, code=gone[0], text=text[:MAX_TEXT])


@dataclass(frozen=True)
class NotChecked:
    """Why no probe goes out, as data, and in words."""

    reason: NotCheckedReason
    text: str


@dataclass(frozen=True)
class CheckedAllocation:
    """Which allocation a check was about: the client socket, the URL and the relayed address."""

    local: Address
    url: str
    relayed: Address

    def info(self, log: ProbeLog, back_cause: str = "", failed: FailedRequest | None = None) -> RelayCheckInfo:
        """The check's report, from its probes and the request that failed, if one did."""
        source = log.out_source or ("", 0)
        return validated(RelayCheckInfo(
            address=self.local[0],
            port=self.local[1],
            url=self.url,
            relayed_address=self.relayed[0],
            relayed_port=self.relayed[1],
            probes=log.count("back", sent=True),
            out_received=log.count("out"),
            back_received=log.count("back"),
            indication_probes=log.count("back", sent=True, mechanism="indication"),
            indication_out_received=log.count("out", mechanism="indication"),
            indication_back_received=log.count("back", mechanism="indication"),
            channel_probes=log.count("back", sent=True, mechanism="channel"),
            channel_out_received=log.count("out", mechanism="channel"),
            channel_back_received=log.count("back", mechanism="channel"),
            stray_probes=len(log.stray),
            out_source_address=source[0],
            out_source_port=source[1],
            rtt_ms=log.rtt_ms(),
            back_cause=back_cause,
            failed_request=failed.name if failed else "",
            error_code=failed.code if failed else 0,
            error_cause=failed.cause if failed else "",
            error_text=failed.text if failed else "",
            not_checked_reason="",
        ))

    def not_checked(self, why: NotChecked) -> RelayCheckInfo:
        """The report of a check that sent nothing, and why."""
        return validated(not_checked_info(self.local, self.url, self.relayed, why.reason, why.text))
