"""Each relay's call-like stream (``icerelayquality`` records, ``--quality``): what it went
through in words, its figures in one line, and a chart over the stream's time of the median
round trip of each interval, with the packets each interval lost marked below it. Pure:
records in, HTML out.

The round trip is a line (broken where nothing came back), the losses are bars whose height is
the share of the interval's packets lost, and the stream's p95 and the degraded limit are
labelled lines: shape and words, never colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from icegather.main_proc.diagnosis.relays.quality_causes import quality_figures
from icegather.main_proc.views.page.chart_text import FONT_PX, escaped, fitted, legend_svg, spread, svg_text
from icegather.main_proc.views.page.page_words import cause_words
from icegather.main_proc.views.page.time_axis import duration_words
from icegather.main_proc.views.page.watch_charts import marker, ms_grid, nice_top, series
from icegather.shared.net.endpoints import endpoint
from icegather.shared.vocabulary.quality_thresholds import QUALITY_THRESHOLDS, Threshold

Record = Mapping[str, Any]

WIDTH = 1200
PLOT_LEFT = 80  # room for "1500 ms" and "all lost"
PLOT_RIGHT = WIDTH - 290  # right of this: the words of the reference lines
RTT_TOP = 12
RTT_HEIGHT = 160
LOSS_TOP = RTT_TOP + RTT_HEIGHT + 18
LOSS_HEIGHT = 36
HEIGHT = LOSS_TOP + LOSS_HEIGHT + 26  # and the time labels under it
TIME_LABELS = 8  # at most
# A limit this many times the highest round trip or less is drawn on the axis; one further
# above would flatten the line, and is written at the top instead.
LIMIT_IN_VIEW = 3


THRESHOLDS = {threshold.name: threshold for threshold in QUALITY_THRESHOLDS}
# The one limit on the chart's axis: the round trip's.
RTT_LIMIT_MS = THRESHOLDS["delay"].limit


def quality_section(records: Sequence[Record]) -> str:
    """Every stream of a round's ``records``, in the order they came ("" when none ran)."""
    streams = [record for record in records if record["type"] == "icerelayquality"]
    if not streams:
        return ""
    parts = [f'<p class="clock">Each chart: the median round trip of the packets sent in each '
             f"{interval_words(streams[0])} of the stream, from its start; below it, how many of them were lost "
             "(out or back).</p>",
             f'<p class="limits">A relay is degraded above these limits: '
             f"{escaped('; '.join(f'{limit_words(t)} ({t.source})' for t in QUALITY_THRESHOLDS))}.</p>"]
    for record in streams:
        parts += [f'<h3 class="relay">{escaped(relay_words(record))}</h3>',
                  f'<p class="figures">{escaped(figures_words(record))}</p>',
                  f'<p class="counts">{escaped(counts_words(record))}</p>',
                  f'<p class="judged">{escaped(judged_words(record))}</p>']
        if sum(record["series"]["sent"]):
            parts.append(quality_chart(record))
    parts.append(legend())
    return "\n".join(parts)


def interval_words(record: Record) -> str:
    return duration_words(record["series"]["intervalMs"])


def relay_words(record: Record) -> str:
    """``turn:a:3478, relayed at 192.0.2.1:50000`` or, relay to relay, ``relay to relay:
    turn:a -> turn:b``, with the relayed addresses."""
    near = f"{record['url']} (relayed at {relayed_words(record['relayedAddress'], record['relayedPort'])})"
    if record["farUrl"] is None:
        return f"{near} to icegather's peer socket"
    far = relayed_words(record["farRelayedAddress"], record["farRelayedPort"])
    return f"relay to relay: {near} -> {record['farUrl']} (relayed at {far})"


def relayed_words(address: str | None, port: int | None) -> str:
    return "none" if not address else endpoint((address, port or 0))


def ms_words(ms: float | None) -> str:
    if ms is None:
        return "none"
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def figures_words(record: Record) -> str:
    """The line the text view and the summary show: ``quality: loss 1.2% out / 0.8% back,
    jitter 3.1 ms, RTT p50 41 ms p95 55 ms``."""
    return f"quality: {quality_figures(record)}"


def counts_words(record: Record) -> str:
    """The rest of the figures: each way's jitter, the fastest and the 99th percentile round
    trip, and what was sent and arrived."""
    return (f"jitter {ms_words(record['jitterOutMs'])} out / {ms_words(record['jitterBackMs'])} back; RTT min "
            f"{ms_words(record['rttMinMs'])} p99 {ms_words(record['rttP99Ms'])}; added delay (p95 - min) "
            f"{ms_words(record['addedDelayMs'])}; {record['packetsOut']} packets sent out, "
            f"{record['packetsOutReceived']} arrived; {record['packetsBack']} echoed back, "
            f"{record['packetsBackReceived']} arrived; {record['reordered']} reordered, {record['duplicated']} "
            f"duplicated; {record['rate']} a second each way for {record['seconds']:g} s over {record['transport']} "
            f"by {record['mechanism']}")


def limit_words(threshold: Threshold) -> str:
    """``loss above 1% either way``."""
    if threshold.name == "loss":
        return f"loss above {threshold.limit:.0%} either way"
    if threshold.name == "jitter":
        return f"jitter above {ms_words(threshold.limit)} either way"
    return f"round trip p95 above {ms_words(threshold.limit)}"


def judged_words(record: Record) -> str:
    """Whether the stream ran to its end and crossed a limit, with a symbol whose shape says it."""
    words = [f"✖ stopped early: {cause_words(record['cause'])}"] if record["cause"] is not None else []
    if record["degraded"]:
        crossed = [limit_words(THRESHOLDS[name]) if name in THRESHOLDS else name for name in record["degraded"]]
        words.append(f"▲ relay degraded: {', '.join(crossed)}")
    return "; ".join(words) or "● ran to its end within the limits"


def quality_chart(record: Record) -> str:
    """The SVG of one stream: the median round trip of each interval, its losses, the p95 and
    the limit."""
    data = record["series"]
    interval, sent, lost, rtts = data["intervalMs"], data["sent"], data["lost"], data["rttMs"]
    span = float(len(sent) * interval)
    highest = max((ms for ms in rtts if ms is not None), default=1.0)
    drawn_limit = RTT_LIMIT_MS if highest * LIMIT_IN_VIEW >= RTT_LIMIT_MS else None
    top = nice_top(max(highest, record["rttP95Ms"] or 0.0, drawn_limit or 0.0) * 1.1)

    def x(ms: float) -> float:
        return PLOT_LEFT + ms / span * (PLOT_RIGHT - PLOT_LEFT)

    def y(ms: float) -> float:
        return RTT_TOP + (1 - ms / top) * RTT_HEIGHT

    name = relay_words(record)
    out = [f'<svg class="chart quality" width="{WIDTH}" height="{HEIGHT}" role="img" '
           f'data-url="{escaped(record["url"])}" data-entry="{record["serverIndex"]}" '
           f'aria-label="{escaped(name)}: round trip over time, losses below">',
           *ms_grid(top, y, PLOT_LEFT, PLOT_RIGHT)]
    points = [(index, x((index + 0.5) * interval), y(ms)) for index, ms in enumerate(rtts) if ms is not None]
    if points:
        out.append(series(0, f"median round trip, {name}", points))
    out += loss_marks(sent, lost, interval, x)
    out += reference_lines(record, y, drawn_limit)
    out += time_labels(span, x)
    out.append("</svg>")
    return "\n".join(out)


def loss_marks(sent: Sequence[int], lost: Sequence[int], interval: float, x: Any) -> list[str]:
    """The loss strip: a bar per interval that lost packets, as tall as the share it lost."""
    bottom = LOSS_TOP + LOSS_HEIGHT
    out = [f'<line class="grid" x1="{PLOT_LEFT}" y1="{LOSS_TOP}" x2="{PLOT_RIGHT}" y2="{LOSS_TOP}"/>',
           f'<line class="rowline" x1="{PLOT_LEFT}" y1="{bottom}" x2="{PLOT_RIGHT}" y2="{bottom}"/>',
           svg_text(PLOT_LEFT - 6, LOSS_TOP + 4, "all lost", "tick", "end"),
           svg_text(PLOT_LEFT - 6, bottom + 4, "0 lost", "tick", "end")]
    for index, (count, missing) in enumerate(zip(sent, lost, strict=True)):
        if missing:
            left, right = x(index * interval), x((index + 1) * interval)
            height = LOSS_HEIGHT * missing / count
            tooltip = (f"{duration_words(index * interval)} to {duration_words((index + 1) * interval)}: "
                       f"{missing} of {count} packets lost")
            out.append(f'<rect class="lost" data-lost="{missing}" data-sent="{count}" x="{left:.1f}" '
                       f'y="{bottom - height:.1f}" width="{max(1.0, right - left - 0.5):.1f}" height="{height:.1f}">'
                       f"<title>{escaped(tooltip)}</title></rect>")
    return out


def reference_lines(record: Record, y: Any, drawn_limit: float | None) -> list[str]:
    """The stream's p95 and the degraded limit as lines across the plot, their words right of
    it, spread apart; a limit far above the round trips (``drawn_limit`` None) is only written,
    at the top."""
    lines: list[tuple[str, float | None, str]] = []  # (class, ms or None: not on the axis, words)
    if record["rttP95Ms"] is not None:
        lines.append(("p95", record["rttP95Ms"], f"p95 of this stream {ms_words(record['rttP95Ms'])}"))
    words = f"degraded: p95 over {ms_words(RTT_LIMIT_MS)}"
    lines.append(("limit", drawn_limit, words if drawn_limit is not None else f"{words} (off axis)"))
    wanted = [y(ms) + FONT_PX / 3 if ms is not None else RTT_TOP + FONT_PX for _, ms, _ in lines]
    out = []
    for (css, ms, words), baseline in zip(lines, spread(wanted, FONT_PX + 2, LOSS_TOP - 4), strict=True):
        if ms is not None:
            out.append(f'<line class="{css}" x1="{PLOT_LEFT}" y1="{y(ms):.1f}" x2="{PLOT_RIGHT + 8}" '
                       f'y2="{y(ms):.1f}"><title>{escaped(words)}</title></line>')
        out.append(svg_text(PLOT_RIGHT + 12, baseline, fitted(words, WIDTH - PLOT_RIGHT - 16), f"{css}-label",
                            tooltip=words))
    return out


def time_labels(span: float, x: Any) -> list[str]:
    """The time since the stream started under the strip, at round steps, and the axis's name."""
    power = 10 ** math.floor(math.log10(span / TIME_LABELS))
    step = next(power * factor for factor in (1, 2, 5, 10) if power * factor >= span / TIME_LABELS)
    baseline = HEIGHT - 6
    out = [svg_text(PLOT_LEFT - 12, baseline, "time", "tick", "end")]
    for number in range(int(span / step + 1e-9) + 1):
        out.append(svg_text(x(number * step), baseline, duration_words(round(number * step, 6)), "tick", "middle"))
    return out


def legend() -> str:
    return legend_svg([
        # Each sample ends 5 px right of its place, as the legend's words start 10 px right of it.
        (f'<g class="series line0"><line x1="-8" y1="0" x2="5" y2="0"/>{marker(0, -1, 0)}</g>',
         "median round trip of an interval"),
        ('<rect class="lost" x="-4" y="-8" width="8" height="16"/>', "share of its packets lost"),
        ('<line class="p95" x1="-10" y1="0" x2="5" y2="0"/>', "the stream's p95"),
        ('<line class="limit" x1="-10" y1="0" x2="5" y2="0"/>', "degraded above"),
    ])
