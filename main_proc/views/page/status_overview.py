"""The top of the page: how each configured URL stands after the last round, one row each, with
a status told by colour, shape and word, its round trip and what happened in words; then the
diagnosis. Pure: a summary record in, HTML out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from icegather.main_proc.diagnosis.servers.outcomes import server_names
from icegather.main_proc.views.page.chart_text import escaped
from icegather.main_proc.views.page.page_words import server_status
from icegather.main_proc.views.text_lines import server_result

Record = Mapping[str, Any]


def status_overview(summary: Record) -> str:
    names = server_names([(row["entry"], row["url"]) for row in summary["servers"]])
    findings = {(f["entry"], f["url"]): f for f in summary["diagnosis"]["findings"]}
    diagnosis = summary["diagnosis"]
    state = "complete" if summary["complete"] else "NOT complete"
    counts = ", ".join(f"{n} {kind}" for kind, n in summary["candidates"].items() if n) or "none"
    out = [f'<p class="verdict">{escaped(diagnosis["summary"])}.</p>',
           f'<p class="next">Check first: {escaped(diagnosis["nextCheck"])}.</p>' if not diagnosis["findings"] else "",
           f'<p class="facts">Round {escaped(summary["round"])} at {escaped(summary["at"])}: gathering {state} in '
           f'{summary["timeMs"]:.0f} ms; candidates: {escaped(counts)}; errors: {escaped(summary["errors"])}.</p>',
           f'<p class="failure">{escaped(summary["failure"])}</p>' if summary["failure"] else "",
           '<table class="status"><thead><tr><th>status</th><th>server URL</th><th>round trip</th>'
           "<th>what happened</th></tr></thead><tbody>"]
    for row in summary["servers"]:
        key = (row["entry"], row["url"])
        status = server_status(row)
        rtt = f"{row['rttMs']:.1f} ms" if row["rttMs"] is not None else "none"
        finding = findings.get(key)
        happened = escaped(f"{finding['finding']}; check {finding['nextCheck']}" if finding is not None
                           else server_result(dict(row)))
        if finding is not None and row["errorCode"] is not None:
            happened += f'<br><span class="detail">{escaped(row["errorCode"])} {escaped(row["errorText"])}</span>'
        out.append(f'<tr class="server {status.kind}" data-url="{escaped(row["url"])}" data-entry="{row["entry"]}">'
                   f'<td class="state"><span class="symbol">{status.symbol}</span> {status.word}</td>'
                   f'<td class="url">{escaped(names[key])}</td><td class="rtt">{rtt}</td>'
                   f"<td>{happened}</td></tr>")
    out.append("</tbody></table>")
    return "\n".join(part for part in out if part)
