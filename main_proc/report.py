"""What the command line prints: one record per event, and a summary.

Two forms of the same records: lines for a person, NDJSON for a program (``--json``), whose
keys are the DOM attribute names. Building a record is pure (event in, dict out); writing it
is the reporter's only I/O.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

from main_proc.events import RTCPeerConnectionIceErrorEvent, RTCPeerConnectionIceEvent


def candidate_record(event: RTCPeerConnectionIceEvent, elapsed_ms: float) -> dict[str, Any]:
    candidate = event.candidate
    if candidate is None:
        return {"type": "icecandidate", "candidate": None, "time_ms": round(elapsed_ms, 1)}
    return {
        "type": "icecandidate",
        "candidate": candidate.candidate,
        "candidateType": candidate.type,
        "protocol": candidate.protocol,
        "address": candidate.address,
        "port": candidate.port,
        "relatedAddress": candidate.relatedAddress,
        "relatedPort": candidate.relatedPort,
        "relayProtocol": candidate.relayProtocol,
        "url": event.url,
        "time_ms": round(elapsed_ms, 1),
    }


def error_record(event: RTCPeerConnectionIceErrorEvent, elapsed_ms: float) -> dict[str, Any]:
    return {
        "type": "icecandidateerror",
        "url": event.url,
        "errorCode": event.errorCode,
        "errorText": event.errorText,
        "address": event.address,
        "port": event.port,
        "time_ms": round(elapsed_ms, 1),
    }


def state_record(state: str, elapsed_ms: float) -> dict[str, Any]:
    return {"type": "icegatheringstatechange", "state": state, "time_ms": round(elapsed_ms, 1)}


@dataclass
class Tally:
    """What happened, for the summary and the exit status."""

    candidates: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = False

    def add(self, record: dict[str, Any]) -> None:
        if record["type"] == "icecandidate" and record["candidate"] is not None:
            self.candidates[record["candidateType"]] += 1
        elif record["type"] == "icecandidateerror":
            self.errors.append(record)
        elif record["type"] == "icegatheringstatechange" and record["state"] == "complete":
            self.complete = True


def summary_record(tally: Tally, exit_status: int, failure: str | None) -> dict[str, Any]:
    return {
        "type": "summary",
        "complete": tally.complete,
        "candidates": {kind: tally.candidates.get(kind, 0) for kind in ("host", "srflx", "relay")},
        "errors": len(tally.errors),
        "failure": failure,
        "exitStatus": exit_status,
    }


def printable(text: str) -> str:
    """Text from the network, safe for a terminal: control characters become escapes."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def endpoint(address: str | None, port: int | None) -> str:
    if address is None:
        return "-"
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{port}" if port is not None else host


def format_line(record: dict[str, Any]) -> str:
    """One record as a line for a person."""
    time = f"{record.get('time_ms', 0):>8.1f} ms"
    kind = record["type"]
    if kind == "icegatheringstatechange":
        return f"{time}  {record['state']}"
    if kind == "icecandidate":
        if record["candidate"] is None:
            return f"{time}  end of candidates"
        line = f"{time}  {record['candidateType']:<6} {record['protocol']} {endpoint(record['address'], record['port'])}"
        if record["relatedAddress"] is not None:
            line += f" (from {endpoint(record['relatedAddress'], record['relatedPort'])})"
        if record["url"]:
            via = f" over {record['relayProtocol']}" if record["relayProtocol"] else ""
            line += f"  via {printable(record['url'])}{via}"
        return line
    if kind == "icecandidateerror":
        return (
            f"{time}  error  {record['errorCode']} {printable(record['errorText'])}  {printable(record['url'])}"
            f"  (local {endpoint(record['address'], record['port'])})"
        )
    if kind == "summary":
        counts = ", ".join(f"{n} {kind}" for kind, n in record["candidates"].items() if n) or "none"
        verdict = "complete" if record["complete"] else "NOT complete"
        line = f"summary: gathering {verdict}; candidates: {counts}; errors: {record['errors']}"
        if record["failure"]:
            line += f"; failure: {record['failure']}"
        return line
    raise ValueError(f"unknown record type {kind!r}")


class Reporter:
    """Writes records as they come, as lines or as NDJSON."""

    def __init__(self, out: TextIO, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.tally = Tally()

    def write(self, record: dict[str, Any]) -> None:
        self.tally.add(record)
        text = json.dumps(record, ensure_ascii=False) if self.as_json else format_line(record)
        self.out.write(text + "\n")
        self.out.flush()
