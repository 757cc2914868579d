"""What the command line reports: one record per event as it arrives, then a summary record.

Record keys are the DOM attribute names; ``RECORD_FIELDS`` is the schema, documented in the
README and checked by the tests. Building a record is pure (event in, dict out). A summary has a
row per configured URL of each ``iceServers`` entry. The records as lines for a person:
``text_lines``; writing them: ``reporter``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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

CANDIDATE_TYPES = ("host", "srflx", "relay")

# Every record type and its keys, in order. Stable: monitoring jobs parse these.
RECORD_FIELDS: dict[str, tuple[str, ...]] = {
    "icegatheringstatechange": ("type", "state", "time_ms"),
    "icecandidate": (
        "type", "candidate", "component", "foundation", "priority", "candidateType", "protocol",
        "address", "port", "relatedAddress", "relatedPort", "relayProtocol", "url", "serverIndex", "time_ms",
    ),
    "endofcandidates": ("type", "candidate", "time_ms"),
    "icecandidateerror": (
        "type", "url", "serverIndex", "errorCode", "errorText", "errorCause", "address", "port", "serverAddress",
        "time_ms",
    ),
    "iceserveranswer": ("type", "url", "serverIndex", "address", "port", "rttMs", "serverAddress", "time_ms"),
    "iceservernote": ("type", "url", "serverIndex", "note", "detail", "address", "port", "time_ms"),
    "icetransaction": (
        "type", "url", "serverIndex", "method", "sendsMs", "endedMs", "outcome", "errorCode", "cause", "rttMs",
        "address", "port", "serverAddress", "serverPort", "time_ms",
    ),
    "icerelaycheck": (
        "type", "url", "serverIndex", "outcome", "relayedAddress", "relayedPort", "probes", "outReceived",
        "backReceived", "indicationProbes", "indicationOutReceived", "indicationBackReceived", "channelProbes",
        "channelOutReceived", "channelBackReceived", "strayProbes", "outSourceAddress", "outSourcePort", "rttMs",
        "backCause", "failedRequest", "errorCode", "errorCause", "errorText", "notCheckedReason", "address", "port",
        "time_ms",
    ),
    "summary": (
        "type", "round", "at", "complete", "candidates", "errors", "servers", "diagnosis", "failure",
        "exitStatus", "time_ms",
    ),
}
SERVER_FIELDS = (
    "url", "entry", "reachable", "finished", "rttMs", "answeredOver", "failedOver", "gained", "errorCode", "errorText",
    "errorCause", "errorServerAddress", "relays", "software", "notes",
)
# A server row's "relays": the relay check of each relayed address it gave (empty: none checked).
RELAY_FIELDS = (
    "outcome", "relayedAddress", "relayedPort", "rttMs", "probes", "outReceived", "backReceived", "indicationProbes",
    "indicationOutReceived", "indicationBackReceived", "channelProbes", "channelOutReceived", "channelBackReceived",
    "strayProbes", "failedRequest", "errorCode", "errorCause", "errorText", "notCheckedReason",
)
DIAGNOSIS_FIELDS = ("verdict", "summary", "nextCheck", "findings")
FINDING_FIELDS = ("url", "entry", "cause", "finding", "nextCheck")


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
        "serverIndex": event.serverIndex,
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
        "serverIndex": event.serverIndex,
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
        "entry": outcome.entry,
        "reachable": outcome.answered if outcome.tried else None,
        "finished": outcome.settled,
        "rttMs": outcome.rtt_ms,
        "answeredOver": list(outcome.answered_over),
        "failedOver": list(outcome.failed_over),
        "gained": list(outcome.gained),
        "errorCode": outcome.error_code,
        "errorText": outcome.error_text,
        "errorCause": outcome.error_cause,
        "errorServerAddress": outcome.error_server_address,
        "relays": [{name: check[name] for name in RELAY_FIELDS} for check in outcome.relay_checks],
        "software": outcome.software or None,
        "notes": [{"note": note, "detail": detail} for note, detail in outcome.notes],
    }


def diagnosis_record(diagnosis: Diagnosis) -> dict[str, Any]:
    return {
        "verdict": diagnosis.verdict,
        "summary": diagnosis.summary,
        "nextCheck": diagnosis.next_check,
        "findings": [
            {"url": f.url, "entry": f.entry, "cause": f.cause, "finding": f.finding, "nextCheck": f.next_check}
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
