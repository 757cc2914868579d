"""From what a gathering reported to a verdict a person can act on.

Pure functions and four tables. ``server_outcomes`` folds the records of one gathering into one
``ServerOutcome`` per configured URL. ``diagnose`` then reads the tables, first match wins:

* ``CAUSES`` explains one failing URL from its error code, its machine-readable cause (what
  the transport saw happen: ``shared.failure_causes``; never the English error text), its
  kind of server and transport, and what happened to the other URLs of the same host;
* ``RELAY_CAUSES`` explains a relay check that found the relay does not carry data, from its
  outcome (``shared.relay_outcomes``) and, for a refused request, the server's code;
* ``ADDRESS_RULES`` finds addresses peers elsewhere cannot use (a public server's relayed
  address in private space, say), with no traffic needed;
* ``VERDICTS`` gives the overall verdict from a handful of facts about the whole gathering.

To teach the tool a new diagnosis, add a row; no code changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from icegather.main_proc.rest_credentials import expiry_of
from icegather.shared.address_scopes import scope_of
from icegather.shared.endpoints import endpoint, family_name
from icegather.shared.failure_causes import FailureCause
from icegather.shared.ice_url import IceUrl
from icegather.shared.relay_outcomes import BROKEN, RelayOutcome
from icegather.shared.stun_codes import describe

SERVER_CODES = frozenset(range(300, 700))
ANY_KIND = frozenset({"stun", "turn"})
ANY_TRANSPORT = frozenset({"udp", "tcp", "tls"})


@dataclass(frozen=True)
class ServerOutcome:
    """What one configured URL gave: reachable or not, how fast, what candidates, what error."""

    url: str
    kind: str  # "stun" or "turn"
    transport: str  # how the server is reached: "udp", "tcp" or "tls"
    host: str
    answered: bool
    rtt_ms: float | None  # of the first answer
    gained: tuple[str, ...]  # candidate types it produced: "srflx", "relay"
    error_code: int | None  # of its first error event
    error_text: str | None
    error_cause: str | None  # of that event
    tried: bool = True  # False: not contacted (iceTransportPolicy "relay" skips STUN)
    # Its time-limited (REST API) credential: "expired", "minted" (just now, from the shared
    # secret) or "" (none, or not of that form); and when it expired, how long ago.
    credential: str = ""
    expired_at: int | None = None
    expired_seconds_ago: int | None = None
    # The records of its relay checks (``icerelaycheck``: one per relayed address, so two for a
    # dual allocation, and per local address that allocated); ``checks_relay``: the gathering
    # checks relays.
    relay_checks: tuple[Mapping[str, Any], ...] = ()
    checks_relay: bool = False
    # The server's IP address that answered first; the addresses of its relay and srflx
    # candidates.
    server_address: str | None = None
    relayed: tuple[str, ...] = ()
    mapped: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.error_code is not None

    @property
    def broken_relays(self) -> tuple[Mapping[str, Any], ...]:
        return tuple(check for check in self.relay_checks if check["outcome"] in BROKEN)

    @property
    def settled(self) -> bool:
        """Its attempt is over: it failed, or gave what its kind of server gives (a TURN server:
        a relay candidate, and the relay check's result when relays are checked)."""
        if not self.tried or self.failed:
            return True
        if self.kind == "turn":
            return "relay" in self.gained and (not self.checks_relay or bool(self.relay_checks))
        return self.answered


@dataclass(frozen=True)
class CredentialFacts:
    """What a URL's username says about its credential (see ``credential_facts``)."""

    state: str  # "expired", "minted" or ""
    expired_at: int | None = None
    expired_seconds_ago: int | None = None


def credential_facts(username: str | None, minted: bool, now: float) -> CredentialFacts:
    """A REST-style username (``<expiry>:<user>``) whose time has passed is expired; one we
    minted just now is fresh, so a 401 to it means the secret differs."""
    expiry = expiry_of(username) if username is not None else None
    if expiry is not None and expiry < now:
        return CredentialFacts("expired", expiry, int(now - expiry))
    return CredentialFacts("minted" if minted else "")


def server_outcomes(
    urls: Sequence[IceUrl],
    records: Iterable[Mapping[str, Any]],
    relay_only: bool = False,
    credentials: Mapping[str, CredentialFacts] | None = None,
    checks_relay: bool = False,
) -> tuple[ServerOutcome, ...]:
    """One outcome per configured URL, in configuration order, from the gathering's records
    (the dicts of ``icegather.main_proc.report``) and what is known of its credential."""
    answers: dict[str, float] = {}
    server_addresses: dict[str, str] = {}
    addresses: dict[tuple[str, str], list[str]] = {}  # (url, candidate type) -> addresses
    relay_checks: dict[str, list[Mapping[str, Any]]] = {}
    gained: dict[str, list[str]] = {}
    errors: dict[str, tuple[int, str, str]] = {}
    for record in records:
        url = record.get("url")
        if url is None:  # host candidates, state changes: no server's
            continue
        if record["type"] == "iceserveranswer":
            answers.setdefault(url, record["rttMs"])
            server_addresses.setdefault(url, record["serverAddress"])
        elif record["type"] == "icecandidate" and record.get("candidate"):
            kinds = gained.setdefault(url, [])
            if record["candidateType"] not in kinds:
                kinds.append(record["candidateType"])
            addresses.setdefault((url, record["candidateType"]), []).append(record["address"])
        elif record["type"] == "icecandidateerror":
            errors.setdefault(url, (record["errorCode"], record["errorText"], record["errorCause"]))
        elif record["type"] == "icerelaycheck":
            relay_checks.setdefault(url, []).append(record)
    credentials = credentials or {}
    first_of_each: dict[str, IceUrl] = {}
    for parsed in urls:
        first_of_each.setdefault(parsed.url, parsed)
    outcomes = []
    for url, parsed in first_of_each.items():
        kind = "turn" if parsed.is_turn else "stun"
        code, text, cause = errors.get(url, (None, None, None))
        credential = credentials.get(url, CredentialFacts(""))
        outcomes.append(
            ServerOutcome(
                url=url,
                kind=kind,
                transport=parsed.relay_protocol,  # how the server is reached: udp, tcp or tls
                host=parsed.host.lower(),
                answered=url in answers,
                rtt_ms=answers.get(url),
                gained=tuple(gained.get(url, ())),
                error_code=code,
                error_text=text,
                error_cause=cause,
                tried=not (relay_only and kind == "stun"),
                credential=credential.state,
                expired_at=credential.expired_at,
                expired_seconds_ago=credential.expired_seconds_ago,
                relay_checks=tuple(relay_checks.get(url, ())),
                checks_relay=checks_relay,
                server_address=server_addresses.get(url),
                relayed=tuple(addresses.get((url, "relay"), ())),
                mapped=tuple(addresses.get((url, "srflx"), ())),
            )
        )
    return tuple(outcomes)


# --- one failing URL -----------------------------------------------------------------------


@dataclass(frozen=True)
class Cause:
    """A row of the cause table: which failures it explains, and what it says about them."""

    name: str
    finding: str  # what is wrong, in a few words
    next_check: str  # what to look at first
    codes: frozenset[int] = SERVER_CODES
    causes: frozenset[str] = frozenset({"server_error"})  # the error's machine-readable cause
    kinds: frozenset[str] = ANY_KIND
    transports: frozenset[str] = ANY_TRANSPORT
    # True: only when another URL of the same host worked over TCP or TLS.
    same_host_works_over_stream: bool = False
    # Only for a credential in this state ("expired", "minted"); "" for any.
    credential: str = ""

    def explains(self, outcome: ServerOutcome, same_host_works_over_stream: bool) -> bool:
        return (
            outcome.error_code in self.codes
            and outcome.error_cause in self.causes
            and outcome.kind in self.kinds
            and outcome.transport in self.transports
            and (not self.same_host_works_over_stream or same_host_works_over_stream)
            and self.credential in ("", outcome.credential)
        )


def _code(*codes: int) -> frozenset[int]:
    return frozenset(codes)


def _cause(*causes: FailureCause) -> frozenset[str]:
    return frozenset(causes)


UNREACHABLE = _code(701)
TURN = frozenset({"turn"})
UDP = frozenset({"udp"})

CAUSES: tuple[Cause, ...] = (
    Cause(
        "credential expired",
        "the time-limited credential expired at {expired_at}, {ago} s ago",
        "the clock of the machine that minted it, and the time to live it was minted with",
        codes=_code(401, 441),
        kinds=TURN,
        credential="expired",
    ),
    Cause(
        "shared secret",
        "the server refused a credential minted just now from the shared secret: the secrets differ",
        "the shared secret given to icegather against the server's (coturn: static-auth-secret)",
        codes=_code(401, 441),
        kinds=TURN,
        credential="minted",
    ),
    Cause(
        "credentials",
        "the TURN server refused the username or credential",
        "the username and credential; for time-limited (REST API) credentials, the shared secret "
        "and the clock of the machine that made them",
        codes=_code(401, 441),
        kinds=TURN,
    ),
    Cause(
        "quota",
        "the TURN server's allocation quota for this user (or in total) is used up",
        "stale sessions of this user, and the server's user-quota / total-quota",
        codes=_code(486),
    ),
    Cause(
        "capacity",
        "the TURN server has no relay capacity left",
        "the server's relay port range (min-port/max-port) and load",
        codes=_code(508),
    ),
    Cause(
        "relay transport",
        "the TURN server does not relay over the transport asked for",
        "the server's no-udp-relay / no-tcp-relay settings",
        codes=_code(442),
    ),
    Cause(
        "relay address family",
        "the TURN server has no relay in any address family asked for (IPv4 and IPv6, together and alone)",
        "the server's relay-ip addresses",
        codes=_code(440),
    ),
    Cause(
        "forbidden",
        "the server's policy forbids the request",
        "the server's allowed/denied address lists and the user's rights",
        codes=_code(403),
    ),
    Cause(
        "redirect",
        "the server redirected with 300 Try Alternate and the alternate failed too",
        "both the server and its ALTERNATE-SERVER",
        codes=_code(300),
    ),
    Cause(
        "protocol",
        "the server did not understand the request",
        "that the URL points at a STUN/TURN server, and the server's version",
        codes=_code(400, 420),
    ),
    Cause("server error", "the server failed internally", "the server's own log", codes=_code(500)),
    Cause(
        "dns",
        "the host name does not resolve",
        "the spelling of the name and its DNS A/AAAA records",
        codes=UNREACHABLE,
        causes=_cause("dns"),
    ),
    Cause(
        "udp port closed",
        "nothing listens on that UDP port (the host answered ICMP port unreachable)",
        "the port in the URL and that the server runs and listens on it",
        codes=UNREACHABLE,
        causes=_cause("port_unreachable"),
    ),
    Cause(
        "host unreachable",
        "a router on the way says the server's host cannot be reached (ICMP host unreachable)",
        "that the server's address is right and the host is up, and the routing to it",
        codes=UNREACHABLE,
        causes=_cause("host_unreachable"),
    ),
    Cause(
        "network unreachable",
        "a router on the way has no route to the server's network (ICMP network unreachable)",
        "the routing between here and the server",
        codes=UNREACHABLE,
        causes=_cause("network_unreachable"),
    ),
    Cause(
        "firewall rejects",
        "a firewall on the way rejects UDP to the server (ICMP administratively prohibited)",
        "the firewall rules between here and the server, for UDP to this port",
        codes=UNREACHABLE,
        causes=_cause("prohibited"),
    ),
    Cause(
        "packet too big",
        "the path to the server carries smaller packets than were sent (ICMP packet too big)",
        "the MTU on the path: tunnels and VPNs lower it",
        codes=UNREACHABLE,
        causes=_cause("fragmentation_needed"),
    ),
    Cause(
        "icmp",
        "an ICMP error came back for the packets to the server",
        "the ICMP type and code in the error text, and the path to the server",
        codes=UNREACHABLE,
        causes=_cause("icmp_other"),
    ),
    Cause(
        "cannot send",
        "this machine refused to send to the server (no route, or not permitted): nothing was sent",
        "this machine's routes and local firewall, and the local address gathered from",
        codes=UNREACHABLE,
        causes=_cause("send_failed"),
    ),
    Cause(
        "tcp port closed",
        "nothing listens on that TCP port (connection refused)",
        "the port in the URL, and that the server listens on TCP (and TLS) there",
        codes=UNREACHABLE,
        causes=_cause("connection_refused"),
    ),
    Cause(
        "tls",
        "the TLS handshake failed",
        "the server certificate: the URL's name must be on it, the chain "
        "complete and trusted, the dates valid (for a test server, --insecure-tls)",
        codes=UNREACHABLE,
        causes=_cause("tls_failed", "tls_timeout"),
    ),
    Cause(
        "udp blocked",
        "UDP to the server is dropped on the way, while TCP to the same host works",
        "firewalls between here and the server: they drop UDP to this port",
        codes=UNREACHABLE,
        causes=_cause("no_response"),
        transports=UDP,
        same_host_works_over_stream=True,
    ),
    Cause(
        "silent",
        "the server never answered: packets are dropped on the way, or it is down",
        "that the server runs, and firewalls on the path (UDP and TCP to the port)",
        codes=UNREACHABLE,
        causes=_cause("no_response"),
    ),
    Cause(
        "tcp dropped",
        "the TCP connection could not be set up in time: packets are dropped on the way",
        "firewalls on the path, and that the server runs",
        codes=UNREACHABLE,
        causes=_cause("connect_timeout"),
    ),
    Cause(
        "hang-up",
        "the server ended the connection without answering",
        "that the port speaks STUN/TURN (not, say, TLS on a turn: URL or plain TCP on a turns: URL)",
        codes=UNREACHABLE,
        causes=_cause("connection_reset", "connection_closed", "connection_lost"),
    ),
    Cause(
        "not stun",
        "something answered that is not a STUN/TURN server",
        "that the URL's port is the STUN/TURN port",
        codes=UNREACHABLE,
        causes=_cause("malformed_response"),
    ),
    Cause(
        "address family",
        "no local address of the server's address family",
        "this machine's IPv4/IPv6 connectivity, or use a server address of the other family",
        codes=UNREACHABLE,
        causes=_cause("no_local_address"),
    ),
    Cause(
        "redirect unreachable",
        "the server redirected (300 Try Alternate) to an address this machine cannot reach",
        "the server's alternate-server setting: the alternate must be reachable in the same address family",
        codes=UNREACHABLE,
        causes=_cause("redirect_unreachable"),
    ),
    Cause(
        "internal error",
        "icegather failed on this URL: a bug, logged with its traceback",
        "the traceback the transport wrote to stderr; please report it",
        codes=UNREACHABLE,
        causes=_cause("internal_error"),
    ),
    Cause(
        "local socket",
        "a local socket could not be opened",
        "the local address given to gather from",
        codes=UNREACHABLE,
        causes=_cause("socket_failed"),
    ),
)


@dataclass(frozen=True)
class Finding:
    url: str
    cause: str  # the Cause row's name
    finding: str
    next_check: str


def explain_failure(outcome: ServerOutcome, outcomes: Sequence[ServerOutcome]) -> Finding:
    """The first row of ``CAUSES`` that explains a failed URL (a generic one if none does)."""
    works_over_stream = any(
        other.host == outcome.host and other.transport in ("tcp", "tls") and other.answered for other in outcomes
    )
    for cause in CAUSES:
        if cause.explains(outcome, works_over_stream):
            return Finding(outcome.url, cause.name, _filled(cause.finding, outcome), cause.next_check)
    known = describe(outcome.error_code) if outcome.error_code is not None else None
    finding = f"the server answered {outcome.error_code} {known.name if known else ''}".strip()
    return Finding(outcome.url, "other", finding, known.advice if known else "the server's log")


def _filled(finding: str, outcome: ServerOutcome) -> str:
    """A finding with the outcome's facts in its placeholders (only expiry ones exist)."""
    if outcome.expired_at is None:
        return finding
    at = datetime.fromtimestamp(outcome.expired_at, timezone.utc).isoformat(timespec="seconds")
    return finding.format(expired_at=at, ago=outcome.expired_seconds_ago)


# --- a relay that does not carry data --------------------------------------------------------


@dataclass(frozen=True)
class RelayCause:
    """A row of the relay cause table: the relay check outcomes (and, for a refused request, the
    server's codes) it explains, and what it says. Placeholders: {relayed}, {source},
    {request}, {code}, {text}, {icmp}, {back} and {probes}, from the check's record."""

    name: str
    outcomes: frozenset[RelayOutcome]
    finding: str
    next_check: str
    codes: frozenset[int] | None = None  # None: any

    def explains(self, check: Mapping[str, Any]) -> bool:
        return check["outcome"] in self.outcomes and (self.codes is None or check["errorCode"] in self.codes)


def _outcome(*outcomes: RelayOutcome) -> frozenset[RelayOutcome]:
    return frozenset(outcomes)


EXTERNAL_IP = "coturn's external-ip (the public address, as public/private, when the relay-ip is behind a NAT)"
RELAY_PORTS = "firewalls for UDP to and from the relay port range (coturn min-port..max-port)"

RELAY_CAUSES: tuple[RelayCause, ...] = (
    RelayCause(
        "relay wrong address",
        _outcome("wrong_source"),
        "the relay sends from {source}, not from the relayed address {relayed} it advertises, where "
        "{back} of {probes} probes from the peer arrived{icmp}",
        EXTERNAL_IP,
    ),
    RelayCause(
        "relay not back",
        _outcome("out_only"),
        "data went out through the relay, but data sent to the relayed address {relayed} never came back{icmp}",
        f"that {{relayed}} is this server's public address ({EXTERNAL_IP}), and {RELAY_PORTS}",
    ),
    RelayCause(
        "relay not out",
        _outcome("back_only"),
        "data sent to the relayed address {relayed} came back, but the relay never delivered data to the peer",
        f"the server's outbound filtering of relayed data, and {RELAY_PORTS}",
    ),
    RelayCause(
        "relay carries nothing",
        _outcome("no_data"),
        "the allocation works, but no data went through the relay {relayed} either way{icmp}",
        f"that {{relayed}} is reachable ({EXTERNAL_IP}; coturn relay-ip), and {RELAY_PORTS}",
    ),
    RelayCause(
        "peer forbidden",
        _outcome("refused"),
        "the server refused {request} for the peer: {code} {text}",
        "the server's peer address rules (coturn denied-peer-ip / allowed-peer-ip; no-loopback-peers, "
        "which coturn sets by default, for a peer on this machine's loopback)",
        codes=_code(403),
    ),
    RelayCause(
        "relay request refused",
        _outcome("refused"),
        "the server answered {request} with {code} {text}",
        "the server's log",
    ),
    RelayCause(
        "relay request unanswered",
        _outcome("request_failed"),
        "{request} on the allocation got no usable answer: {text}",
        "the server's log: it allocated, then stopped answering",
    ),
)


def explain_relay(url: str, check: Mapping[str, Any]) -> Finding:
    """The first row of ``RELAY_CAUSES`` that explains a broken relay (its check's record)."""
    cause = next(row for row in RELAY_CAUSES if row.explains(check))
    back_cause = check["backCause"]
    values = {
        "relayed": endpoint((check["relayedAddress"], check["relayedPort"])),
        "source": endpoint((check["outSourceAddress"], check["outSourcePort"])) if check["outSourceAddress"] else "",
        "request": check["failedRequest"],
        "code": check["errorCode"],
        "text": check["errorText"],
        "icmp": f" (ICMP: {back_cause.replace('_', ' ')})" if back_cause else "",
        "back": check["backReceived"],
        "probes": check["probes"],
    }
    return Finding(url, cause.name, cause.finding.format(**values), cause.next_check.format(**values))


# --- addresses peers cannot use --------------------------------------------------------------


@dataclass(frozen=True)
class AddressRule:
    """A row of the address table: which address of an outcome it is about (``pick`` returns
    it, or None when the rule does not apply) and what it says. Placeholders: {address},
    {scope}, {server}, {family} and {server_family}."""

    name: str
    pick: Callable[[ServerOutcome], str | None]
    finding: str
    next_check: str


def _private_relay(outcome: ServerOutcome) -> str | None:
    if outcome.server_address is None or scope_of(outcome.server_address) != "public":
        return None
    return next((a for a in outcome.relayed if scope_of(a) != "public"), None)


def _private_srflx(outcome: ServerOutcome) -> str | None:
    return next((a for a in outcome.mapped if scope_of(a) != "public"), None)


def _relay_of_other_family(outcome: ServerOutcome) -> str | None:
    server = outcome.server_address
    if server is None or not outcome.relayed or any(family_name(a) == family_name(server) for a in outcome.relayed):
        return None
    return outcome.relayed[0]


ADDRESS_RULES: tuple[AddressRule, ...] = (
    AddressRule(
        "relay address private",
        _private_relay,
        "the server is public ({server}) but its relayed address {address} is in {scope} address space: "
        "peers elsewhere cannot reach it",
        "coturn's external-ip (the public address, as public/private, behind a NAT) and relay-ip",
    ),
    AddressRule(
        "srflx address private",
        _private_srflx,
        "the STUN server sees this machine at {address}, in {scope} address space: it stands inside the same "
        "network (or carrier-grade NAT), so its srflx candidate is of no use to peers outside",
        "use a STUN server on the public internet",
    ),
    AddressRule(
        "relay family",
        _relay_of_other_family,
        "the relay is {family} ({address}) while the server is reached over {server_family}: "
        "peers with only {server_family} cannot use it",
        "coturn relay-ip: give it an address of each family peers use",
    ),
)


def address_findings(outcome: ServerOutcome) -> tuple[Finding, ...]:
    found = []
    for rule in ADDRESS_RULES:
        address = rule.pick(outcome)
        if address is not None:
            server = outcome.server_address or ""
            values = {
                "address": address,
                "scope": scope_of(address),
                "server": server,
                "family": family_name(address),
                "server_family": family_name(server) if server else "",
            }
            found.append(Finding(outcome.url, rule.name, rule.finding.format(**values), rule.next_check))
    return tuple(found)


# --- the whole gathering --------------------------------------------------------------------


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
        {"any_answered": False},
        "no STUN or TURN server answered: only host candidates, so peers outside this network cannot reach you",
        "each failing URL below: DNS, firewall, ports, whether the server runs",
    ),
    Verdict(
        "turn failed",
        {"turn_configured": True, "relay": False},
        "no relay candidate: every TURN URL failed, so peers behind symmetric NATs or strict firewalls cannot connect",
        "the TURN URLs below",
    ),
    Verdict(
        "relay broken",
        {"relay_broken": True},
        "a TURN server allocates, but its relay does not carry data both ways: calls relayed through it fail",
        "the relay findings below",
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


def facts(outcomes: Sequence[ServerOutcome], finished: bool, timed_out: bool = False) -> dict[str, bool]:
    tried = [o for o in outcomes if o.tried]
    return {
        "timed_out": timed_out,
        "finished": finished,
        "any_answered": any(o.answered for o in tried),
        "any_failed": any(o.failed for o in tried),
        "turn_configured": any(o.kind == "turn" for o in tried),
        "relay": any("relay" in o.gained for o in tried),
        "relay_broken": any(o.broken_relays for o in tried),
        "unusable_address": any(address_findings(o) for o in tried),
    }


def diagnose(outcomes: Sequence[ServerOutcome], finished: bool, timed_out: bool = False) -> Diagnosis:
    """The verdict and the findings; ``finished`` is False when gathering did not complete (the
    transport failed, or ``timed_out``: it was stopped when a probe's time ran out)."""
    known = facts(outcomes, finished, timed_out)
    verdict = next(v for v in VERDICTS if all(known[name] == value for name, value in v.when.items()))
    findings = tuple(explain_failure(o, outcomes) for o in outcomes if o.failed)
    findings += tuple(explain_relay(o.url, check) for o in outcomes for check in o.broken_relays)
    findings += tuple(finding for o in outcomes for finding in address_findings(o))
    return Diagnosis(verdict.name, verdict.summary, verdict.next_check, findings)
