"""Why a relay that carries data would still hurt a call: the ``QUALITY_CAUSES`` table, from a
relay's call-like stream (its ``icerelayquality`` record): the thresholds it crosses
(``shared.vocabulary.quality_thresholds``), how the client reaches the server, and whether the
stream ran to its end. One finding per degraded relay, said by the first row that explains it;
it gives every figure, whichever row spoke. What to check is said in the words of the
server's product when its SOFTWARE names one (``server_products``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from icegather.main_proc.diagnosis.relays.relay_causes import RELAY_PORTS
from icegather.main_proc.diagnosis.server_products import Wording, phrased
from icegather.main_proc.diagnosis.servers.outcomes import Finding, ServerOutcome, never_set_up
from icegather.shared.net.endpoints import endpoint
from icegather.shared.vocabulary.quality_thresholds import QUALITY_THRESHOLDS

STREAM_TRANSPORTS = frozenset({"udp", "tcp", "tls"})
# Over TCP and TLS a lost segment is sent again: loss shows up as delay, not as loss.
RELIABLE = frozenset({"tcp", "tls"})
LIMITS = {threshold.name: threshold.limit for threshold in QUALITY_THRESHOLDS}


@dataclass(frozen=True)
class QualityCause:
    """A row of the table: the thresholds (``degraded`` names, any of them; empty: any stream
    that stopped before its end) and client transports it explains, and what it says.
    Placeholders: {relayed}, {path} (the relay, or both relays of a relay-to-relay stream),
    {transport}, {figures} (every measure of the stream), {added}, {cause}."""

    name: str
    degraded: frozenset[str]
    transports: frozenset[str]
    finding: str
    next_check: Wording
    stopped: bool = False

    def explains(self, quality: Mapping[str, Any]) -> bool:
        if quality["transport"] not in self.transports:
            return False
        return bool(quality["cause"]) if self.stopped else bool(self.degraded & set(quality["degraded"]))


SERVER_LOAD = Wording(
    "the server's load (CPU, bandwidth, its own bandwidth limits) and the network between here and it",
    {
        "coturn": "the server's load (CPU, bandwidth; coturn max-bps, bps-capacity and total-quota) and the network "
                  "between here and it",
    },
)

QUALITY_CAUSES: tuple[QualityCause, ...] = (
    QualityCause(
        "relay stream stopped",
        frozenset(),
        STREAM_TRANSPORTS,
        "the call-like stream through {path} stopped before its end: {cause} ({figures})",
        Wording("the server's log at that time: it allocated and carried data, then stopped"),
        stopped=True,
    ),
    QualityCause(
        "relay added delay",
        frozenset({"loss", "jitter", "delay"}),
        RELIABLE,
        "over {transport}, where a loss shows up as the delay of its retransmission, the relay {path} added {added} "
        "ms to the fastest round trip at the 95th percentile ({figures})",
        phrased("{load}; or reach it over UDP, as browsers prefer", load=SERVER_LOAD),
    ),
    QualityCause(
        "relay loses packets",
        frozenset({"loss"}),
        STREAM_TRANSPORTS,
        f"packets through {{path}} were lost above {LIMITS['loss']:.0%} a way, where a voice call breaks up "
        "({figures})",
        phrased("{load}, and {ports}", load=SERVER_LOAD, ports=RELAY_PORTS),
    ),
    QualityCause(
        "relay jitter",
        frozenset({"jitter"}),
        STREAM_TRANSPORTS,
        f"packets through {{path}} arrived with jitter above {LIMITS['jitter']:g} ms a way, more than a typical "
        "jitter buffer absorbs ({figures})",
        SERVER_LOAD,
    ),
    QualityCause(
        "relay round trip slow",
        frozenset({"delay"}),
        STREAM_TRANSPORTS,
        f"the round trip through {{path}} took above {LIMITS['delay']:g} ms at the 95th percentile, where a "
        "conversation starts to talk over itself (ITU-T G.114) ({figures})",
        Wording("where the server is: a TURN server nearer its users"),
    ),
)


def stream_path(quality: Mapping[str, Any]) -> str:
    """The relay a stream went through; relay to relay, both of them and the far URL."""
    relayed = endpoint((quality["relayedAddress"], quality["relayedPort"]))
    if quality["farUrl"] is None:
        return relayed
    if never_set_up(quality):
        return f"{relayed}, relay to relay with {quality['farUrl']}, whose far allocation failed"
    far = endpoint((quality["farRelayedAddress"], quality["farRelayedPort"]))
    return f"{relayed} and on to the relay {far} of {quality['farUrl']}"


def percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction:.1%}"


def ms_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def round_trip(value: float) -> str:
    """Whole milliseconds, as a call's are read; a tenth below 10 ms, where whole ones say 0."""
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def quality_figures(quality: Mapping[str, Any]) -> str:
    """Every measure of a stream, in one line: "loss 1.2% out / 0.8% back, jitter 3.1 ms,
    RTT p50 41 ms p95 55 ms" (jitter: the larger way's)."""
    jitters = [j for j in (quality["jitterOutMs"], quality["jitterBackMs"]) if j is not None]
    rtt = (f"RTT p50 {round_trip(quality['rttP50Ms'])} ms p95 {round_trip(quality['rttP95Ms'])} ms"
           if quality["rttP50Ms"] is not None and quality["rttP95Ms"] is not None else "no round trip")
    return (f"loss {percent(quality['lossOut'])} out / {percent(quality['lossBack'])} back, "
            f"jitter {ms_text(max(jitters) if jitters else None)}, {rtt}")


def explain_quality(outcome: ServerOutcome, quality: Mapping[str, Any]) -> Finding:
    """The first row of ``QUALITY_CAUSES`` that explains a degraded relay (one of the outcome's
    streams, its record)."""
    cause = next(row for row in QUALITY_CAUSES if row.explains(quality))
    added = quality["addedDelayMs"]
    values = {
        "path": stream_path(quality),
        "transport": quality["transport"].upper(),
        "figures": quality_figures(quality),
        "added": "-" if added is None else f"{added:.0f}",
        "cause": (quality["cause"] or "").replace("_", " "),
    }
    next_check = cause.next_check.said_for(outcome.product).format(**values)
    return Finding(outcome.url, cause.name, cause.finding.format(**values), next_check, outcome.entry)
