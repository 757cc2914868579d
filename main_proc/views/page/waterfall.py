"""The waterfall of one round: a row per configured URL and local address, on a time axis that
keeps fast and slow transactions readable (``time_axis``). Pure: records in, SVG out.

In a row: a tick for every request sent (retransmissions are the later ticks), a bar from the
first send to the end, a mark whose shape says how it ended (circle: an answer; square: an
error response; cross: no usable answer), its words below (``page_words``) in lanes that never
overlap (``chart_text.in_lanes``), and a diamond where a candidate came. A URL that failed
before sending anything (a name that does not resolve) has its row too, with its failure at
the time it was reported; a URL that was not tried says so. Times are the records' (one clock),
drawn from when gathering started.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from icegather.main_proc.diagnosis.servers.outcomes import server_names
from icegather.main_proc.views.page.chart_text import LINE_PX, Placed, escaped, fitted, in_lanes, legend_svg, svg_text
from icegather.main_proc.views.page.page_words import cause_words, local_words, transaction_words
from icegather.main_proc.views.page.time_axis import TimeAxis, time_axis

Record = Mapping[str, Any]
Server = tuple[int, str]  # (entry, URL)

WIDTH = 1200
LABEL_WIDTH = 340  # the rows' names
PLOT_LEFT = LABEL_WIDTH + 10
PLOT_RIGHT = WIDTH - 24  # room for half of the last tick's label
AXIS_HEIGHT = 28
BAR_Y = 18  # from a row's top: room above for a candidate's diamond
ROW_MIN = BAR_Y + 4 + LINE_PX + 6  # the name and the local address


@dataclass(frozen=True)
class Row:
    """One row: a URL of an ``iceServers`` entry, from one local address (None: no request
    was sent), its transactions, and the error it reported when it has none."""

    server: Server
    address: str | None
    transactions: tuple[Record, ...]
    error: Record | None


def rows_of(records: Sequence[Record], servers: Sequence[Server]) -> list[Row]:
    """A row per (URL, local address) of its transactions, in the order of ``servers`` (the
    summary's, every configured URL) and then of any other URL the records name."""
    every = list(dict.fromkeys([*servers, *((r["serverIndex"], r["url"]) for r in records
                                            if r["type"] in ("icetransaction", "icecandidateerror"))]))
    rows = []
    for server in every:
        mine = [r for r in records if (r.get("serverIndex"), r.get("url")) == server]
        transactions = [r for r in mine if r["type"] == "icetransaction"]
        for address in dict.fromkeys(t["address"] for t in transactions):
            rows.append(Row(server, address, tuple(t for t in transactions if t["address"] == address), None))
        if not transactions:
            error = next((r for r in mine if r["type"] == "icecandidateerror"), None)
            rows.append(Row(server, None, (), error))
    return rows


def waterfall(records: Sequence[Record], servers: Sequence[Server], not_tried: frozenset[Server]) -> str:
    """The SVG of a round's ``records``; ``servers``: every configured URL, ``not_tried``
    those the round did not contact (iceTransportPolicy "relay")."""
    started = next((r["timeMs"] for r in records if r["type"] == "icegatheringstatechange"), 0.0)
    rows = rows_of(records, servers)
    completed = [r["timeMs"] - started for r in records
                 if r["type"] == "icegatheringstatechange" and r["state"] == "complete"]
    # The transport completes after its last transaction ended, and the news of it may come
    # later than that end: drawn no earlier.
    ends = [t["endedMs"] - started for row in rows for t in row.transactions]
    ends += [row.error["timeMs"] - started for row in rows if row.error is not None]
    complete = max([*completed, *ends]) if completed else None
    axis = time_axis(PLOT_LEFT, PLOT_RIGHT - PLOT_LEFT, max([*ends, *completed, 1.0]))
    names = server_names([row.server for row in rows])
    drawn = [row_marks(row, names[row.server], axis, started, records, row.server in not_tried) for row in rows]
    height = AXIS_HEIGHT + sum(row_height for row_height, _ in drawn) + 6
    out = [f'<svg class="chart waterfall" width="{WIDTH}" height="{height}" role="img" '
           'aria-label="one row per server URL and local address, one tick per request sent">']
    for x in axis.minor_ticks():
        out.append(f'<line class="grid minor" x1="{x:.1f}" y1="{AXIS_HEIGHT - 4}" x2="{x:.1f}" y2="{height}"/>')
    for x, label in axis.ticks():
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{AXIS_HEIGHT - 6}" x2="{x:.1f}" y2="{height}"/>')
        out.append(svg_text(x, AXIS_HEIGHT - 10, label, "tick", "middle"))
    top = AXIS_HEIGHT
    for row_height, marks in drawn:
        out.append(f'<g transform="translate(0,{top})">{marks}</g>')
        top += row_height
    if complete is not None:
        x = axis.x(complete)
        out.append(f'<line class="complete" x1="{x:.1f}" y1="{AXIS_HEIGHT - 6}" x2="{x:.1f}" y2="{height}">'
                   f"<title>gathering complete at {complete:.1f} ms</title></line>")
    out.append("</svg>")
    return "\n".join(out)


def row_marks(
    row: Row, name: str, axis: TimeAxis, started: float, records: Sequence[Record], not_tried: bool
) -> tuple[int, str]:
    """A row's height and its SVG, drawn from y = 0 (its top)."""
    entry, url = row.server
    out = [f'<g class="row" data-url="{escaped(url)}" data-entry="{entry}" '
           f'data-address="{escaped(row.address or "")}">',
           f'<line class="rowline" x1="0" y1="0" x2="{WIDTH}" y2="0"/>',
           svg_text(4, BAR_Y + 4, fitted(name, LABEL_WIDTH - 8), "rowname", tooltip=name),
           svg_text(4, BAR_Y + 4 + LINE_PX, fitted(local_words(row.address), LABEL_WIDTH - 8), "local")]
    labels: list[tuple[float, str]] = []
    for number, t in enumerate(row.transactions):
        # A 401 to an Allocate that is tried again is TURN's challenge (REALM, NONCE), not a failure.
        challenge = t["method"] == "Allocate" and t["errorCode"] == 401 and any(
            later["method"] == "Allocate" for later in row.transactions[number + 1:])
        words = transaction_words(t, challenge)
        end = axis.x(t["endedMs"] - started)
        out.append(transaction_marks(t, axis, started, words))
        if t["outcome"] != "answer":
            labels.append((end + 6, words))
    if row.error is not None:
        at = row.error["timeMs"] - started
        words = cause_words(row.error["errorCause"] or "") if row.error["errorCause"] else str(row.error["errorCode"])
        out.append(f'<g class="transaction failed" data-outcome="failed"><title>{escaped(row.error["errorText"])} '
                   f"at {at:.1f} ms, before any request was sent</title>{cross(axis.x(at), BAR_Y)}</g>")
        labels.append((axis.x(at) + 6, words))
    elif not row.transactions and not_tried:
        labels.append((axis.x(0), "not tried (relay only)"))
    out += candidate_marks(row, axis, started, records)
    placed = in_lanes(merged(labels), PLOT_LEFT, PLOT_RIGHT)
    out += [svg_text(label.x, label_y(label), label.text, "label") for label in placed]
    out.append("</g>")
    lanes = max((label.lane + 1 for label in placed), default=0)
    return max(ROW_MIN, BAR_Y + 10 + lanes * LINE_PX), "\n".join(out)


def label_y(label: Placed) -> float:
    return BAR_Y + 8 + 11 + label.lane * LINE_PX


def merged(labels: Sequence[tuple[float, str]]) -> list[tuple[float, str]]:
    """The same words at the same place once, with their count (six lost probes: "no answer, 6 times")."""
    counts = Counter((round(x), text) for x, text in labels)
    return [(x, f"{text}, {count} times" if count > 1 else text) for (x, text), count in counts.items()]


def transaction_marks(t: Record, axis: TimeAxis, started: float, words: str) -> str:
    outcome, method = escaped(t["outcome"]), escaped(t["method"])
    sends = [sent - started for sent in t["sendsMs"]]
    ended = t["endedMs"] - started
    first = sends[0] if sends else ended
    tooltip = (f"{t['method']}: sent at {', '.join(f'{s:.1f}' for s in sends)} ms; {words} at {ended:.1f} ms"
               " (since gathering started)")
    marks = [f'<g class="transaction {outcome}" data-method="{method}" data-outcome="{outcome}">',
             f"<title>{escaped(tooltip)}</title>",
             f'<line class="bar {outcome}" x1="{axis.x(first):.1f}" y1="{BAR_Y}" x2="{axis.x(ended):.1f}" '
             f'y2="{BAR_Y}"/>']
    for attempt, sent in enumerate(sends, 1):
        x = axis.x(sent)
        marks.append(f'<line class="send" data-attempt="{attempt}" x1="{x:.1f}" y1="{BAR_Y - 7}" x2="{x:.1f}" '
                     f'y2="{BAR_Y + 7}"><title>{method} attempt {attempt} at {sent:.1f} ms</title></line>')
    end = axis.x(ended)
    if t["outcome"] == "answer":
        marks.append(f'<circle class="answer" cx="{end:.1f}" cy="{BAR_Y}" r="4"/>')
    elif t["outcome"] == "error":
        marks.append(f'<rect class="error" x="{end - 4:.1f}" y="{BAR_Y - 4}" width="8" height="8"/>')
    else:
        marks.append(cross(end, BAR_Y))
    marks.append("</g>")
    return "".join(marks)


def candidate_marks(row: Row, axis: TimeAxis, started: float, records: Sequence[Record]) -> list[str]:
    """A diamond where a candidate from the row's URL came: at the end of the first answered
    Allocate (relay) or Binding (srflx) of the row."""
    marks = []
    for r in records:
        if r["type"] != "icecandidate" or not r["candidate"] or (r["serverIndex"], r["url"]) != row.server:
            continue
        method = "Allocate" if r["candidateType"] == "relay" else "Binding"
        gave = next((t for t in row.transactions if t["method"] == method and t["outcome"] == "answer"), None)
        if gave is not None:
            at = gave["endedMs"] - started
            marks.append(f'<path class="candidate" d="{diamond(axis.x(at), BAR_Y - 16)}">'
                         f"<title>{escaped(r['candidateType'])} candidate at {at:.1f} ms</title></path>")
    return marks


def cross(x: float, y: float) -> str:
    return f'<path class="failed" d="M{x - 5:.1f},{y - 5:.1f}l10,10m-10,0l10,-10"/>'


def diamond(cx: float, top: float) -> str:
    return f"M{cx:.1f},{top:.1f}l4,4l-4,4l-4,-4z"


def legend() -> str:
    entries = [
        ('<line class="send" x1="0" y1="-7" x2="0" y2="7"/>', "request sent"),
        ('<circle class="answer" cx="0" cy="0" r="4"/>', "answer"),
        ('<rect class="error" x="-4" y="-4" width="8" height="8"/>', "error response"),
        (cross(0, 0), "no usable answer"),
        (f'<path class="candidate" d="{diamond(0, -4)}"/>', "candidate"),
        ('<line class="complete" x1="0" y1="-8" x2="0" y2="8"/>', "gathering complete"),
    ]
    return legend_svg(entries)
