"""A probe's quality streams (module option ``quality_seconds``) as metric families, from the
round's ``icerelayquality`` records: one stream per relay, labelled as the relay's other
series are (``family``, and ``url`` for a ``file:`` target; relay to relay, ``far_url`` too).

    icegather_relay_loss_ratio{direction}        packets lost out (client to far end) and back
    icegather_relay_jitter_seconds{direction}    RFC 3550 interarrival jitter of each way
    icegather_relay_packets{direction,fate}      packets sent and received, each way
    icegather_relay_packets_reordered            arrived after a later one (both ways)
    icegather_relay_packets_duplicated           copies of one already received (both ways)

and the stream's round trips as ``icegather_relay_rtt_seconds{quantile}`` (``relay_rtt``).

A relay's series are keyed by its URL and family, not by the local address it allocated from,
which the host may have any number of: a URL that allocated from two local addresses of one
family has one series, of the worse of its streams (``worst_first``: one that stopped, then the
most lost, the slowest p95, the most jitter), and its relay is up only when every one works.

Every value is of this probe's one stream, so each is a gauge: the next probe's stream
replaces it (a counter would have to add streams up across scrapes, which a probe that keeps
no state between scrapes cannot do). Round trips are quantiles of the stream (``0`` is the
fastest, as in a Summary) rather than a histogram: the transport sends the stream's
percentiles, not its samples, the thresholds are on a percentile (p95), and histogram buckets
that restart with every probe are no counters for ``rate()`` or ``histogram_quantile`` to read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from icegather.shared.net.endpoints import family_name

# A relay's key: its URL's entry and URL, and the family of its relayed address.
Relay = tuple[int, str, str]
RATIO_DIGITS = 6  # a millionth: finer than one packet of the longest stream (600 s at 1,000 a second)
SECOND_DIGITS = 6  # the transport times packets to the microsecond
DIRECTIONS = ("out", "back")
RTT_QUANTILES = (("0", "rttMinMs"), ("0.5", "rttP50Ms"), ("0.95", "rttP95Ms"), ("0.99", "rttP99Ms"))


def relay_key(entry: int, url: str, relayed_address: str) -> Relay:
    return entry, url, family_name(relayed_address)


def streams_of(records: Iterable[Mapping[str, Any]]) -> dict[Relay, Mapping[str, Any]]:
    """Each relay's stream record, by relay: the worst, when it had several (local addresses)."""
    streams: dict[Relay, Mapping[str, Any]] = {}
    for record in records:
        if record["type"] == "icerelayquality":
            relay = relay_key(record["serverIndex"], record["url"], record["relayedAddress"])
            known = streams.get(relay)
            if known is None or worst_first(record) < worst_first(known):
                streams[relay] = record
    return streams


def worst_first(stream: Mapping[str, Any]) -> tuple[bool, float, float, float]:
    """A sort key that puts the worse of two streams first: stopped before its end, then the
    larger loss either way, the slower p95 (none at all is the slowest), the larger jitter."""
    loss = max(stream["lossOut"] or 0.0, stream["lossBack"] or 0.0)  # None: nothing sent that way
    p95 = stream["rttP95Ms"] if stream["rttP95Ms"] is not None else math.inf
    jitter = max(stream["jitterOutMs"] or 0.0, stream["jitterBackMs"] or 0.0)
    return stream["cause"] is None, -loss, -p95, -jitter


def relay_rtt(
    checks: Sequence[Mapping[str, Any]], stream: Mapping[str, Any] | None
) -> Iterator[tuple[str, float]]:
    """(quantile, milliseconds) of a relay's round trips: the stream's, when it had one and
    anything came back; else the relay check's, the median of its few probes (the slowest
    median, when it had several checks)."""
    if stream is None:
        medians = [check["rttMs"] for check in checks if check["rttMs"] is not None]
        if medians:
            yield "0.5", max(medians)
        return
    for quantile, key in RTT_QUANTILES:
        if stream[key] is not None:
            yield quantile, stream[key]


def quality_families(
    streams: Mapping[Relay, Mapping[str, Any]],
    label_names: list[str],
    labels: Callable[[Relay, Mapping[str, Any] | None], list[str]],
) -> Iterator[Metric]:
    """The families of the streams; ``label_names`` and ``labels`` give each relay's labels."""
    loss = GaugeMetricFamily(
        "icegather_relay_loss_ratio", "Share of the quality stream's packets lost, each way",
        labels=[*label_names, "direction"],
    )
    jitter = GaugeMetricFamily(
        "icegather_relay_jitter_seconds", "RFC 3550 interarrival jitter of the quality stream, each way",
        labels=[*label_names, "direction"],
    )
    packets = GaugeMetricFamily(
        "icegather_relay_packets", "The quality stream's packets sent and received, each way",
        labels=[*label_names, "direction", "fate"],
    )
    reordered = GaugeMetricFamily(
        "icegather_relay_packets_reordered", "The quality stream's packets that arrived after a later one, both ways",
        labels=label_names,
    )
    duplicated = GaugeMetricFamily(
        "icegather_relay_packets_duplicated", "Copies of the quality stream's packets already received, both ways",
        labels=label_names,
    )
    for relay, stream in streams.items():
        values = labels(relay, stream)
        for direction, sent, received, lost, jitter_ms in zip(
            DIRECTIONS, ("packetsOut", "packetsBack"), ("packetsOutReceived", "packetsBackReceived"),
            ("lossOut", "lossBack"), ("jitterOutMs", "jitterBackMs"), strict=True,
        ):
            packets.add_metric([*values, direction, "sent"], stream[sent])
            packets.add_metric([*values, direction, "received"], stream[received])
            if stream[lost] is not None:  # nothing came to the far end to echo: no loss back
                loss.add_metric([*values, direction], round(stream[lost], RATIO_DIGITS))
            if stream[jitter_ms] is not None:
                jitter.add_metric([*values, direction], seconds(stream[jitter_ms]))
        reordered.add_metric(values, stream["reordered"])
        duplicated.add_metric(values, stream["duplicated"])
    yield from (loss, jitter, packets, reordered, duplicated)


def seconds(milliseconds: float) -> float:
    """A time measured in milliseconds to the microsecond, in seconds to the microsecond."""
    return round(milliseconds / 1000, SECOND_DIGITS)
