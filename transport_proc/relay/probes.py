"""The bookkeeping of a relay check, sans-IO: which probes went out, which arrived, when and
from where, and the ``RelayCheckInfo`` that sums them up.

A probe is a datagram whose payload names the check (random bytes, so that nothing else on
the network passes for it), the direction and the probe's number. "out" probes go from the TURN
client through the relay to the peer socket; "back" probes from the peer socket to the relayed
address and through the server to the client. Both ends are in this process, so one clock
times both: the one-way delay of each direction is measured, and the relay's round trip is the
sum of their medians.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from typing import Literal

from icegather.shared.endpoints import Address
from icegather.shared.structs import RelayCheckInfo

Direction = Literal["out", "back"]
MAGIC = b"icegather relay check "
TOKEN_BYTES = 12
DIRECTION_BYTES: dict[Direction, bytes] = {"out": b"o", "back": b"b"}


@dataclass(frozen=True)
class Arrival:
    direction: Direction
    index: int


@dataclass
class ProbeLog:
    """Probes of one relay check. ``token`` makes its payloads its own."""

    token: bytes = field(default_factory=lambda: os.urandom(TOKEN_BYTES))
    sent: dict[tuple[Direction, int], float] = field(default_factory=dict)
    arrived: dict[tuple[Direction, int], float] = field(default_factory=dict)
    # Where the first "out" probe came from, as the peer saw it.
    out_source: Address | None = None

    def payload(self, direction: Direction, index: int) -> bytes:
        return MAGIC + self.token + DIRECTION_BYTES[direction] + index.to_bytes(2, "big")

    def send(self, direction: Direction, index: int, at: float) -> bytes:
        """Record that probe ``index`` goes out now; return its payload."""
        self.sent[(direction, index)] = at
        return self.payload(direction, index)

    def receive(self, payload: bytes, at: float, source: Address | None = None) -> Arrival | None:
        """Record a payload that arrived, if it is a probe of this check that was sent and has not
        arrived yet; return which one."""
        prefix = MAGIC + self.token
        if len(payload) != len(prefix) + 3 or not payload.startswith(prefix):
            return None
        tag, index = payload[len(prefix) : len(prefix) + 1], int.from_bytes(payload[-2:], "big")
        direction: Direction = "out" if tag == DIRECTION_BYTES["out"] else "back"
        if tag not in DIRECTION_BYTES.values() or (direction, index) not in self.sent:
            return None
        if (direction, index) in self.arrived:
            return None  # a duplicate
        self.arrived[(direction, index)] = at
        if direction == "out" and self.out_source is None:
            self.out_source = source
        return Arrival(direction, index)

    def count(self, direction: Direction, sent: bool = False) -> int:
        return sum(1 for key in (self.sent if sent else self.arrived) if key[0] == direction)

    def one_way_delays(self, direction: Direction) -> list[float]:
        return [at - self.sent[key] for key, at in self.arrived.items() if key[0] == direction]

    def rtt_ms(self) -> float | None:
        out, back = self.one_way_delays("out"), self.one_way_delays("back")
        if not out or not back:
            return None
        return round((statistics.median(out) + statistics.median(back)) * 1000, 3)


@dataclass(frozen=True)
class CheckedAllocation:
    """Which allocation a check was about: the client socket, the URL and the relayed address."""

    local: Address
    url: str
    relayed: Address

    def info(
        self,
        log: ProbeLog | None = None,
        back_cause: str = "",
        failed_request: str = "",
        error_code: int = 0,
        error_text: str = "",
    ) -> RelayCheckInfo:
        """The check's report: its probes (none when ``log`` is None) and what failed."""
        log = log or ProbeLog()
        source = log.out_source or ("", 0)
        return RelayCheckInfo(
            address=self.local[0],
            port=self.local[1],
            url=self.url,
            relayed_address=self.relayed[0],
            relayed_port=self.relayed[1],
            probes=log.count("back", sent=True),
            out_received=log.count("out"),
            back_received=log.count("back"),
            out_source_address=source[0],
            out_source_port=source[1],
            rtt_ms=log.rtt_ms(),
            back_cause=back_cause,
            failed_request=failed_request,
            error_code=error_code,
            error_text=error_text,
        )
