"""From what a gathering reported to a verdict a person can act on.

Pure functions and four tables. ``server_outcomes`` folds the records of one gathering into one
``ServerOutcome`` per configured URL. ``diagnose`` then reads the tables, first match wins:

* ``CAUSES`` explains one failing URL from its error code, its machine-readable cause (what
  the transport saw happen: ``shared.vocabulary.failure_causes``; never the English error text), its
  kind of server and transport, and what happened to the other URLs of the same host;
* ``RELAY_CAUSES`` explains a relay check that found the relay does not carry data, from its
  outcome (``shared.vocabulary.relay_outcomes``) and, for a refused request, the server's code;
* ``QUALITY_CAUSES`` explains a relay that carries data too poorly for a call, from its
  call-like stream (the thresholds it crosses: ``shared.vocabulary.quality_thresholds``);
* ``ADDRESS_RULES`` finds addresses peers elsewhere cannot use (a public server's relayed
  address in private space, say), with no traffic needed;
* ``VERDICTS`` gives the overall verdict from a handful of facts about the whole gathering.

To teach the tool a new diagnosis, add a row; no code changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from icegather.main_proc.diagnosis.addresses.address_rules import address_findings
from icegather.main_proc.diagnosis.relays.quality_causes import explain_quality
from icegather.main_proc.diagnosis.relays.relay_causes import explain_relay
from icegather.main_proc.diagnosis.servers.causes import TLS_CAUSES, explain_failure
from icegather.main_proc.diagnosis.servers.error_precedence import CONNECTED_TIERS, REACHED_TIERS, tier
from icegather.main_proc.diagnosis.servers.outcomes import Finding, ServerOutcome


@dataclass(frozen=True)
class Verdict:
    """A row of the verdict table: the facts it needs (name -> value) and what it says."""

    name: str
    when: Mapping[str, bool]
    summary: str
    next_check: str


VERDICTS: tuple[Verdict, ...] = (
    Verdict(
        "timed out",
        {"timed_out": True},
        "gathering was stopped when the probe's time ran out, so URLs marked NOT FINISHED say nothing",
        "the scrape timeout and the module's timeout against the retransmission schedule",
    ),
    Verdict(
        "transport failed",
        {"finished": False},
        "gathering did not finish: the transport failed (see failure), so URLs marked NOT FINISHED say nothing",
        "the failure line; run again (a fresh transport is started)",
    ),
    Verdict(
        "no server answered",
        {"any_reached": False},
        "no STUN or TURN server answered: only host candidates, so peers outside this network cannot reach you",
        "each failing URL below: DNS, firewall, ports, whether the server runs",
    ),
    # Below, something at a server's address was reached though none answered: its own words.
    Verdict(
        "tls failed",
        {"any_answered": False, "all_tls": True},
        "no STUN or TURN server answered, though the servers are there: every URL failed in its TLS handshake (a "
        "certificate icegather does not trust, a handshake refused or never finished), so only host candidates: "
        "peers outside this network cannot reach you",
        "the TLS findings below: each server's certificate (the URL's name on it, the chain complete and trusted, "
        "the dates valid) and the TLS versions it takes",
    ),
    Verdict(
        "nothing listens",
        {"any_answered": False, "any_connected": False},
        "no STUN or TURN server answered; the hosts that were reached say nothing listens on the port (ICMP port "
        "unreachable, connection refused): only host candidates, so peers outside this network cannot reach you",
        "each failing URL below: its port and transport, and that the server runs and listens there",
    ),
    Verdict(
        "connected, no answer",
        {"any_answered": False},
        "no STUN or TURN server answered, though something at a server's address took the connection or sent "
        "what is not a usable answer: only host candidates, so peers outside this network cannot reach you",
        "each failing URL below: what listens on its port (a hang-up, a TLS handshake that failed, an answer that "
        "is not STUN)",
    ),
    Verdict(
        "turn failed",
        {"turn_configured": True, "relay": False},
        "no relay candidate: every TURN URL failed, so peers behind symmetric NATs or strict firewalls cannot connect",
        "the TURN URLs below",
    ),
    Verdict(
        "no usable answer",
        {"all_failed": True},
        "every URL failed, though servers answered: only host candidates, so peers outside this network cannot "
        "reach you",
        "each failing URL below",
    ),
    Verdict(
        "relay broken",
        {"relay_broken": True},
        "a TURN server allocates, but its relay does not carry data both ways: calls relayed through it fail",
        "the relay findings below",
    ),
    Verdict(
        "allocation lost",
        {"allocation_lost": True},
        "a TURN server allocates, but dropped an allocation during the relay check: its relay may carry data, but "
        "a call relayed through it loses the relay when the server drops the allocation",
        "the relay findings below: the server's log for why it ended the session, its timeouts and quotas",
    ),
    Verdict(
        "relay degraded",
        {"relay_degraded": True},
        "a TURN relay carries data, but too poorly for a call: loss, jitter or delay above what voice tolerates, "
        "or its stream stopped",
        "the relay quality findings below",
    ),
    Verdict(
        "unusable address",
        {"unusable_address": True},
        "a server hands out an address that peers elsewhere cannot use",
        "the address findings below",
    ),
    Verdict(
        "partly working",
        {"any_failed": True},
        "partly working: some URLs failed; browsers keep trying them on every call",
        "fix or remove the failing URLs below",
    ),
    Verdict(
        "no turn",
        {"turn_configured": False},
        "STUN works; no TURN server is configured, so peers behind symmetric NATs cannot connect",
        "add a TURN server if your users may be behind symmetric NATs",
    ),
    Verdict("healthy", {}, "healthy: every server answered and gave what it should", "nothing"),
)


@dataclass(frozen=True)
class Diagnosis:
    verdict: str  # the Verdict row's name
    summary: str
    next_check: str
    findings: tuple[Finding, ...]


def shows(outcome: ServerOutcome, tiers: frozenset[str]) -> bool:
    """The URL's server answered, or its most telling error shows something at its address
    (``error_precedence``'s tiers)."""
    return outcome.answered or tier(outcome.error_cause) in tiers


def facts(outcomes: Sequence[ServerOutcome], finished: bool, timed_out: bool = False) -> dict[str, bool]:
    tried = [o for o in outcomes if o.tried]
    broken = [check["outcome"] for o in tried for check in o.broken_relays]
    return {
        "timed_out": timed_out,
        "finished": finished,
        "any_answered": any(o.answered for o in tried),
        "any_reached": any(shows(o, REACHED_TIERS) for o in tried),
        "any_connected": any(shows(o, CONNECTED_TIERS) for o in tried),
        "all_tls": all(o.error_cause in TLS_CAUSES for o in tried),
        "any_failed": any(o.failed for o in tried),
        # A URL that answered over one address family and failed over the other worked.
        "all_failed": all(o.failed and o.answered_over_other_family is None for o in tried),
        "turn_configured": any(o.kind == "turn" for o in tried),
        "relay": any("relay" in o.gained for o in tried),
        # A relay that lost its allocation may carry data: the server dropped it (its own verdict).
        "relay_broken": any(outcome != "allocation_lost" for outcome in broken),
        "allocation_lost": "allocation_lost" in broken,
        "relay_degraded": any(o.degraded_relays for o in tried),
        "unusable_address": any(address_findings(o) for o in tried),
    }


def diagnose(outcomes: Sequence[ServerOutcome], finished: bool, timed_out: bool = False) -> Diagnosis:
    """The verdict and the findings; ``finished`` is False when gathering did not complete (the
    transport failed, or ``timed_out``: it was stopped when a probe's time ran out)."""
    known = facts(outcomes, finished, timed_out)
    verdict = next(v for v in VERDICTS if all(known[name] == value for name, value in v.when.items()))
    findings = tuple(explain_failure(o, outcomes) for o in outcomes if o.failed)
    findings += tuple(explain_relay(o, check) for o in outcomes for check in o.broken_relays)
    findings += tuple(explain_quality(o, quality) for o in outcomes for quality in o.degraded_relays)
    findings += tuple(finding for o in outcomes for finding in address_findings(o))
    return Diagnosis(verdict.name, verdict.summary, verdict.next_check, findings)
