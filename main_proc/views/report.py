"""What the command line reports: one record per event as it arrives, then a summary record.

Record keys are the DOM attribute names, and icegather's own keys follow their style
(camelCase); ``RECORD_FIELDS`` is the schema, documented in the README and checked by the tests.
Every time in a record is on one clock: milliseconds since the round started (``timeMs``; a
transaction's ``sendsMs`` and ``endedMs`` too, see ``transaction_record``). Building a record is
pure (event in, dict out). A summary has a row per configured URL of each ``iceServers`` entry.
The records as lines for a person: ``text_lines``; writing them: ``reporter``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from icegather.main_proc.diagnosis.addresses.nat_behaviour import nat_behaviour
from icegather.main_proc.diagnosis.servers.outcomes import ServerError, ServerOutcome
from icegather.main_proc.diagnosis.verdicts import Diagnosis
from icegather.main_proc.dom.event_target import Event
from icegather.main_proc.dom.ice_events import RTCPeerConnectionIceErrorEvent, RTCPeerConnectionIceEvent
from icegather.main_proc.dom.icegather_events import (
    IceNatTestEvent,
    IceRelayCheckEvent,
    IceRelayQualityEvent,
    IceServerAnswerEvent,
    IceServerNoteEvent,
    IceTransactionEvent,
)
from icegather.shared.net.endpoints import endpoint

CANDIDATE_TYPES = ("host", "srflx", "relay")

# Every record type and its keys, in order. Stable: monitoring jobs parse these.
RECORD_FIELDS: dict[str, tuple[str, ...]] = {
    "icegatheringstatechange": ("type", "state", "timeMs"),
    "icecandidate": (
        "type", "candidate", "component", "foundation", "priority", "candidateType", "protocol",
        "address", "port", "relatedAddress", "relatedPort", "relayProtocol", "url", "serverIndex", "timeMs",
    ),
    "endofcandidates": ("type", "candidate", "timeMs"),
    "icecandidateerror": (
        "type", "url", "serverIndex", "errorCode", "errorText", "errorCause", "address", "port", "serverAddress",
        "timeMs",
    ),
    "iceserveranswer": (
        "type", "url", "serverIndex", "address", "port", "rttMs", "serverAddress", "serverPort", "mappedAddress",
        "mappedPort", "otherAddress", "otherPort", "timeMs",
    ),
    "iceservernote": ("type", "url", "serverIndex", "note", "detail", "address", "port", "timeMs"),
    "icetransaction": (
        "type", "url", "serverIndex", "method", "sendsMs", "endedMs", "outcome", "errorCode", "cause", "rttMs",
        "address", "port", "serverAddress", "serverPort", "timeMs",
    ),
    "icerelaycheck": (
        "type", "url", "serverIndex", "outcome", "relayedAddress", "relayedPort", "probes", "outReceived",
        "backReceived", "indicationProbes", "indicationOutReceived", "indicationBackReceived", "channelProbes",
        "channelOutReceived", "channelBackReceived", "strayProbes", "outSourceAddress", "outSourcePort", "rttMs",
        "backCause", "failedRequest", "errorCode", "errorCause", "errorText", "notCheckedReason", "address", "port",
        "timeMs",
    ),
    "icerelayquality": (
        "type", "url", "serverIndex", "address", "port", "relayedAddress", "relayedPort", "farUrl", "farServerIndex",
        "farRelayedAddress", "farRelayedPort", "mechanism", "transport", "seconds", "rate", "packetsOut",
        "packetsBack", "packetsOutReceived", "packetsBackReceived", "lossOut", "lossBack", "jitterOutMs",
        "jitterBackMs", "rttMinMs", "rttP50Ms", "rttP95Ms", "rttP99Ms", "addedDelayMs", "reordered", "duplicated",
        "degraded", "cause", "series", "timeMs",
    ),
    "icenattest": (
        "type", "url", "serverIndex", "address", "port", "test", "serverAddress", "serverPort", "answered",
        "sourceAddress", "sourcePort", "mappedAddress", "mappedPort", "timeMs",
    ),
    "summary": (
        "type", "round", "at", "complete", "candidates", "errors", "servers", "natMapping", "natFiltering",
        "diagnosis", "failure", "exitStatus", "timeMs",
    ),
}
SERVER_FIELDS = (
    "url", "entry", "reachable", "finished", "rttMs", "answeredOver", "failedOver", "gained", "errorCode", "errorText",
    "errorCause", "errorServerAddress", "otherErrors", "relays", "software", "notes", "hostAddressSeen",
)
# A server row's "otherErrors": beside its error (the most telling one), the most telling error
# of each other address family it failed over.
OTHER_ERROR_FIELDS = ("family", "errorCode", "errorText", "errorCause", "errorServerAddress")
# A server row's "relays": the relay check of each relayed address it gave (empty: none checked).
RELAY_FIELDS = (
    "outcome", "relayedAddress", "relayedPort", "rttMs", "probes", "outReceived", "backReceived", "indicationProbes",
    "indicationOutReceived", "indicationBackReceived", "channelProbes", "channelOutReceived", "channelBackReceived",
    "strayProbes", "failedRequest", "errorCode", "errorCause", "errorText", "notCheckedReason",
)
# A relay's row: its check's keys, and the figures of the stream through it.
RELAY_ROW_FIELDS = (*RELAY_FIELDS, "quality")
# A relay's "quality": the figures of its call-like stream (null: none ran), from its record.
QUALITY_FIELDS = (
    "relayedAddress", "relayedPort", "farUrl", "farRelayedAddress", "farRelayedPort", "transport", "lossOut",
    "lossBack", "jitterOutMs", "jitterBackMs", "rttP50Ms", "rttP95Ms", "addedDelayMs", "degraded", "cause",
)
# An icerelayquality record's "series": per interval of intervalMs, packets sent, lost, median RTT.
SERIES_FIELDS = ("intervalMs", "sent", "lost", "rttMs")
# The figures of a stream that are milliseconds, rounded as the relay check's RTT is.
QUALITY_MS_FIELDS = ("jitterOutMs", "jitterBackMs", "rttMinMs", "rttP50Ms", "rttP95Ms", "rttP99Ms", "addedDelayMs")
DIAGNOSIS_FIELDS = ("verdict", "summary", "nextCheck", "findings")
FINDING_FIELDS = ("url", "entry", "cause", "finding", "nextCheck")


def ms(value: float) -> float:
    return round(value, 1)


def state_record(state: str, elapsed_ms: float) -> dict[str, Any]:
    return {"type": "icegatheringstatechange", "state": state, "timeMs": ms(elapsed_ms)}


def candidate_record(event: RTCPeerConnectionIceEvent, elapsed_ms: float) -> dict[str, Any]:
    candidate = event.candidate
    if candidate is None:
        # The end-of-candidates event: its record type is "icecandidate" with candidate null.
        return {"type": "icecandidate", "candidate": None, "timeMs": ms(elapsed_ms)}
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
        "timeMs": ms(elapsed_ms),
    }


def attribute_record(kind: str, event: Event, elapsed_ms: float) -> dict[str, Any]:
    """A record whose keys between ``type`` and ``timeMs`` are the event's attribute names."""
    keys = RECORD_FIELDS[kind][1:-1]
    return {"type": kind, **{key: getattr(event, key) for key in keys}, "timeMs": ms(elapsed_ms)}


def error_record(event: RTCPeerConnectionIceErrorEvent, elapsed_ms: float) -> dict[str, Any]:
    return attribute_record("icecandidateerror", event, elapsed_ms)


def answer_record(event: IceServerAnswerEvent, elapsed_ms: float) -> dict[str, Any]:
    record = attribute_record("iceserveranswer", event, elapsed_ms)
    record["rttMs"] = round(event.rttMs, 3)
    return record


def nat_test_record(event: IceNatTestEvent, elapsed_ms: float) -> dict[str, Any]:
    return attribute_record("icenattest", event, elapsed_ms)


def optional_ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def relay_quality_record(event: IceRelayQualityEvent, elapsed_ms: float) -> dict[str, Any]:
    """The stream's record; its series as one object of lists, a median RTT null where nothing
    of an interval came back."""
    keys = RECORD_FIELDS["icerelayquality"][1:-1]
    record = {"type": "icerelayquality", **{key: getattr(event, key) for key in keys if key != "series"},
              "series": {"intervalMs": event.seriesIntervalMs, "sent": list(event.seriesSent),
                         "lost": list(event.seriesLost), "rttMs": [optional_ms(rtt) for rtt in event.seriesRttMs]},
              "timeMs": ms(elapsed_ms)}
    record.update({key: optional_ms(record[key]) for key in QUALITY_MS_FIELDS})
    record["degraded"] = list(event.degraded)
    return record


def note_record(event: IceServerNoteEvent, elapsed_ms: float) -> dict[str, Any]:
    return attribute_record("iceservernote", event, elapsed_ms)


def relay_check_record(event: IceRelayCheckEvent, elapsed_ms: float) -> dict[str, Any]:
    return attribute_record("icerelaycheck", event, elapsed_ms)


def transaction_record(event: IceTransactionEvent, elapsed_ms: float, gathering_ms: float) -> dict[str, Any]:
    """The transport times a transaction from the start of its gathering; the record puts those
    times on the round's clock, counting from ``gathering_ms``, when the main process learned
    that gathering started. That is later than the transport's start by the message's way here
    (a fraction of a millisecond on one machine, more under load), and the transaction cannot
    have ended after ``elapsed_ms``, when the main process learned of it: a transaction that
    would end later moves earlier by as much, all its times together (its durations are the
    transport's own), but not before ``gathering_ms``; what still overshoots is placed at
    ``elapsed_ms``. The round's summary, which comes later still, stays last."""
    record = attribute_record("icetransaction", event, elapsed_ms)
    overshoot = gathering_ms + event.endedMs - elapsed_ms
    first = event.sendsMs[0] if event.sendsMs else event.endedMs
    origin = gathering_ms - min(max(0.0, overshoot), first)
    record["sendsMs"] = [round(min(origin + sent, elapsed_ms), 3) for sent in event.sendsMs]
    record["endedMs"] = round(min(origin + event.endedMs, elapsed_ms), 3)
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
    # When gathering started, on the round's clock: the origin of the transport's times.
    gathering_ms: float = 0.0

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if record["type"] == "icecandidate" and record["candidate"] is not None:
            self.candidates[record["candidateType"]] += 1
        elif record["type"] == "icecandidateerror":
            self.errors += 1
        elif record["type"] == "icegatheringstatechange":
            if record["state"] == "gathering":
                self.gathering_ms = record["timeMs"]
            self.complete = self.complete or record["state"] == "complete"


def host_address_seen(records: Sequence[dict[str, Any]], entry: int, url: str) -> list[str]:
    """The local sockets from which the STUN server at ``url`` answered a Binding with the
    socket's own address: no NAT between here and it. The transport does not surface a srflx
    equal to its base (RFC 8445 5.1.3), nor one another server found first from the same base,
    so a socket counts only when no srflx at all came from it: then the first mapped address it
    met, this server's, was its own."""
    if not url.startswith("stun:"):  # stuns: maps a TLS connection; TURN answers give no srflx
        return []
    about = [r for r in records if r.get("url") == url and r.get("serverIndex") == entry]
    answered = {(r["address"], r["port"]) for r in about if r["type"] == "iceserveranswer"}
    failed = {(r["address"], r["port"]) for r in about if r["type"] == "icecandidateerror"}
    bases = {(r["relatedAddress"], r["relatedPort"]) for r in records
             if r["type"] == "icecandidate" and r["candidate"] is not None and r["candidateType"] == "srflx"}
    return [endpoint(local) for local in sorted(answered - failed - bases)]


def server_row(outcome: ServerOutcome, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
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
        "otherErrors": [other_error_row(error) for error in outcome.other_errors],
        "relays": [relay_row(check, outcome.relay_qualities) for check in outcome.relay_checks],
        "software": outcome.software or None,
        "notes": [{"note": note, "detail": detail} for note, detail in outcome.notes],
        "hostAddressSeen": host_address_seen(records, outcome.entry, outcome.url),
    }


def other_error_row(error: ServerError) -> dict[str, Any]:
    return {"family": error.family, "errorCode": error.code, "errorText": error.text, "errorCause": error.cause,
            "errorServerAddress": error.server_address}


def relay_row(check: Mapping[str, Any], qualities: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A relay check in a server row, with the figures of the stream through its relay."""
    relayed = (check["relayedAddress"], check["relayedPort"])
    quality = next((q for q in qualities if (q["relayedAddress"], q["relayedPort"]) == relayed), None)
    return {**{name: check[name] for name in RELAY_FIELDS},
            "quality": None if quality is None else {name: quality[name] for name in QUALITY_FIELDS}}


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
    nat = nat_behaviour(tally.records)
    return {
        "type": "summary",
        "round": round_number,
        "at": at,
        "complete": tally.complete,
        "candidates": {kind: tally.candidates.get(kind, 0) for kind in CANDIDATE_TYPES},
        "errors": tally.errors,
        "servers": [server_row(outcome, tally.records) for outcome in outcomes],
        "natMapping": nat.mapping,
        "natFiltering": nat.filtering,
        "diagnosis": diagnosis_record(diagnosis),
        "failure": failure,
        "exitStatus": exit_status,
        "timeMs": ms(elapsed_ms),
    }
