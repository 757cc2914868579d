"""Which records of a saved run the timeline page can draw: every field the page reads from a
record must have the type icegather writes there. A saved run is a file anyone may have
edited, so ``icegather report`` checks each record with ``drawable`` and skips the others; the
page then never meets a list where it formats text or a string where it computes a position.

Pure. Only the kinds the page draws are checked (state changes, candidates, errors,
transactions, quality streams, summaries); it reads nothing but ``type`` from the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from icegather.main_proc.views.text_lines import NOTE_WORDS
from icegather.shared.config.gather_limits import MAX_QUALITY_INTERVALS, MAX_QUALITY_SECONDS
from icegather.shared.net.endpoints import parse_ip

Check = Callable[[Any], bool]

# No time, code, port or count icegather writes comes near this; bounding numbers keeps every
# axis and every float format of the page finite.
LIMIT = 1e12
TRANSACTION_OUTCOMES = ("answer", "error", "failed")


def text(value: Any) -> bool:
    return isinstance(value, str)


def number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and (
        abs(value) <= LIMIT
    )


def integer(value: Any) -> bool:
    return isinstance(value, int) and number(value)


def at_least_zero(check: Check) -> Check:
    return lambda value: check(value) and value >= 0


def flag(value: Any) -> bool:
    return isinstance(value, bool)


def ip(value: Any) -> bool:
    """An address the summary writes as an endpoint, which only an IP address can be."""
    return isinstance(value, str) and parse_ip(value) is not None


def optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


def list_of(check: Check) -> Check:
    return lambda value: isinstance(value, list) and all(check(item) for item in value)


def fields(types: Mapping[str, Check]) -> Check:
    """A dict with at least these keys, each of its type (``report_command`` checks the keys of
    a record against the schema; here, only what the page reads)."""
    return lambda value: isinstance(value, dict) and all(
        key in value and check(value[key]) for key, check in types.items()
    )


# The figures of a relay's stream, which a summary's relay row carries ("quality") and the text
# view reads: an address it writes as an endpoint, and relay to relay the far one too.
FIGURES = fields({
    "relayedAddress": ip, "relayedPort": integer, "farUrl": optional(text), "farRelayedAddress": optional(ip),
    "farRelayedPort": optional(integer), "transport": text, "lossOut": optional(number), "lossBack": optional(number),
    "jitterOutMs": optional(number), "jitterBackMs": optional(number), "rttP50Ms": optional(number),
    "rttP95Ms": optional(at_least_zero(number)), "addedDelayMs": optional(number), "degraded": list_of(text),
    "cause": optional(text),
})


def figures(value: Any) -> bool:
    return FIGURES(value) and (value["farUrl"] is None or (ip(value["farRelayedAddress"]) and integer(
        value["farRelayedPort"])) or (value["farRelayedAddress"] is None and value["cause"] is not None))


# What the quality chart computes positions from: an interval the transport may cut a stream
# into (1 ms to the longest stream), and as many intervals of each kind as it may, none losing
# more packets than it sent.
SERIES = fields({
    "intervalMs": lambda value: number(value) and 1 <= value <= MAX_QUALITY_SECONDS * 1000,
    "sent": list_of(at_least_zero(integer)), "lost": list_of(at_least_zero(integer)),
    "rttMs": list_of(optional(at_least_zero(number))),
})


def series(value: Any) -> bool:
    return SERIES(value) and len(value["sent"]) == len(value["lost"]) == len(value["rttMs"]) <= (
        MAX_QUALITY_INTERVALS) and all(lost <= sent for sent, lost in zip(value["sent"], value["lost"], strict=True))


STREAM = fields({
    "url": text, "serverIndex": integer, "mechanism": text, "seconds": number, "rate": integer,
    "packetsOut": integer, "packetsBack": integer, "packetsOutReceived": integer, "packetsBackReceived": integer,
    "rttMinMs": optional(number), "rttP99Ms": optional(number), "reordered": integer, "duplicated": integer,
    "series": series, "timeMs": number,
})


def stream(value: Any) -> bool:
    return figures(value) and STREAM(value)


# Every key the text view reads from a relay check: a saved run from a version before some of
# them existed, or written by hand, lacks them, and is left out rather than met with a KeyError.
RELAY = fields({
    "outcome": text, "relayedAddress": optional(ip), "relayedPort": optional(integer), "rttMs": optional(number),
    "probes": integer, "outReceived": integer, "backReceived": integer, "indicationProbes": integer,
    "indicationOutReceived": integer, "indicationBackReceived": integer, "channelProbes": integer,
    "channelOutReceived": integer, "channelBackReceived": integer, "strayProbes": integer,
    "failedRequest": optional(text), "errorCode": optional(integer), "errorText": optional(text),
    "quality": optional(figures),
})


def relay(value: Any) -> bool:
    # A failed request is written with its error text.
    return RELAY(value) and (value["failedRequest"] is None or text(value["errorText"]))


NOTE = fields({"note": lambda value: isinstance(value, str) and value in NOTE_WORDS, "detail": text})
OTHER_ERROR = fields({"family": optional(text), "errorCode": integer, "errorText": text, "errorCause": text,
                      "errorServerAddress": optional(ip)})
SERVER = fields({
    "url": text, "entry": integer, "reachable": optional(flag), "finished": flag, "rttMs": optional(number),
    "answeredOver": list_of(text), "failedOver": list_of(text), "gained": list_of(text), "errorCode": optional(integer),
    "errorText": optional(text), "errorCause": optional(text), "errorServerAddress": optional(ip),
    "otherErrors": list_of(OTHER_ERROR),
    "relays": list_of(relay), "software": optional(text), "notes": list_of(NOTE), "hostAddressSeen": list_of(text),
})


def server(value: Any) -> bool:
    # An error is written with its text.
    return SERVER(value) and (value["errorCode"] is None or text(value["errorText"]))


FINDING = fields({"url": text, "entry": integer, "cause": optional(text), "finding": text, "nextCheck": text})
DIAGNOSIS = fields({"verdict": text, "summary": text, "nextCheck": text, "findings": list_of(FINDING)})
CANDIDATE = fields({"candidate": optional(text), "timeMs": number})
FROM_A_SERVER = fields({"candidateType": text, "url": optional(text), "serverIndex": optional(integer)})


def candidate(value: Any) -> bool:
    return CANDIDATE(value) and (value["candidate"] is None or FROM_A_SERVER(value))


TRANSACTION = fields({
    "url": text, "serverIndex": integer, "method": text, "sendsMs": list_of(number), "endedMs": number,
    "outcome": lambda value: value in TRANSACTION_OUTCOMES, "errorCode": optional(integer),
    "cause": optional(text), "rttMs": optional(number), "address": optional(text), "timeMs": number,
})


def transaction(value: Any) -> bool:
    # An error response is written with its code.
    return TRANSACTION(value) and (value["outcome"] != "error" or integer(value["errorCode"]))


def counts(value: Any) -> bool:
    return isinstance(value, dict) and all(text(kind) and integer(count) for kind, count in value.items())


DRAWN: dict[str, Check] = {
    "icegatheringstatechange": fields({"state": text, "timeMs": number}),
    "icecandidate": candidate,
    "icecandidateerror": fields({
        "url": text, "serverIndex": integer, "errorCode": integer, "errorText": text, "errorCause": optional(text),
        "timeMs": number,
    }),
    "icetransaction": transaction,
    "icerelayquality": stream,
    "summary": fields({
        "round": integer, "at": text, "complete": flag, "candidates": counts, "errors": integer,
        "servers": list_of(server), "diagnosis": DIAGNOSIS, "failure": optional(text), "exitStatus": integer,
        "timeMs": number,
    }),
}


def drawable(record: Mapping[str, Any]) -> bool:
    """Whether the page can draw ``record``, a dict with a string ``type``."""
    return DRAWN.get(record["type"], lambda _: True)(record)
