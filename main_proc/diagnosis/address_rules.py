"""Addresses peers elsewhere cannot use (a public server's relayed address in private space,
say): the ``ADDRESS_RULES`` table, with no traffic needed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from icegather.main_proc.diagnosis.outcomes import Finding, ServerOutcome
from icegather.shared.address_scopes import scope_of
from icegather.shared.endpoints import family_name


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
