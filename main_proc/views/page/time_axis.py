"""The waterfall's time axis: linear up to 1 ms, logarithmic after (a "symlog" axis), so that
a loopback answer in 0.3 ms and a silent server's 9.5 s both have room. Each decade gets the
same width; the ticks are the decades, labelled in ms or s. Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass

UNIT_MS = 1.0  # where the axis turns from linear to logarithmic


def scaled(ms: float) -> float:
    return math.log10(1 + max(0.0, ms) / UNIT_MS)


def duration_words(ms: float) -> str:
    """``0``, ``10 ms``, ``1 s``."""
    if ms == 0:
        return "0"
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


@dataclass(frozen=True)
class TimeAxis:
    """From ``left`` to ``left + width`` pixels, 0 to ``end_ms``, a decade's power of ten."""

    left: float
    width: float
    end_ms: float

    def x(self, ms: float) -> float:
        return self.left + min(1.0, scaled(ms) / scaled(self.end_ms)) * self.width

    def ticks(self) -> list[tuple[float, str]]:
        """(x, label) of 0 and every decade from 1 ms to the end."""
        decades = round(math.log10(self.end_ms / UNIT_MS))
        return [(self.x(ms), duration_words(ms)) for ms in [0.0, *(UNIT_MS * 10**d for d in range(decades + 1))]]

    def minor_ticks(self) -> list[float]:
        """x of 2 and 5 of each decade: the scale's steps, unlabelled."""
        decades = round(math.log10(self.end_ms / UNIT_MS))
        return [self.x(UNIT_MS * 10**d * f) for d in range(decades) for f in (2, 5)]


def time_axis(left: float, width: float, latest_ms: float) -> TimeAxis:
    """The axis for times up to ``latest_ms``: it ends at the next power of ten, 10 ms at least."""
    return TimeAxis(left, width, 10.0 ** max(1, math.ceil(math.log10(max(latest_ms, UNIT_MS) / UNIT_MS - 1e-9))))
