"""What the command line prints: one record per event as it arrives, then a summary.

Two forms of the same records: lines for a person, NDJSON for a program (``--json``). Record
keys are the DOM attribute names; ``RECORD_FIELDS`` is the schema, documented in the README
and checked by the tests. Building a record is pure (event in, dict out); writing is the
reporter's only I/O.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from icegather.main_proc.diagnosis.outcomes import ServerOutcome
from icegather.main_proc.diagnosis.verdicts import Diagnosis
from icegather.main_proc.dom.event_target import Event
from icegather.main_proc.dom.ice_events import RTCPeerConnectionIceErrorEvent, RTCPeerConnectionIceEvent
from icegather.main_proc.dom.icegather_events import (
    IceRelayCheckEvent,
    IceServerAnswerEvent,
    IceServerNoteEvent,
    IceTransactionEvent,
)
from icegather.shared.endpoints import endpoint

CANDIDATE_TYPES = ("host", "srflx", "relay")

# Every record type and its keys, in order. Stable: monitoring jobs parse these.
RECORD_FIELDS: dict[str, tuple[str, ...]] = {
    "icegatheringstatechange": ("type", "state", "time_ms"),
    "icecandidate": (
        "type", "candidate", "component", "foundation", "priority", "candidateType", "protocol",
        "address", "port", "relatedAddress", "relatedPort", "relayProtocol", "url", "time_ms",
    ),
    "endofcandidates": ("type", "candidate", "time_ms"),
    "icecandidateerror": ("type", "url", "errorCode", "errorText", "errorCause", "address", "port", "time_ms"),
    "iceserveranswer": ("type", "url", "address", "port", "rttMs", "serverAddress", "time_ms"),
    "iceservernote": ("type", "url", "note", "detail", "address", "port", "time_ms"),
    "icetransaction": (
        "type", "url", "method", "sendsMs", "endedMs", "outcome", "errorCode", "cause", "rttMs", "address", "port",
        "serverAddress", "serverPort", "time_ms",
    ),
    "icerelaycheck": (
        "type", "url", "outcome", "relayedAddress", "relayedPort", "probes", "outReceived", "backReceived",
        "indicationProbes", "indicationOutReceived", "indicationBackReceived", "channelProbes", "channelOutReceived",
        "channelBackReceived", "strayProbes", "outSourceAddress", "outSourcePort", "rttMs", "backCause",
        "failedRequest", "errorCode", "errorCause", "errorText", "notCheckedReason", "address", "port", "time_ms",
    ),
    "summary": (
        "type", "round", "at", "complete", "candidates", "errors", "servers", "diagnosis", "failure",
        "exitStatus", "time_ms",
    ),
}
SERVER_FIELDS = ("url", "reachable", "finished", "rttMs", "gained", "errorCode", "errorText", "errorCause", "relays")
# A server row's "relays": the relay check of each relayed address it gave (empty: none checked).
RELAY_FIELDS = (
    "outcome", "relayedAddress", "relayedPort", "rttMs", "probes", "outReceived", "backReceived", "indicationProbes",
    "indicationOutReceived", "indicationBackReceived", "channelProbes", "channelOutReceived", "channelBackReceived",
    "strayProbes", "failedRequest", "errorCode", "errorCause", "errorText", "notCheckedReason",
)
DIAGNOSIS_FIELDS = ("verdict", "summary", "nextCheck", "findings")
FINDING_FIELDS = ("url", "cause", "finding", "nextCheck")


def ms(value: float) -> float:
    return round(value, 1)


def state_record(state: str, elapsed_ms: float) -> dict[str, Any]:
    return {"type": "icegatheringstatechange", "state": state, "time_ms": ms(elapsed_ms)}


def candidate_record(event: RTCPeerConnectionIceEvent, elapsed_ms: float) -> dict[str, Any]:
    candidate = event.candidate
    if candidate is None:
        # The end-of-candidates event: its record type is "icecandidate" with candidate null.
        return {"type": "icecandidate", "candidate": None, "time_ms": ms(elapsed_ms)}
    return {
        "type": "icecandidate",
        "candidate": candidate.candidate,
        "component": candidate.component,
        "foundation": candidate.foundation,
        "priority": candidate.priority,
        "candidateType": candidate.type,
        "protocol": candidate.protocol,
        "address": candidate.address,
        "port": candidate.port,
        "relatedAddress": candidate.relatedAddress,
        "relatedPort": candidate.relatedPort,
        "relayProtocol": candidate.relayProtocol,
        "url": event.url,
        "time_ms": ms(elapsed_ms),
    }


def attribute_record(kind: str, event: Event, elapsed_ms: float) -> dict[str, Any]:
    """A record whose keys between ``type`` and ``time_ms`` are the event's attribute names."""
    keys = RECORD_FIELDS[kind][1:-1]
    return {"type": kind, **{key: getattr(event, key) for key in keys}, "time_ms": ms(elapsed_ms)}


def error_record(event: RTCPeerConnectionIceErrorEvent, elapsed_ms: float) -> dict[str, Any]:
    return attribute_record("icecandidateerror", event, elapsed_ms)


def answer_record(event: IceServerAnswerEvent, elapsed_ms: float) -> dict[str, Any]:
    return {
        "type": "iceserveranswer",
        "url": event.url,
        "address": event.address,
        "port": event.port,
        "rttMs": round(event.rttMs, 3),
        "serverAddress": event.serverAddress,
        "time_ms": ms(elapsed_ms),
    }


def note_record(event: IceServerNoteEvent, elapsed_ms: float) -> dict[str, Any]:
    return attribute_record("iceservernote", event, elapsed_ms)


def relay_check_record(event: IceRelayCheckEvent, elapsed_ms: float) -> dict[str, Any]:
    return attribute_record("icerelaycheck", event, elapsed_ms)


def transaction_record(event: IceTransactionEvent, elapsed_ms: float) -> dict[str, Any]:
    record = attribute_record("icetransaction", event, elapsed_ms)
    record["sendsMs"] = list(event.sendsMs)
    return record


def schema_name(record: dict[str, Any]) -> str:
    """The ``RECORD_FIELDS`` entry a record follows (end of candidates has its own)."""
    if record["type"] == "icecandidate" and record["candidate"] is None:
        return "endofcandidates"
    return str(record["type"])


@dataclass
class Tally:
    """Every record of one gathering, for the summary and the exit status."""

    records: list[dict[str, Any]] = field(default_factory=list)
    candidates: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    complete: bool = False

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if record["type"] == "icecandidate" and record["candidate"] is not None:
            self.candidates[record["candidateType"]] += 1
        elif record["type"] == "icecandidateerror":
            self.errors += 1
        elif record["type"] == "icegatheringstatechange" and record["state"] == "complete":
            self.complete = True


def server_row(outcome: ServerOutcome) -> dict[str, Any]:
    return {
        "url": outcome.url,
        "reachable": outcome.answered if outcome.tried else None,
        "finished": outcome.settled,
        "rttMs": outcome.rtt_ms,
        "gained": list(outcome.gained),
        "errorCode": outcome.error_code,
        "errorText": outcome.error_text,
        "errorCause": outcome.error_cause,
        "relays": [{name: check[name] for name in RELAY_FIELDS} for check in outcome.relay_checks],
    }


def diagnosis_record(diagnosis: Diagnosis) -> dict[str, Any]:
    return {
        "verdict": diagnosis.verdict,
        "summary": diagnosis.summary,
        "nextCheck": diagnosis.next_check,
        "findings": [
            {"url": f.url, "cause": f.cause, "finding": f.finding, "nextCheck": f.next_check}
            for f in diagnosis.findings
        ],
    }


def summary_record(
    round_number: int,
    at: str,
    tally: Tally,
    outcomes: Sequence[ServerOutcome],
    diagnosis: Diagnosis,
    exit_status: int,
    failure: str | None,
    elapsed_ms: float,
) -> dict[str, Any]:
    return {
        "type": "summary",
        "round": round_number,
        "at": at,
        "complete": tally.complete,
        "candidates": {kind: tally.candidates.get(kind, 0) for kind in CANDIDATE_TYPES},
        "errors": tally.errors,
        "servers": [server_row(outcome) for outcome in outcomes],
        "diagnosis": diagnosis_record(diagnosis),
        "failure": failure,
        "exitStatus": exit_status,
        "time_ms": ms(elapsed_ms),
    }


# --- lines for a person -------------------------------------------------------------------


def printable(text: str) -> str:
    """Text from the network, safe for a terminal: control characters become escapes."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def local_endpoint(address: str | None, port: int | None) -> str:
    """The local socket of a record: ``-`` when none talked to the server."""
    return "-" if address is None or port is None else endpoint((address, port))


def format_line(record: dict[str, Any]) -> str:
    """One record as text for a person (a summary takes several lines)."""
    time = f"{record.get('time_ms', 0):>8.1f} ms"
    kind = schema_name(record)
    if kind == "icegatheringstatechange":
        return f"{time}  {record['state']}"
    if kind == "endofcandidates":
        return f"{time}  end of candidates"
    if kind == "icecandidate":
        line = (
            f"{time}  {record['candidateType']:<6} {record['protocol']} "
            f"{local_endpoint(record['address'], record['port'])}"
        )
        if record["relatedAddress"] is not None:
            line += f" (from {local_endpoint(record['relatedAddress'], record['relatedPort'])})"
        line += f"  {record['component']} foundation {record['foundation']} priority {record['priority']}"
        if record["url"]:
            via = f" over {record['relayProtocol']}" if record["relayProtocol"] else ""
            line += f"  via {printable(record['url'])}{via}"
        return line
    if kind == "icecandidateerror":
        return (
            f"{time}  error  {record['errorCode']} {printable(record['errorText'])}  {printable(record['url'])}"
            f"  (local {local_endpoint(record['address'], record['port'])})"
        )
    if kind == "iceserveranswer":
        return (
            f"{time}  answer {printable(record['url'])} in {record['rttMs']:.1f} ms"
            f"  (local {local_endpoint(record['address'], record['port'])})"
        )
    if kind == "iceservernote":
        return f"{time}  note   {record['note']}: {printable(record['detail'])}  {printable(record['url'])}"
    if kind == "icetransaction":
        sends = ", ".join(f"{sent:.1f}" for sent in record["sendsMs"])
        ended = {"answer": f"answered in {record['rttMs']:.1f} ms" if record["rttMs"] is not None else "answered",
                 "error": f"error {record['errorCode']}", "failed": f"failed ({record['cause']})"}[record["outcome"]]
        return (f"{time}  trace  {record['method']} to {local_endpoint(record['serverAddress'], record['serverPort'])} "
                f"sent at {sends} ms, {ended} at {record['endedMs']:.1f} ms  {printable(record['url'])}")
    if kind == "icerelaycheck":
        return f"{time}  relay check: {relay_result(record)}  {printable(record['url'])}" + (
            f"  (local {local_endpoint(record['address'], record['port'])})"
        )
    if kind == "summary":
        return format_summary(record)
    raise ValueError(f"unknown record type {kind!r}")


def format_summary(record: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {kind}" for kind, n in record["candidates"].items() if n) or "none"
    state = "complete" if record["complete"] else "NOT complete"
    lines = [
        f"summary (round {record['round']}, {record['at']}): gathering {state} in {record['time_ms']:.0f} ms; "
        f"candidates: {counts}; errors: {record['errors']}"
    ]
    if record["failure"]:
        lines.append(f"failure: {record['failure']}")
    width = max((len(printable(row["url"])) for row in record["servers"]), default=0)
    for row in record["servers"]:
        lines.append(f"  {printable(row['url']):<{width}}  {server_result(row)}")
    diagnosis = record["diagnosis"]
    lines.append(f"diagnosis: {diagnosis['summary']}")
    for finding in diagnosis["findings"]:
        lines.append(f"  {printable(finding['url'])}: {finding['finding']}; check {finding['nextCheck']}")
    if not diagnosis["findings"]:
        lines.append(f"  next: {diagnosis['nextCheck']}")
    return "\n".join(lines)


def server_result(row: dict[str, Any]) -> str:
    if row["reachable"] is None:
        return "not tried (relay only)"
    rtt = f"answered in {row['rttMs']:.1f} ms" if row["rttMs"] is not None else "no answer"
    if row["errorCode"] is not None:
        return f"FAILED {row['errorCode']} {printable(row['errorText'])} ({rtt})"
    if not row["finished"]:
        return f"NOT FINISHED ({rtt} before gathering ended)"
    gained = ", ".join(row["gained"])
    relays = "".join(f"; relay {relay_result(relay)}" for relay in row["relays"])
    return f"ok, {rtt}" + (f", gave {gained}" if gained else "") + relays


RELAY_WORDS = {
    "works": "works",
    "wrong_source": "WRONG SOURCE: data arrives from another address than the relayed one",
    "out_only": "ONE WAY: data out to the peer, nothing back",
    "back_only": "ONE WAY: data back from the peer, nothing out",
    "no_data": "CARRIES NO DATA either way",
    "reflected": "REFLECTED: probes came back to their sender, none got through",
    "indication_out_dropped": "SEND INDICATIONS DROPPED: none reached the peer",
    "indication_back_dropped": "DATA INDICATIONS MISSING: nothing from the peer came back before ChannelBind",
    "channel_out_dropped": "CHANNELDATA DROPPED: none from the client reached the peer",
    "channel_back_dropped": "CHANNEL CARRIES NOTHING BACK: nothing from the peer came back after ChannelBind",
    "refused": "REFUSED",
    "request_failed": "NOT CHECKED, no answer",
    "channel_bind_failed": "CHANNELBIND FAILED, no usable answer",
    "not_checked": "not checked",
}


def relay_traffic(relay: dict[str, Any]) -> str:
    """What got through each way: in all, or per mechanism when the mechanisms differ."""

    def ways(probes: int, out: int, back: int) -> str:
        return f"{out}/{probes} out, {back}/{probes} back"

    indications = (relay["indicationProbes"], relay["indicationOutReceived"], relay["indicationBackReceived"])
    channels = (relay["channelProbes"], relay["channelOutReceived"], relay["channelBackReceived"])
    traffic = (
        f"Send/Data {ways(*indications)}; ChannelData {ways(*channels)}"
        if channels[0] and channels != indications
        else ways(relay["probes"], relay["outReceived"], relay["backReceived"])
    )
    return traffic + (f", {relay['strayProbes']} stray" if relay["strayProbes"] else "")


def relay_result(relay: dict[str, Any]) -> str:
    """A relay check in a few words: its outcome, the relayed address and what got through."""
    words = RELAY_WORDS.get(relay["outcome"], relay["outcome"])
    relayed = local_endpoint(relay["relayedAddress"], relay["relayedPort"])
    if relay["failedRequest"]:
        words += f"; {relay['failedRequest']} {relay['errorCode']} {printable(relay['errorText'])}"
    elif not relay["probes"]:
        words += f": {printable(relay['errorText'] or '')}"
    if not relay["probes"]:
        return f"{words} ({relayed})"
    rtt = f", RTT {relay['rttMs']:.1f} ms" if relay["rttMs"] is not None else ""
    return f"{words} ({relayed}: {relay_traffic(relay)}{rtt})"


class Reporter:
    """Writes records as they come, as lines or as NDJSON. ``before_write`` runs before each
    write (the progress line uses it to clear itself)."""

    def __init__(self, out: TextIO, as_json: bool, before_write: Callable[[], None] = lambda: None) -> None:
        self.out = out
        self.as_json = as_json
        self.before_write = before_write
        self.tally = Tally()

    def show(self, record: dict[str, Any]) -> None:
        """Write one record (the round's ``observe_round`` keeps the tally)."""
        text = json.dumps(record, ensure_ascii=False) if self.as_json else format_line(record)
        self.before_write()
        self.out.write(text + "\n")
        self.out.flush()
