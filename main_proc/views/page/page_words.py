"""The timeline page's short words: how a transaction ended and how a server stands, in words
a person reads at a glance instead of the record's tokens (``port_unreachable``). Pure; the
long words (the error text, the diagnosis) are the text view's and the diagnosis's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from icegather.main_proc.diagnosis.servers.outcomes import other_family_answered
from icegather.shared.vocabulary.relay_outcomes import BROKEN
from icegather.shared.vocabulary.stun_codes import reason_phrase

# A failure cause in a few words; a cause not listed reads as its token with spaces
# ("connection_refused": "connection refused").
CAUSE_WORDS = {
    "server_error": "error response",
    "dns": "name does not resolve",
    "port_unreachable": "port closed (ICMP)",
    "host_unreachable": "host unreachable (ICMP)",
    "network_unreachable": "network unreachable (ICMP)",
    "prohibited": "blocked by a firewall (ICMP)",
    "fragmentation_needed": "packet too big (ICMP)",
    "icmp_other": "ICMP error",
    "send_failed": "could not send",
    "no_response": "no answer",
    "answer_unverified": "answers failed the integrity check",
    "answer_wrong_transaction": "answers to another request",
    "tls_failed": "TLS handshake failed",
    "tls_timeout": "TLS handshake timed out",
    "malformed_response": "unusable answer",
    "mapped_address_mismatch": "mapped addresses disagree",
    "redirect_unreachable": "redirected out of reach",
    "no_local_address": "no local address of its family",
}


def cause_words(cause: str) -> str:
    return CAUSE_WORDS.get(cause, cause.replace("_", " "))


def code_words(code: int) -> str:
    """``401 Unauthorized``."""
    return f"{code} {reason_phrase(code)}"


def transaction_words(transaction: Mapping[str, Any], challenge: bool) -> str:
    """How a transaction ended, in words; ``challenge``: a 401 that TURN's Allocate expects
    (the REALM and NONCE of RFC 8656), which the next Allocate answers."""
    if transaction["outcome"] == "error":
        return "401 challenge (expected)" if challenge else code_words(transaction["errorCode"])
    if transaction["outcome"] == "failed":
        return cause_words(transaction["cause"] or "")
    return f"{transaction['rttMs']:.1f} ms" if transaction["rttMs"] is not None else "answer"


@dataclass(frozen=True)
class Status:
    """How a server stands after a round: ``kind`` (a CSS class), a ``symbol`` whose shape
    tells the kinds apart without their colour, and a ``word``."""

    kind: str
    symbol: str
    word: str


OK = Status("ok", "●", "ok")
FAILED = Status("failed", "✖", "failed")
WARNING = Status("warning", "▲", "partly failed")
RELAY_BROKEN = Status("warning", "▲", "relay broken")
UNFINISHED = Status("unfinished", "◆", "not finished")
UNTRIED = Status("untried", "○", "not tried")
STATUSES = (OK, FAILED, WARNING, RELAY_BROKEN, UNFINISHED, UNTRIED)


def server_status(row: Mapping[str, Any]) -> Status:
    """A summary's server row as a status."""
    if row["reachable"] is None:
        return UNTRIED
    if row["errorCode"] is not None:
        return WARNING if other_family_answered(row["answeredOver"], row["failedOver"]) else FAILED
    if not row["finished"]:
        return UNFINISHED
    if any(relay["outcome"] in BROKEN for relay in row["relays"]):
        return RELAY_BROKEN
    return OK


def local_words(address: str | None) -> str:
    """The local side of a waterfall row."""
    if address is None:
        return "no request sent"
    return f"from {address}"
