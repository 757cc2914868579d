"""What a gathering gave, one ``ServerOutcome`` per configured URL, folded from its records, and
the ``Finding`` every table below produces."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from icegather.main_proc.credentials.rest_credentials import username_expiry
from icegather.shared.ice_url import IceUrl
from icegather.shared.relay_outcomes import BROKEN


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
    expiry = username_expiry(username) if username is not None else None
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
    (the dicts of ``icegather.main_proc.views.report``) and what is known of its credential."""
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


@dataclass(frozen=True)
class Finding:
    url: str
    cause: str  # the Cause row's name
    finding: str
    next_check: str
