"""What a gathering gave, one ``ServerOutcome`` per configured URL of each ``iceServers`` entry
(a URL may repeat in several entries, with other credentials), folded from its records, and
the ``Finding`` every table below produces."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from icegather.main_proc.credentials.rest_credentials import username_expiry
from icegather.main_proc.diagnosis.server_products import ServerProduct, recognise
from icegather.main_proc.diagnosis.servers.error_precedence import rank
from icegather.shared.config.ice_url import IceUrl
from icegather.shared.net.endpoints import family_name
from icegather.shared.vocabulary.failure_causes import DISCARDED_ANSWER_CAUSES
from icegather.shared.vocabulary.relay_outcomes import BROKEN, CARRIES_DATA

# A URL as configured: its entry's index in iceServers, and the URL.
Configured = tuple[int, IceUrl]


@dataclass(frozen=True)
class ServerError:
    """One error event of a URL: its code, text and cause, and the server's IP address it was
    met at (None when none was: the name did not resolve)."""

    code: int
    text: str
    cause: str
    server_address: str | None

    @property
    def family(self) -> str | None:
        return family_name(self.server_address) if self.server_address else None


def most_telling(errors: Sequence[ServerError]) -> ServerError:
    """The error that tells most about the server (``error_precedence``); of equals, the first."""
    return max(errors, key=lambda error: rank(error.cause))


def family_errors(errors: Sequence[ServerError]) -> tuple[ServerError | None, tuple[ServerError, ...]]:
    """The most telling of a URL's errors (None: it had none), and the most telling of each
    other address family's, in the order those families first failed."""
    if not errors:
        return None, ()
    chosen = most_telling(errors)
    by_family: dict[str | None, list[ServerError]] = {}
    for error in errors:
        if error.family != chosen.family:
            by_family.setdefault(error.family, []).append(error)
    return chosen, tuple(most_telling(family) for family in by_family.values())



def never_set_up(quality: Mapping[str, Any]) -> bool:
    """Relay to relay whose far allocation failed: no far relay, nothing sent. Such a stream
    says nothing of the near relay (the far URL's own attempt tells of the far server)."""
    return quality["farUrl"] is not None and quality["farRelayedAddress"] is None


@dataclass(frozen=True)
class ServerOutcome:
    """What one configured URL gave: reachable or not, how fast, what candidates, what error.
    ``answered`` holds for a server whose every answer had to be discarded too (its error's
    cause says so): it is there, and answers wrongly."""

    url: str
    kind: str  # "stun" or "turn"
    transport: str  # how the server is reached: "udp", "tcp" or "tls"
    host: str
    answered: bool
    rtt_ms: float | None  # of the first answer
    gained: tuple[str, ...]  # candidate types it produced: "srflx", "relay"
    # Of its most telling error event (``error_precedence``; of equals, the first).
    error_code: int | None
    error_text: str | None
    error_cause: str | None
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
    # The index of its entry in iceServers, and the URL's port.
    entry: int = 0
    port: int = 0
    # The address families ("IPv4", "IPv6") it answered over and those of its errors; the
    # server's IP address its error above was met at (None when none was: no name lookup); the
    # most telling error of each other family it failed over.
    answered_over: tuple[str, ...] = ()
    failed_over: tuple[str, ...] = ()
    error_server_address: str | None = None
    other_errors: tuple[ServerError, ...] = ()
    # What the server told of itself: the SOFTWARE it named ("" for none) and its other notes
    # (``shared.vocabulary.server_notes``: how it took the IPv6 relay asked beyond a browser), as (note,
    # detail).
    software: str = ""
    notes: tuple[tuple[str, str], ...] = ()
    # The records of its relays' call-like streams (``icerelayquality``), and whether the
    # gathering runs them.
    relay_qualities: tuple[Mapping[str, Any], ...] = ()
    checks_quality: bool = False
    # The NAT mapping (``nat_behaviour``), on the first STUN URL that gave a srflx: the one its
    # finding is said of. "" on every other outcome.
    nat_mapping: str = ""

    @property
    def failed(self) -> bool:
        return self.error_code is not None

    @property
    def product(self) -> ServerProduct | None:
        """The server product its SOFTWARE names, whose words a fix is given in."""
        return recognise(self.software) if self.software else None

    @property
    def failed_family(self) -> str | None:
        return family_name(self.error_server_address) if self.error_server_address else None

    @property
    def answered_over_other_family(self) -> str | None:
        return other_family_answered(self.answered_over, self.failed_over)

    @property
    def broken_relays(self) -> tuple[Mapping[str, Any], ...]:
        return tuple(check for check in self.relay_checks if check["outcome"] in BROKEN)

    @property
    def degraded_relays(self) -> tuple[Mapping[str, Any], ...]:
        """The streams that crossed a threshold or stopped before their end (not those whose
        far allocation failed, which say nothing of this relay)."""
        return tuple(quality for quality in self.relay_qualities
                     if (quality["degraded"] or quality["cause"]) and not never_set_up(quality))

    @property
    def streaming(self) -> bool:
        """A relay check found a relay that carries data, and its stream has not reported yet."""
        carrying = sum(check["outcome"] in CARRIES_DATA for check in self.relay_checks)
        return self.checks_quality and len(self.relay_qualities) < carrying

    @property
    def settled(self) -> bool:
        """Its attempt is over: it failed, or gave what its kind of server gives (a TURN server:
        a relay candidate, the relay check's result when relays are checked, and the stream's
        when streams run)."""
        if not self.tried or self.failed:
            return True
        if self.kind == "turn":
            checked = not self.checks_relay or bool(self.relay_checks)
            return "relay" in self.gained and checked and not self.streaming
        return self.answered


def other_family_answered(answered_over: Sequence[str], failed_over: Sequence[str]) -> str | None:
    """The family a URL answered over without an error when it failed over the other: a name
    with addresses of both families, of which one has no server behind it. None otherwise."""
    return next((family for family in answered_over if failed_over and family not in failed_over), None)


def server_names(servers: Sequence[tuple[int, str]]) -> dict[tuple[int, str], str]:
    """Each (entry, URL) as a person reads it: the URL, with its entry in iceServers when the
    URL is configured in more than one."""
    entries = Counter(url for _, url in dict.fromkeys(servers))
    return {(entry, url): url if entries[url] == 1 else f"{url} (iceServers[{entry}])" for entry, url in servers}


@dataclass(frozen=True)
class CredentialFacts:
    """What a URL's username says about its credential (see ``credential_facts``)."""

    state: str  # "expired", "minted" or ""
    expired_at: int | None = None
    expired_seconds_ago: int | None = None


def credential_facts(username: str | None, minted: bool, now: float) -> CredentialFacts:
    """A REST-style username (``<expiry>:<user>``) whose time has passed is expired; one we
    minted just now is fresh, so a 401 to it means the secret differs."""
    expiry = username_expiry(username) if username is not None else None
    if expiry is not None and expiry < now:
        return CredentialFacts("expired", expiry, int(now - expiry))
    return CredentialFacts("minted" if minted else "")


def server_outcomes(
    urls: Sequence[Configured],
    records: Iterable[Mapping[str, Any]],
    relay_only: bool = False,
    credentials: Mapping[Configured, CredentialFacts] | None = None,
    checks_relay: bool = False,
    checks_quality: bool = False,
    nat_mapping: str = "",
) -> tuple[ServerOutcome, ...]:
    """One outcome per configured URL of each entry, in configuration order, from the
    gathering's records (the dicts of ``icegather.main_proc.views.report``) and what is known of
    its credential; ``nat_mapping`` goes to the first STUN URL that gave a srflx."""
    folded: dict[tuple[int, str], Folded] = {}
    for record in records:
        if record.get("url") is not None:  # not host candidates, state changes: no server's
            folded.setdefault((record["serverIndex"], record["url"]), Folded()).add(record)
    credentials = credentials or {}
    outcomes = []
    for entry, parsed in dict.fromkeys(urls):  # a URL twice in one entry is one server
        kind = "turn" if parsed.is_turn else "stun"
        facts = folded.get((entry, parsed.url), Folded())
        error, other_errors = family_errors(facts.errors)
        code, text, cause, error_server = (
            (error.code, error.text, error.cause, error.server_address) if error else (None, None, None, None)
        )
        credential = credentials.get((entry, parsed), CredentialFacts(""))
        outcomes.append(
            ServerOutcome(
                url=parsed.url,
                kind=kind,
                transport=parsed.relay_protocol,  # how the server is reached: udp, tcp or tls
                host=parsed.host.lower(),
                answered=facts.rtt_ms is not None or any(e.cause in DISCARDED_ANSWER_CAUSES for e in facts.errors),
                rtt_ms=facts.rtt_ms,
                gained=tuple(facts.addresses),
                error_code=code,
                error_text=text,
                error_cause=cause,
                tried=not (relay_only and kind == "stun"),
                credential=credential.state,
                expired_at=credential.expired_at,
                expired_seconds_ago=credential.expired_seconds_ago,
                relay_checks=tuple(facts.relay_checks),
                checks_relay=checks_relay,
                server_address=facts.server_address,
                relayed=tuple(facts.addresses.get("relay", ())),
                mapped=tuple(facts.addresses.get("srflx", ())),
                entry=entry,
                port=parsed.port,
                answered_over=tuple(facts.answered_over),
                failed_over=tuple(facts.failed_over),
                error_server_address=error_server,
                other_errors=other_errors,
                software=facts.software,
                notes=tuple(facts.notes),
                relay_qualities=tuple(facts.relay_qualities),
                checks_quality=checks_quality,
            )
        )
    first_stun = next((i for i, o in enumerate(outcomes) if o.kind == "stun" and o.mapped), None)
    if first_stun is not None:
        outcomes[first_stun] = replace(outcomes[first_stun], nat_mapping=nat_mapping)
    return tuple(outcomes)


@dataclass
class Folded:
    """What the records of one configured URL say, folded as they come (of answers, the first
    counts; every error is kept, for ``family_errors`` to choose from)."""

    rtt_ms: float | None = None
    server_address: str | None = None
    answered_over: dict[str, None] = field(default_factory=dict)  # families, in order, once each
    failed_over: dict[str, None] = field(default_factory=dict)
    addresses: dict[str, list[str]] = field(default_factory=dict)  # candidate type -> addresses
    errors: list[ServerError] = field(default_factory=list)
    relay_checks: list[Mapping[str, Any]] = field(default_factory=list)
    relay_qualities: list[Mapping[str, Any]] = field(default_factory=list)
    software: str = ""
    notes: dict[tuple[str, str], None] = field(default_factory=dict)

    def add(self, record: Mapping[str, Any]) -> None:
        kind = record["type"]
        if kind == "iceserveranswer":
            if self.rtt_ms is None:
                self.rtt_ms, self.server_address = record["rttMs"], record["serverAddress"]
            self.answered_over[family_name(record["serverAddress"])] = None
        elif kind == "icecandidate" and record.get("candidate"):
            self.addresses.setdefault(record["candidateType"], []).append(record["address"])
        elif kind == "icecandidateerror":
            if record["serverAddress"] is not None:
                self.failed_over[family_name(record["serverAddress"])] = None
            self.errors.append(ServerError(
                record["errorCode"], record["errorText"], record["errorCause"], record["serverAddress"]
            ))
        elif kind == "icerelaycheck":
            self.relay_checks.append(record)
        elif kind == "icerelayquality":
            self.relay_qualities.append(record)
        elif kind == "iceservernote" and record["note"] == "software":
            self.software = self.software or record["detail"]
        elif kind == "iceservernote":
            self.notes[(record["note"], record["detail"])] = None


@dataclass(frozen=True)
class Finding:
    url: str
    cause: str  # the Cause row's name
    finding: str
    next_check: str
    entry: int = 0  # of the URL in iceServers
