"""A run as a picture: a self-contained HTML page (inline SVG and CSS; no script, no font,
nothing fetched) drawn from a run's records, the same dicts the NDJSON output has.

Pure: ``timeline_page(records)`` returns the page. On it, from the top:

* how each configured URL stands after the last round, and the diagnosis (``status_overview``);
* with several rounds (``--watch``), each URL's status round by round and each server's round
  trip, over the last ``ROUNDS_DRAWN`` rounds, and which rounds those are: a run of weeks draws
  a page of the same size (``watch_charts``);
* each relay's call-like stream in the last round (``--quality``): its round trip over time,
  the packets it lost and its figures (``quality_charts``);
* the waterfall of the last round (``waterfall``), with its legend;
* the last round's summary in the words of the text view, folded.

Colour is never the only sign: every mark has its shape and its words. Every time comes from
the records, on their one clock. Every value taken from a record is escaped, text and
attributes alike: a saved run is a file anyone may have edited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from icegather.main_proc.views.page.chart_text import FONT, escaped
from icegather.main_proc.views.page.quality_charts import quality_section
from icegather.main_proc.views.page.status_overview import status_overview
from icegather.main_proc.views.page.watch_charts import line_styles, rtt_chart, status_grid
from icegather.main_proc.views.page.waterfall import legend, waterfall
from icegather.main_proc.views.text_lines import format_summary

# The --watch charts draw the last this many rounds: enough to see a trend, and a page that
# --watch rewrites after every round costs the same at round 100 and at round 100,000.
ROUNDS_DRAWN = 100

STYLE = f"""
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 20px; max-width: 1220px; color: #111; }}
h1 {{ font-size: 20px; margin: 0 0 8px; }}
h2 {{ font-size: 16px; margin: 22px 0 6px; }}
.verdict {{ font-size: 16px; font-weight: 600; margin: 4px 0; }}
table.status {{ border-collapse: collapse; margin: 8px 0; }}
table.status th, table.status td {{ text-align: left; vertical-align: top; padding: 4px 10px 4px 0;
  border-bottom: 1px solid #e4e4e4; }}
table.status td.url {{ font-family: monospace; white-space: nowrap; }}
table.status td.rtt {{ white-space: nowrap; text-align: right; }}
table.status td.state {{ white-space: nowrap; font-weight: 600; }}
.symbol {{ display: inline-block; width: 1.2em; }}
.detail {{ color: #555; font-size: 12px; }}
tr.ok .state {{ color: #1b7f3b; }} tr.failed .state {{ color: #b00020; }}
tr.warning .state {{ color: #a65d00; }} tr.unfinished .state, tr.untried .state {{ color: #555; }}
pre {{ padding: 10px; white-space: pre-wrap; font-size: 12px; border: 1px solid #ccc; }}
svg {{ display: block; overflow: hidden; }}
svg text {{ font: {FONT}; fill: #111; stroke: none; }}
text.local {{ fill: #555; }}
.grid {{ stroke: #ccc; }} .grid.minor {{ stroke: #eee; }} .rowline {{ stroke: #eee; }}
.bar {{ stroke-width: 3; }}
.answer {{ stroke: #1b7f3b; fill: #1b7f3b; }}
.error {{ stroke: #a65d00; fill: #a65d00; }}
.failed {{ stroke: #b00020; fill: none; stroke-width: 2; }}
.send {{ stroke: #333; stroke-width: 1.5; }}
.candidate {{ fill: #2456a6; }}
.complete {{ stroke: #555; stroke-dasharray: 4 3; }}
.cell.ok {{ fill: #1b7f3b; }} .cell.failed {{ stroke: #b00020; stroke-width: 2; fill: none; }}
.cell.warning {{ fill: #e69f00; }} .cell.unfinished {{ stroke: #555; fill: none; }} .cell.untried {{ stroke: #999; }}
h3 {{ font-size: 14px; margin: 16px 0 2px; font-family: monospace; overflow-wrap: anywhere; }}
.figures, .counts, .judged {{ margin: 2px 0; }} .counts {{ color: #555; font-size: 12px; }}
.lost {{ fill: #b00020; stroke: none; }} .p95 {{ stroke: #555; stroke-dasharray: 2 3; }}
.limit {{ stroke: #b00020; stroke-dasharray: 8 4; stroke-width: 1.5; }}
.series polyline {{ stroke-width: 2; }} .stroked {{ fill: none; stroke-width: 2; }} .leader {{ stroke-width: 0.7; }}
{line_styles()}
@media print {{ body {{ margin: 0; }} }}
"""


def timeline_page(
    records: Sequence[Mapping[str, Any]], title: str = "icegather", notes: Sequence[str] = ()
) -> str:
    """The page for a run's records (one round, or a --watch series of summaries, with each
    round's events or without); ``notes`` are lines to show first (what the page leaves out)."""
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
        parts += ["<h2>Status of each server URL</h2>", status_overview(summaries[-1])]
    if len(summaries) > 1:
        parts += [f"<h2>Status round by round, rounds {escaped(summaries[0]['round'])} to "
                  f"{escaped(summaries[-1]['round'])}</h2>", status_grid(summaries),
                  "<h2>Round trip of each server</h2>", rtt_chart(summaries)]
    quality = quality_section(last)
    if quality:
        parts += ["<h2>Call-like stream through each relay</h2>", quality]
    if traced:
        parts += ["<h2>Transactions of the last round</h2>", f'<p class="clock">{escaped(clock_text(last))}</p>',
                  waterfall(last, *configured(summaries[-1:])), legend()]
    elif summaries:
        parts.append("<p>No transactions: this run was made without --trace.</p>")
    if summaries:
        parts.append('<details><summary>The last summary in the words of the text view</summary>'
                     f'<pre class="summary">{escaped(format_summary(dict(summaries[-1])))}</pre></details>')
    parts.append("</body></html>")
    return "\n".join(parts)


def configured(summaries: Sequence[Mapping[str, Any]]) -> tuple[list[tuple[int, str]], frozenset[tuple[int, str]]]:
    """Every URL of the last summary, in order, and those it did not try."""
    rows = summaries[-1]["servers"] if summaries else []
    return ([(row["entry"], row["url"]) for row in rows],
            frozenset((row["entry"], row["url"]) for row in rows if row["reachable"] is None))


def clock_text(records: Sequence[Mapping[str, Any]]) -> str:
    started = next((r["timeMs"] for r in records if r["type"] == "icegatheringstatechange"), 0.0)
    return (f"Time since gathering started, at {started:.1f} ms of the round (every time icegather writes counts "
            "from the start of the round). The axis is linear to 1 ms and logarithmic after, so that answers "
            "in a fraction of a millisecond and a silent server's seconds both show.")


def window_text(summaries: Sequence[Mapping[str, Any]], traced: bool) -> str:
    """Which rounds the page shows, in words."""
    last = summaries[-1]["round"]
    return (f"Showing rounds {summaries[0]['round']} to {last}: the status{' and transactions' if traced else ''} "
            f"of round {last}, and each server's status and round trip in these {len(summaries)} rounds (the page "
            f"draws the last {ROUNDS_DRAWN} rounds at most).")


def split_rounds(records: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """The records of each round: a round ends with its summary."""
    rounds: list[list[Mapping[str, Any]]] = [[]]
    for record in records:
        rounds[-1].append(record)
        if record["type"] == "summary":
            rounds.append([])
    return [r for r in rounds if any(record["type"] != "summary" for record in r)] or [rounds[0]]
