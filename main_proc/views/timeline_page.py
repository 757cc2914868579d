"""A gathering as a picture: a self-contained HTML page (inline SVG and CSS; no script, no
font, nothing fetched) drawn from a run's records, the same dicts the NDJSON output has.

Pure: ``timeline_page(records)`` returns the page. On it, from the top:

* the summary and the diagnosis of the last round, in the words of the text view;
* a waterfall of the last round, one row per (URL, local address): a tick for every request
  sent (retransmissions are the later ticks), a bar from the first send to the end, and a mark
  at the end whose shape says how it ended (circle: an answer; square: an error response;
  cross: no usable answer) with the code or cause written beside it and in its tooltip; a
  diamond where a candidate came from the URL, and the line where gathering completed;
* with several rounds (``--watch``), each server's RTT over the last ``ROUNDS_DRAWN`` rounds,
  failures marked, and which rounds those are: a run of weeks draws a page of the same size.

Colour is never the only sign: every mark has its shape and its label. Times are milliseconds
from the start of gathering. Every value taken from a record is escaped (``escaped``), text and
attributes alike: a saved run is a file anyone may have edited.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from icegather.main_proc.diagnosis.outcomes import server_names
from icegather.main_proc.views.text_lines import format_summary

WIDTH = 1240
LABEL_WIDTH = 330
PLOT_WIDTH = WIDTH - LABEL_WIDTH - 30
ROW_HEIGHT = 32
AXIS_HEIGHT = 30
CHART_HEIGHT = 220
# The RTT series draws the last this many rounds: enough to see a trend, and a page that
# --watch rewrites after every round costs the same at round 100 and at round 100,000.
ROUNDS_DRAWN = 100
ROUND_LABELS = 10

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 20px; max-width: 1280px; color: #111; }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 16px; margin: 20px 0 6px; }
pre { background: #f5f5f5; padding: 10px; white-space: pre-wrap; font-size: 12px; }
svg { display: block; }
svg text { font: 11px system-ui, sans-serif; fill: #111; stroke: none; }
.grid { stroke: #ddd; }
.bar { stroke-width: 3; }
.answer { stroke: #1b7f3b; fill: #1b7f3b; }
.error { stroke: #b35900; fill: #b35900; }
.failed { stroke: #b00020; fill: none; stroke-width: 2; }
.send { stroke: #333; stroke-width: 1.5; }
.candidate { fill: #2456a6; }
.complete { stroke: #555; stroke-dasharray: 4 3; }
.legend text { font-size: 12px; }
@media print { body { margin: 0; } pre { background: none; border: 1px solid #999; } }
"""


def timeline_page(
    records: Sequence[Mapping[str, Any]], title: str = "icegather", notes: Sequence[str] = ()
) -> str:
    """The page for a run's records (one round, or a --watch series of summaries); ``notes``
    are lines to show above the summary (what the page leaves out)."""
    summaries = [r for r in records if r["type"] == "summary"][-ROUNDS_DRAWN:]
    rounds = split_rounds(records)
    last = rounds[-1] if rounds else []
    traced = any(r["type"] == "icetransaction" for r in last)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escaped(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{escaped(title)}</h1>",
        *(f'<p class="note">{escaped(note)}</p>' for note in notes),
    ]
    if len(summaries) > 1:
        parts.append(f'<p class="window">{escaped(window_text(summaries, traced))}</p>')
    if summaries:
        parts.append(f'<pre class="summary">{escaped(format_summary(dict(summaries[-1])))}</pre>')
    if traced:
        parts += ["<h2>Transactions, in ms from the start of gathering</h2>", waterfall(last), legend()]
    elif summaries and len(summaries) < 2:
        parts.append("<p>No transactions: this run was made without --trace.</p>")
    if len(summaries) > 1:
        parts += [f"<h2>Round trip of each server, rounds {escaped(summaries[0]['round'])} to "
                  f"{escaped(summaries[-1]['round'])}</h2>", rtt_chart(summaries)]
    parts.append("</body></html>")
    return "\n".join(parts)


def window_text(summaries: Sequence[Mapping[str, Any]], traced: bool) -> str:
    """Which rounds the page shows, in words."""
    last = summaries[-1]["round"]
    return (f"Showing rounds {summaries[0]['round']} to {last}: the summary{' and transactions' if traced else ''} "
            f"of round {last}, and the round trip of each server in these {len(summaries)} rounds (the page "
            f"draws the last {ROUNDS_DRAWN} rounds at most).")


def escaped(value: object) -> str:
    """A value as HTML text or as the value of a double-quoted attribute."""
    return html.escape(str(value), quote=True)


def split_rounds(records: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """The records of each round: a round ends with its summary."""
    rounds: list[list[Mapping[str, Any]]] = [[]]
    for record in records:
        rounds[-1].append(record)
        if record["type"] == "summary":
            rounds.append([])
    return [r for r in rounds if any(record["type"] != "summary" for record in r)] or [rounds[0]]


def gathering_origin(records: Sequence[Mapping[str, Any]]) -> float:
    """The time_ms at which gathering started, the origin of the transactions' times."""
    return next((r["time_ms"] for r in records if r["type"] == "icegatheringstatechange"), 0.0)


def waterfall(records: Sequence[Mapping[str, Any]]) -> str:
    transactions = [r for r in records if r["type"] == "icetransaction"]
    rows: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for t in transactions:
        rows.setdefault((t["url"], t["address"]), []).append(t)
    # The transport completes after its last transaction ended; on the main process's clock the
    # news comes a little later: drawn no earlier than that last end.
    origin = gathering_origin(records)
    completed = [r["time_ms"] - origin for r in records if r["type"] == "icegatheringstatechange"
                 and r["state"] == "complete"]
    complete = max([*completed, *(t["endedMs"] for t in transactions)]) if completed else None
    # A candidate is drawn where the answer that gave it came: at the end of its URL's first
    # successful Allocate (relay) or Binding (srflx). Its record's own time is the main
    # process's, on another clock than the transport's transactions.
    candidates = [(r["url"], "Allocate" if r["candidateType"] == "relay" else "Binding") for r in records
                  if r["type"] == "icecandidate" and r.get("candidate") and r.get("url")]
    end = max([t["endedMs"] for t in transactions] + ([complete] if complete is not None else []) + [1.0])
    span = nice_span(end * 1.05)

    def x(ms: float) -> float:
        return LABEL_WIDTH + max(0.0, ms) / span * PLOT_WIDTH

    height = AXIS_HEIGHT + ROW_HEIGHT * len(rows) + 10
    out = [f'<svg class="waterfall" width="{WIDTH}" height="{height}" role="img" '
           'aria-label="one row per server URL and local address, one tick per request sent">']
    for tick in axis_ticks(span):
        out.append(f'<line class="grid" x1="{x(tick):.1f}" y1="{AXIS_HEIGHT - 6}" x2="{x(tick):.1f}" y2="{height}"/>')
        out.append(f'<text x="{x(tick):.1f}" y="{AXIS_HEIGHT - 10}" text-anchor="middle">{tick:g}</text>')
    for index, ((url, address), row) in enumerate(rows.items()):
        y = AXIS_HEIGHT + index * ROW_HEIGHT + ROW_HEIGHT / 2
        label = f"{url}  ({address})"
        out.append(f'<g class="row" data-url="{escaped(url)}" data-address="{escaped(address)}">')
        out.append(f'<text x="4" y="{y + 4:.1f}"><title>{escaped(label)}</title>{escaped(shorten(label))}</text>')
        for number, t in enumerate(row):
            # A 401 to an Allocate that is tried again is TURN's challenge (REALM, NONCE), not a failure.
            challenge = t["method"] == "Allocate" and t["errorCode"] == 401 and any(
                later["method"] == "Allocate" for later in row[number + 1 :]
            )
            out += transaction_marks(t, x, y, challenge, below=number % 2 == 1)
        for cand_url, method in candidates:
            gave = next((t for t in row if t["method"] == method and t["outcome"] == "answer"), None)
            if cand_url == url and gave is not None:
                at = gave["endedMs"]
                out.append(f'<path class="candidate" d="{diamond(x(at), y - 16)}"><title>candidate at {at:.1f} ms'
                           "</title></path>")
        out.append("</g>")
    if complete is not None:
        out.append(f'<line class="complete" x1="{x(complete):.1f}" y1="{AXIS_HEIGHT - 6}" x2="{x(complete):.1f}" '
                   f'y2="{height}"><title>gathering complete at {complete:.1f} ms</title></line>')
    out.append("</svg>")
    return "\n".join(out)


def transaction_marks(
    t: Mapping[str, Any], x: Callable[[float], float], y: float, challenge: bool, below: bool
) -> list[str]:
    """A transaction's bar, send ticks, end mark and label (every other one below the bar, so
    that the labels of back-to-back transactions do not overlap)."""
    outcome = t["outcome"]
    sends = t["sendsMs"]
    start = sends[0] if sends else t["endedMs"]
    label = (f"{t['errorCode']}{' challenge' if challenge else ''}" if outcome == "error"
             else t["cause"] or "" if outcome == "failed"
             else f"{t['rttMs']:.1f} ms" if t["rttMs"] is not None else "")
    tooltip = (f"{t['method']}: sent at {', '.join(f'{s:.1f}' for s in sends)} ms; "
               f"{outcome} {label} at {t['endedMs']:.1f} ms")
    kind, method = escaped(outcome), escaped(t["method"])
    marks = [f'<g class="transaction {kind}" data-method="{method}" data-outcome="{kind}">',
             f"<title>{escaped(tooltip)}</title>",
             f'<line class="bar {kind}" x1="{x(start):.1f}" y1="{y:.1f}" x2="{x(t["endedMs"]):.1f}" y2="{y:.1f}"/>']
    for attempt, sent in enumerate(sends, 1):
        marks.append(f'<line class="send" data-attempt="{attempt}" x1="{x(sent):.1f}" y1="{y - 7:.1f}" '
                     f'x2="{x(sent):.1f}" y2="{y + 7:.1f}"><title>{method} attempt {attempt} at {sent:.1f} ms'
                     "</title></line>")
    end = x(t["endedMs"])
    if outcome == "answer":
        marks.append(f'<circle class="answer" cx="{end:.1f}" cy="{y:.1f}" r="4"/>')
    elif outcome == "error":
        marks.append(f'<rect class="error" x="{end - 4:.1f}" y="{y - 4:.1f}" width="8" height="8"/>')
    else:
        marks.append(f'<path class="failed" d="M{end - 5:.1f},{y - 5:.1f}L{end + 5:.1f},{y + 5:.1f}'
                     f'M{end - 5:.1f},{y + 5:.1f}L{end + 5:.1f},{y - 5:.1f}"/>')
    if outcome != "answer":
        label_y = y + 13 if below else y - 6
        marks.append(f'<text class="code" x="{end + 8:.1f}" y="{label_y:.1f}">{escaped(label)}</text>')
    marks.append("</g>")
    return marks


def legend() -> str:
    return (
        '<svg class="legend" width="820" height="26"><g transform="translate(4,13)">'
        '<line class="send" x1="0" y1="-7" x2="0" y2="7"/><text x="8" y="4">request sent</text>'
        '<circle class="answer" cx="110" cy="0" r="4"/><text x="120" y="4">answer</text>'
        '<rect class="error" x="186" y="-4" width="8" height="8"/><text x="200" y="4">error response (code)</text>'
        '<path class="failed" d="M345,-5L355,5M345,5L355,-5"/><text x="362" y="4">no usable answer (cause)</text>'
        f'<path class="candidate" d="{diamond(540, -8)}"/><text x="550" y="4">candidate</text>'
        '<line class="complete" x1="640" y1="-8" x2="640" y2="8"/><text x="648" y="4">gathering complete</text>'
        "</g></svg>"
    )


def rtt_chart(summaries: Sequence[Mapping[str, Any]]) -> str:
    servers = list(dict.fromkeys((row["entry"], row["url"]) for s in summaries for row in s["servers"]))
    names = server_names(servers)
    values = [row["rttMs"] for s in summaries for row in s["servers"] if row["rttMs"] is not None]
    top = nice_span(max(values, default=1.0) * 1.1)
    count = len(summaries)

    def x(index: int) -> float:
        return LABEL_WIDTH + index / max(1, count - 1) * PLOT_WIDTH

    def y(ms: float) -> float:
        return 10 + (1 - ms / top) * (CHART_HEIGHT - 40)

    out = [f'<svg class="rtt" width="{WIDTH}" height="{CHART_HEIGHT}" role="img" '
           'aria-label="round trip time of each server per round">']
    for tick in axis_ticks(top):
        out.append(f'<line class="grid" x1="{LABEL_WIDTH}" y1="{y(tick):.1f}" x2="{WIDTH - 30}" y2="{y(tick):.1f}"/>')
        out.append(f'<text x="{LABEL_WIDTH - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g} ms</text>')
    for number, server in enumerate(servers):
        url = names[server]
        points = []
        for index, summary in enumerate(summaries):
            row = next((r for r in summary["servers"] if (r["entry"], r["url"]) == server), None)
            if row is None:
                continue
            if row["errorCode"] is not None:
                out.append(f'<path class="failed" d="M{x(index) - 4:.1f},{CHART_HEIGHT - 26}l8,8m-8,0l8,-8">'
                           f'<title>{escaped(url)} round {escaped(summary["round"])}: {escaped(row["errorCode"])}'
                           "</title></path>")
            elif row["rttMs"] is not None:
                points.append(f"{x(index):.1f},{y(row['rttMs']):.1f}")
        dashes = f' stroke-dasharray="{3 * number} 2"' if number else ""  # each server its own line style
        if points:
            out.append(f'<polyline class="series" fill="none" stroke="#333"{dashes} points="{" ".join(points)}">'
                       f"<title>{escaped(url)}</title></polyline>")
        out.append(f'<line x1="4" y1="{16 + number * 16}" x2="34" y2="{16 + number * 16}" stroke="#333"{dashes}/>'
                   f'<text x="40" y="{20 + number * 16}">{escaped(shorten(url, 40))}</text>')
    every = -(-count // ROUND_LABELS)  # at most ROUND_LABELS labels: more would overlap
    for index, summary in list(enumerate(summaries))[::every]:
        out.append(f'<text x="{x(index):.1f}" y="{CHART_HEIGHT - 4}" text-anchor="middle">'
                   f'round {escaped(summary["round"])}</text>')
    out.append("</svg>")
    return "\n".join(out)


def nice_span(value: float) -> float:
    """A round number at least ``value``: the end of an axis."""
    step = 10.0 ** (len(str(int(max(value, 1.0)))) - 1)
    for factor in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * factor >= value:
            return step * factor
    return step * 10


def axis_ticks(span: float) -> list[float]:
    return [span * i / 5 for i in range(6)]


def diamond(cx: float, top: float) -> str:
    return f"M{cx:.1f},{top:.1f}l4,4l-4,4l-4,-4z"


def shorten(text: str, limit: int = 52) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
