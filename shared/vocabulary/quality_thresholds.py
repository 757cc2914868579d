"""When a relay's call-like stream (``RelayQualityInfo``) degrades a call, as data: one row per
measure, its limit and where the limit comes from. A relay that crosses any of them is
``relay degraded`` (the diagnosis's verdict) and its ``icerelayquality`` record lists them in
``degraded``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Degradation = Literal["loss", "jitter", "delay"]


@dataclass(frozen=True)
class Threshold:
    """A measure of an ``icerelayquality`` record (its keys, either way: ``keys``) is degraded
    above ``limit`` (in ``unit``); ``source`` says where the limit comes from."""

    name: Degradation
    keys: tuple[str, ...]
    limit: float
    unit: str
    source: str


QUALITY_THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("loss", ("lossOut", "lossBack"), 0.01, "fraction lost, either way",
              "ITU-T G.107 (the E-model) and common VoIP monitoring practice: above 1 % loss each way, narrowband "
              "voice without packet loss concealment is audibly hurt"),
    Threshold("jitter", ("jitterOutMs", "jitterBackMs"), 30.0, "ms of RFC 3550 jitter, either way",
              "common VoIP monitoring practice: above 30 ms, jitter overruns a typical jitter buffer"),
    Threshold("delay", ("rttP95Ms",), 300.0, "ms of round trip, 95th percentile",
              "ITU-T G.114: up to 150 ms one way keeps most users satisfied, so 300 ms for a round trip through "
              "the relay"),
)


def crossed(record: Mapping[str, Any]) -> tuple[Degradation, ...]:
    """The thresholds an ``icerelayquality`` record's figures cross, in table order (a figure
    that is None, as lossBack with nothing echoed, crosses none)."""
    return tuple(
        threshold.name for threshold in QUALITY_THRESHOLDS
        if any(record[key] is not None and record[key] > threshold.limit for key in threshold.keys)
    )
