"""The charts of a ``--watch`` run, one column per round: how each server stood (a status grid,
URL by round, as Grafana's state timeline draws it) and its round trip (a line per server). Pure:
summaries in, SVG out.

Colour is never the only sign: a grid cell's shape is its status's (``page_words.Status``), and
each server's line has its own dash pattern and marker shape, and its name at its end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from icegather.main_proc.diagnosis.servers.outcomes import server_names
from icegather.main_proc.views.page.chart_text import FONT_PX, GAP_PX, escaped, fitted, spread, svg_text, text_width
from icegather.main_proc.views.page.page_words import server_status

Record = Mapping[str, Any]
Server = tuple[int, str]

WIDTH = 1200
LABEL_WIDTH = 340
PLOT_LEFT = LABEL_WIDTH + 10
GRID_RIGHT = WIDTH - 30
CELL_HEIGHT = 18
ROUND_LABELS = 10  # at most: more would not fit side by side
RTT_RIGHT = WIDTH - 300  # the names at the lines' ends go right of this
RTT_HEIGHT = 240
MARKERS_AT_MOST = 16  # per line: enough to tell the lines apart, few enough to see them

# Each line's own look: a dash pattern, a marker and a colour (Okabe and Ito's, told apart by
# most colour-blind eyes).
DASHES = ("", "8 4", "2 3", "10 3 2 3", "4 4", "1 3", "14 4")
COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")


def servers_of(summaries: Sequence[Record]) -> list[Server]:
    return list(dict.fromkeys((row["entry"], row["url"]) for s in summaries for row in s["servers"]))


def row_of(summary: Record, server: Server) -> Record | None:
    return next((row for row in summary["servers"] if (row["entry"], row["url"]) == server), None)


def round_labels(summaries: Sequence[Record], x_of: Any, y: float) -> list[str]:
    """The round numbers under the columns, at most ``ROUND_LABELS``, far enough apart, and the
    axis's name left of them."""
    every = -(-len(summaries) // ROUND_LABELS)
    axis_name_end = x_of(0) - text_width(str(summaries[0]["round"])) / 2 - GAP_PX
    return [svg_text(axis_name_end, y, "round", "tick", "end"), *(
        svg_text(x_of(index), y, str(summary["round"]), "tick", "middle")
        for index, summary in list(enumerate(summaries))[::every])]


def status_grid(summaries: Sequence[Record]) -> str:
    servers = servers_of(summaries)
    names = server_names(servers)
    cell = (GRID_RIGHT - PLOT_LEFT) / len(summaries)
    height = len(servers) * CELL_HEIGHT + 34
    out = [f'<svg class="chart grid-chart" width="{WIDTH}" height="{height}" role="img" '
           'aria-label="the status of each server URL in each round">']
    for number, server in enumerate(servers):
        top = number * CELL_HEIGHT + 4
        out.append(f'<g class="row" data-url="{escaped(server[1])}" data-entry="{server[0]}">')
        out.append(svg_text(4, top + 13, fitted(names[server], LABEL_WIDTH - 8), "rowname", tooltip=names[server]))
        for index, summary in enumerate(summaries):
            row = row_of(summary, server)
            if row is None:
                continue
            status = server_status(row)
            tooltip = f"{names[server]}, round {summary['round']}: {status.word}" + (
                f" ({row['errorCode']} {row['errorText']})" if row["errorCode"] is not None else "")
            out.append(f'<g class="cell {status.kind}"><title>{escaped(tooltip)}</title>'
                       f"{cell_shape(status.kind, PLOT_LEFT + index * cell, top, cell)}</g>")
        out.append("</g>")
    out += round_labels(summaries, lambda index: PLOT_LEFT + (index + 0.5) * cell, height - 14)
    out.append("</svg>")
    return "\n".join(out)


def cell_shape(kind: str, x: float, top: float, width: float) -> str:
    """A cell's mark by its status: ok fills it, a failure is a cross, a warning a triangle, an
    unfinished attempt an outline, a URL not tried a dash."""
    w, h = max(1.0, width - 1), CELL_HEIGHT - 4
    cx, cy = x + width / 2, top + h / 2
    if kind == "ok":
        return f'<rect x="{x:.1f}" y="{top}" width="{w:.1f}" height="{h}"/>'
    if kind == "failed":
        return f'<path d="M{x:.1f},{top}L{x + w:.1f},{top + h}M{x:.1f},{top + h}L{x + w:.1f},{top}"/>'
    if kind == "warning":
        return f'<path d="M{x:.1f},{top + h}L{cx:.1f},{top}L{x + w:.1f},{top + h}z"/>'
    if kind == "unfinished":
        return f'<rect x="{x + 0.5:.1f}" y="{top + 0.5}" width="{max(0.5, w - 1):.1f}" height="{h - 1}"/>'
    return f'<line x1="{x:.1f}" y1="{cy:.1f}" x2="{x + w:.1f}" y2="{cy:.1f}"/>'


def rtt_chart(summaries: Sequence[Record]) -> str:
    servers = servers_of(summaries)
    names = server_names(servers)
    values = [row["rttMs"] for s in summaries for row in s["servers"] if row["rttMs"] is not None]
    top_ms = nice_top(max(values, default=1.0) * 1.1)
    count = len(summaries)

    def x(index: int) -> float:
        return PLOT_LEFT + index / max(1, count - 1) * (RTT_RIGHT - PLOT_LEFT)

    def y(ms: float) -> float:
        return 12 + (1 - ms / top_ms) * (RTT_HEIGHT - 44)

    out = [f'<svg class="chart rtt" width="{WIDTH}" height="{RTT_HEIGHT}" role="img" '
           'aria-label="round trip time of each server per round">']
    out += ms_grid(top_ms, y, PLOT_LEFT, RTT_RIGHT)
    ends: list[tuple[int, float, float]] = []  # (line, x, y) of each line's last point
    for number, server in enumerate(servers):
        points = [(index, row["rttMs"]) for index, summary in enumerate(summaries)
                  if (row := row_of(summary, server)) is not None and row["rttMs"] is not None
                  and row["errorCode"] is None]
        if points:
            out.append(series(number, names[server], [(i, x(i), y(ms)) for i, ms in points]))
            ends.append((number, x(points[-1][0]), y(points[-1][1])))
    baselines = spread([end_y + FONT_PX / 3 for _, _, end_y in ends], FONT_PX + 2, RTT_HEIGHT - 36)
    room = WIDTH - RTT_RIGHT - 70
    for (number, end_x, end_y), baseline in zip(ends, baselines, strict=True):
        name, mid = names[servers[number]], baseline - FONT_PX / 3
        # A leader from the line's end to its name, and a sample of its look before the name.
        out.append(f'<g class="end line{number % len(COLOURS)}">'
                   f'<line class="leader" x1="{end_x + 5:.1f}" y1="{end_y:.1f}" x2="{RTT_RIGHT + 12}" y2="{mid:.1f}"/>'
                   f'<line x1="{RTT_RIGHT + 14}" y1="{mid:.1f}" x2="{RTT_RIGHT + 44}" y2="{mid:.1f}"{dashes(number)}/>'
                   f"{marker(number, RTT_RIGHT + 29, mid)}</g>")
        out.append(svg_text(RTT_RIGHT + 52, baseline, fitted(name, room), "end-label", tooltip=name))
    out += round_labels(summaries, x, RTT_HEIGHT - 6)
    out.append("</svg>")
    return "\n".join(out)


def ms_grid(top_ms: float, y: Callable[[float], float], left: float, right: float) -> list[str]:
    """Six grid lines from 0 to ``top_ms`` across [left, right], each labelled left of it."""
    out = []
    for step in range(6):
        ms = top_ms * step / 5
        out.append(f'<line class="grid" x1="{left}" y1="{y(ms):.1f}" x2="{right}" y2="{y(ms):.1f}"/>')
        out.append(svg_text(left - 6, y(ms) + 4, f"{ms:g} ms", "tick", "end"))
    return out


def dashes(number: int) -> str:
    pattern = DASHES[number % len(DASHES)]
    return f' stroke-dasharray="{pattern}"' if pattern else ""


def series(number: int, name: str, points: Sequence[tuple[int, float, float]]) -> str:
    """One server's line through its (round index, x, y) points, broken where it failed (a
    round without a point), with its marker on some of its points."""
    out = [f'<g class="series line{number % len(COLOURS)}" data-name="{escaped(name)}"><title>{escaped(name)}</title>']
    runs: list[list[str]] = []
    for position, (index, px, py) in enumerate(points):
        if not position or index != points[position - 1][0] + 1:
            runs.append([])
        runs[-1].append(f"{px:.1f},{py:.1f}")
    out += [f'<polyline fill="none"{dashes(number)} points="{" ".join(run)}"/>' for run in runs]
    every = -(-len(points) // MARKERS_AT_MOST) or 1
    out += [marker(number, px, py) for _, px, py in dict.fromkeys([*points[::every], *points[-1:]])]
    out.append("</g>")
    return "".join(out)


def marker(number: int, x: float, y: float) -> str:
    """The marker of line ``number``: circle, square, triangle, diamond, plus, cross, bar."""
    shapes = (
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5"/>',
        f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7"/>',
        f'<path d="M{x:.1f},{y - 4.5:.1f}l4.5,8h-9z"/>',
        f'<path d="M{x:.1f},{y - 5:.1f}l5,5l-5,5l-5,-5z"/>',
        f'<path class="stroked" d="M{x - 5:.1f},{y:.1f}h10M{x:.1f},{y - 5:.1f}v10"/>',
        f'<path class="stroked" d="M{x - 4:.1f},{y - 4:.1f}l8,8m-8,0l8,-8"/>',
        f'<rect x="{x - 1.5:.1f}" y="{y - 5:.1f}" width="3" height="10"/>',
    )
    return shapes[number % len(shapes)]


def line_styles() -> str:
    """The CSS of each line's colour."""
    return "\n".join(f".line{n} {{ stroke: {colour}; fill: {colour}; }}" for n, colour in enumerate(COLOURS))


def nice_top(value: float) -> float:
    """A round number at least ``value``: the top of the RTT axis."""
    step = 10.0 ** (len(str(int(max(value, 1.0)))) - 1)
    return next(step * factor for factor in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if step * factor >= value)

