"""The bookkeeping of a quality stream, sans-IO: the packets, when each was sent and arrived in
each direction, and the ``RelayQualityInfo`` that sums them up.

A packet is ``payload_bytes`` long (160: a 20 ms frame of G.711 audio) and starts with
``PREFIX``, the stream's random token (nothing else on the network passes for it), its
direction, its sequence number and its send time in microseconds since the stream began, as an
RTP packet would carry them; zeros fill the rest. Both ends are in this process, so the log's
own times, on one clock, are what count: the transit of each packet is its one-way delay.

What is computed, per direction unless said:

* received: distinct packets (a copy counts in ``duplicated`` only);
* reordered: packets that arrived with a sequence number below the highest already seen;
* jitter: RFC 3550 section 6.4.1, J += (|D(i-1, i)| - J) / 16 over first arrivals in arrival
  order, where D is the difference of two packets' transits;
* round trips (an out packet's send to its echo's arrival, both ways together): min and the
  50th, 95th and 99th percentiles by **nearest rank** (the ceil(p/100 * n)-th smallest: always
  a measured value);
* the series: the stream cut into intervals by each out packet's due send time (100 ms, or
  1/600 of a stream longer than 60 s), with the packets sent, those that never came back,
  and the median round trip of those that did (0 when none did).
"""

from __future__ import annotations

import math
import os
import statistics
import struct
from dataclasses import dataclass, field

from icegather.shared.config.gather_limits import MAX_QUALITY_INTERVALS, QUALITY_INTERVAL_MS, QUALITY_PAYLOAD_BYTES
from icegather.shared.net.endpoints import Address
from icegather.shared.structs import RelayCheckInfo, RelayQualityInfo
from icegather.shared.vocabulary.relay_outcomes import CARRIES_DATA, Mechanism, mechanism_counts, relay_outcome
from icegather.transport_proc.relay.probes import DIRECTION_BYTES, DIRECTIONS, TOKEN_BYTES, Direction

PREFIX = b"icegather quality "
# After the prefix and token: direction (1 byte), sequence number, send time in microseconds.
FIELDS = struct.Struct("!cIQ")
HEADER_BYTES = len(PREFIX) + TOKEN_BYTES + FIELDS.size
# Streams up to this long are cut into QUALITY_INTERVAL_MS intervals; longer ones into the most.
LONGEST_FINE_SERIES = MAX_QUALITY_INTERVALS * QUALITY_INTERVAL_MS / 1000


# ChannelData first: what a browser's media uses once the channel is bound.
PREFERRED: tuple[Mechanism, ...] = ("channel", "indication")


def stream_mechanism(check: RelayCheckInfo) -> Mechanism | None:
    """The mechanism a stream uses after ``check``: the first of ``PREFERRED`` whose probes got
    through both ways, if the check says the relay carries data; else None (no stream)."""
    if relay_outcome(check) not in CARRIES_DATA:
        return None
    for mechanism in PREFERRED:
        probes, out, back = mechanism_counts(check, mechanism)
        if probes and out and back:
            return mechanism
    return None


def series_interval_ms(seconds: float) -> float:
    """The length of the series' intervals for a stream of ``seconds``."""
    return QUALITY_INTERVAL_MS if seconds <= LONGEST_FINE_SERIES else seconds * 1000 / MAX_QUALITY_INTERVALS


def nearest_rank(ordered: list[float], percent: float) -> float:
    """The ``percent``-th percentile of ``ordered`` (sorted, not empty) by nearest rank."""
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


@dataclass
class DirectionLog:
    """One direction's packets: when each was sent and first arrived (in arrival order), and
    what arrived out of order, twice, and the running RFC 3550 jitter."""

    sent: dict[int, float] = field(default_factory=dict)
    arrived: dict[int, float] = field(default_factory=dict)
    highest: int = -1
    reordered: int = 0
    duplicated: int = 0
    jitter: float = 0.0
    last_transit: float | None = None

    def arrive(self, seq: int, at: float) -> bool:
        """Record packet ``seq`` arriving at ``at``; True the first time, for a packet sent."""
        if seq not in self.sent:
            return False
        if seq in self.arrived:
            self.duplicated += 1
            return False
        self.arrived[seq] = at
        if seq < self.highest:
            self.reordered += 1
        else:
            self.highest = seq
        transit = at - self.sent[seq]
        if self.last_transit is not None:
            self.jitter += (abs(transit - self.last_transit) - self.jitter) / 16
        self.last_transit = transit
        return True

    def jitter_ms(self) -> float | None:
        return ms(self.jitter) if len(self.arrived) >= 2 else None


@dataclass(frozen=True)
class StreamPath:
    """Which relay a stream went through, and how: the TURN client's socket, the URL, the
    relayed address, the far allocation (relay to relay: its URL, entry and relayed address;
    else "", 0 and ("", 0)), the mechanism and the client's transport."""

    local: Address
    url: str
    server_index: int
    relayed: Address
    mechanism: Mechanism
    transport: str
    far_url: str = ""
    far_server_index: int = 0
    far_relayed: Address = ("", 0)


@dataclass
class QualityLog:
    """One stream of ``rate`` packets a second for ``seconds``, begun at ``started`` (the clock
    of the times given to it)."""

    rate: int
    seconds: float
    started: float = 0.0
    payload_bytes: int = QUALITY_PAYLOAD_BYTES
    token: bytes = field(default_factory=lambda: os.urandom(TOKEN_BYTES))
    out: DirectionLog = field(default_factory=DirectionLog)
    back: DirectionLog = field(default_factory=DirectionLog)

    @property
    def packets(self) -> int:
        """How many out packets the stream sends."""
        return max(1, round(self.rate * self.seconds))

    def due(self, seq: int) -> float:
        """When packet ``seq`` is due: the schedule has no drift (``started + seq / rate``)."""
        return self.started + seq / self.rate

    def send(self, direction: Direction, seq: int, at: float) -> bytes:
        """Record that packet ``seq`` goes ``direction`` at ``at``; return its payload."""
        self._log(direction).sent[seq] = at
        return self.payload(direction, seq)

    def payload(self, direction: Direction, seq: int) -> bytes:
        """The payload of packet ``seq`` of ``direction``, as it was sent."""
        micros = max(0, round((self._log(direction).sent[seq] - self.started) * 1e6))
        header = PREFIX + self.token + FIELDS.pack(DIRECTION_BYTES[direction], seq, micros)
        return header.ljust(self.payload_bytes, b"\x00")

    def parse(self, payload: bytes) -> tuple[Direction, int] | None:
        """The direction and sequence number of a packet of this stream; None for anything else."""
        prefix = PREFIX + self.token
        if len(payload) < HEADER_BYTES or not payload.startswith(prefix):
            return None
        tag, seq, _ = FIELDS.unpack_from(payload, len(prefix))
        direction = DIRECTIONS.get(tag)
        return None if direction is None else (direction, seq)

    def at_far(self, payload: bytes, at: float) -> int | None:
        """An out packet reached the far end: its number if it is the first copy (to echo)."""
        return self._arrived(payload, at, "out")

    def at_near(self, payload: bytes, at: float) -> int | None:
        """An echo reached the TURN client: its number if it is the first copy."""
        return self._arrived(payload, at, "back")

    def _arrived(self, payload: bytes, at: float, direction: Direction) -> int | None:
        parsed = self.parse(payload)
        if parsed is None or parsed[0] != direction:
            return None
        return parsed[1] if self._log(direction).arrive(parsed[1], at) else None

    def _log(self, direction: Direction) -> DirectionLog:
        return self.out if direction == "out" else self.back

    @property
    def complete(self) -> bool:
        """Every packet sent so far came back."""
        return len(self.back.arrived) == len(self.out.sent)

    def round_trips(self) -> dict[int, float]:
        """The round trip of each out packet whose echo came back."""
        return {seq: at - self.out.sent[seq] for seq, at in self.back.arrived.items()}

    def series(self) -> tuple[float, tuple[int, ...], tuple[int, ...], tuple[float, ...]]:
        """The interval length, and per interval the packets sent, lost and their median RTT."""
        interval = series_interval_ms(self.seconds)
        count = min(MAX_QUALITY_INTERVALS, max(1, math.ceil(self.seconds * 1000 / interval - 1e-9)))
        sent = [0] * count
        trips: list[list[float]] = [[] for _ in range(count)]
        round_trips = self.round_trips()
        for seq in self.out.sent:
            index = min(count - 1, int(seq * 1000 // (self.rate * interval)))
            sent[index] += 1
            if seq in round_trips:
                trips[index].append(round_trips[seq])
        lost = tuple(total - len(came) for total, came in zip(sent, trips, strict=True))
        rtts = tuple(ms(statistics.median(came)) if came else 0.0 for came in trips)
        return interval, tuple(sent), lost, rtts

    def info(self, path: StreamPath, cause: str = "", error_text: str = "") -> RelayQualityInfo:
        """The stream's report: what it measured, and why it stopped early (``cause``), if it did."""
        ordered = sorted(self.round_trips().values())
        interval, sent, lost, rtts = self.series()
        return RelayQualityInfo(
            address=path.local[0], port=path.local[1], url=path.url, server_index=path.server_index,
            relayed_address=path.relayed[0], relayed_port=path.relayed[1],
            far_url=path.far_url, far_server_index=path.far_server_index,
            far_relayed_address=path.far_relayed[0], far_relayed_port=path.far_relayed[1],
            mechanism=path.mechanism, transport=path.transport,
            seconds=self.seconds, rate=self.rate, payload_bytes=self.payload_bytes,
            packets_out=len(self.out.sent), packets_out_received=len(self.out.arrived),
            packets_back=len(self.back.sent), packets_back_received=len(self.back.arrived),
            reordered=self.out.reordered + self.back.reordered,
            duplicated=self.out.duplicated + self.back.duplicated,
            jitter_out_ms=self.out.jitter_ms(), jitter_back_ms=self.back.jitter_ms(),
            rtt_min_ms=ms(ordered[0]) if ordered else None,
            rtt_p50_ms=ms(nearest_rank(ordered, 50)) if ordered else None,
            rtt_p95_ms=ms(nearest_rank(ordered, 95)) if ordered else None,
            rtt_p99_ms=ms(nearest_rank(ordered, 99)) if ordered else None,
            series_interval_ms=interval, series_sent=sent, series_lost=lost, series_rtt_ms=rtts,
            cause=cause, error_text=error_text,
        )
