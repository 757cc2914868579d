"""Text in the page's charts: escaped, measured, fitted to its room, and placed so that no two
labels overlap. Pure.

The charts write in a monospace font, so a text's width is its length times one advance
(``CHAR_PX``), known here without a browser: a label is shortened to fit its room and put
where it meets no other, and the tests measure the rendered boxes to hold this to account.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

FONT_PX = 11
# DejaVu Sans Mono and Menlo advance 0.602 em (6.6 px at 11 px), Consolas 0.55 em: a little
# more, so that an estimate is never short.
CHAR_PX = 6.9
FONT = f'{FONT_PX}px "DejaVu Sans Mono", Menlo, Consolas, monospace'
LINE_PX = 15  # between the baselines of stacked labels: more than a line of text is tall
GAP_PX = 8  # between labels side by side


def escaped(value: object) -> str:
    """A value as HTML text or as the value of a double-quoted attribute."""
    return html.escape(str(value), quote=True)


def text_width(text: str) -> float:
    return len(text) * CHAR_PX


def fitted(text: str, width: float) -> str:
    """``text``, cut with an ellipsis to fit ``width`` pixels."""
    room = max(1, int(width // CHAR_PX))
    return text if len(text) <= room else text[: room - 1] + "…"


def svg_text(x: float, y: float, text: str, css: str = "", anchor: str = "start", tooltip: str = "") -> str:
    """A text element (``tooltip``: the whole text when ``text`` is cut)."""
    attributes = f' class="{css}"' if css else ""
    attributes += f' text-anchor="{anchor}"' if anchor != "start" else ""
    title = f"<title>{escaped(tooltip)}</title>" if tooltip else ""
    return f'<text{attributes} x="{x:.1f}" y="{y:.1f}">{title}{escaped(text)}</text>'


@dataclass(frozen=True)
class Placed:
    """A label placed: its left edge, its lane (0 nearest its mark), its text."""

    x: float
    lane: int
    text: str


def in_lanes(labels: Sequence[tuple[float, str]], left: float, right: float) -> list[Placed]:
    """Each (anchor x, text) placed at its anchor, or as far left as it must be to end by
    ``right``, in the first lane where it clears every label already there: labels in one lane
    never overlap, and lanes are stacked ``LINE_PX`` apart."""
    ends: list[float] = []  # the right end of each lane's rightmost label
    placed = []
    for anchor, text in sorted(labels):
        text = fitted(text, right - left)
        x = max(left, min(anchor, right - text_width(text)))
        lane = next((number for number, end in enumerate(ends) if x >= end + GAP_PX), len(ends))
        if lane == len(ends):
            ends.append(x + text_width(text))
        ends[lane] = max(ends[lane], x + text_width(text))
        placed.append(Placed(x, lane, text))
    return placed


def spread(wanted: Sequence[float], top: float, bottom: float) -> list[float]:
    """Baselines as near the ``wanted`` ones as they can be, ``LINE_PX`` apart at least, within
    [top, bottom] (as long as they fit): labels at the ends of lines that meet."""
    order = sorted(range(len(wanted)), key=lambda index: wanted[index])
    placed = [0.0] * len(wanted)
    floor = top
    for index in order:  # down from the top, each below the one before
        placed[index] = floor = max(wanted[index], floor)
        floor += LINE_PX
    ceiling = bottom
    for index in reversed(order):  # then up from the bottom, for those pushed past it
        placed[index] = ceiling = min(placed[index], ceiling)
        ceiling -= LINE_PX
    return placed


def legend_svg(entries: Sequence[tuple[str, str]]) -> str:
    """A row of (mark drawn round (0, 0), words): a chart's legend."""
    out, x = ['<svg class="legend" width="900" height="24">'], 8.0
    for mark, words in entries:
        out.append(f'<g transform="translate({x:.0f},12)">{mark}</g>{svg_text(x + 10, 16, words)}')
        x += 24 + text_width(words)
    out.append("</svg>")
    return "".join(out)
