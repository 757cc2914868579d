"""Addresses peers elsewhere cannot use (a public server's relayed address in private space,
say): the ``ADDRESS_RULES`` table, with no traffic needed. What to check is said in the words of
the server's product when its SOFTWARE names one (``server_products``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from icegather.main_proc.diagnosis.addresses.nat_behaviour import DEPENDENT_MAPPINGS
from icegather.main_proc.diagnosis.relays.relay_causes import EXTERNAL_IP, RELAY_IP
from icegather.main_proc.diagnosis.server_products import Wording, phrased
from icegather.main_proc.diagnosis.servers.outcomes import Finding, ServerOutcome
from icegather.shared.net.address_scopes import scope_of
from icegather.shared.net.endpoints import family_name


@dataclass(frozen=True)
class AddressRule:
    """A row of the address table: which address of an outcome it is about (``pick`` returns
    it, or None when the rule does not apply) and what it says. Placeholders: {address},
    {scope}, {server}, {family}, {server_family} and {mapping}."""

    name: str
    pick: Callable[[ServerOutcome], str | None]
    finding: str
    next_check: Wording


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


def _symmetric_nat_srflx(outcome: ServerOutcome) -> str | None:
    """The srflx address of a NAT whose mapping depends on where packets go (said once, of the
    first STUN URL that gave a srflx: ``ServerOutcome.nat_mapping``)."""
    return outcome.mapped[0] if outcome.nat_mapping in DEPENDENT_MAPPINGS and outcome.mapped else None


ADDRESS_RULES: tuple[AddressRule, ...] = (
    AddressRule(
        "relay address private",
        _private_relay,
        "the server is public ({server}) but its relayed address {address} is in {scope} address space: "
        "peers elsewhere cannot reach it",
        phrased("{external}, and {relay_ip}", external=EXTERNAL_IP, relay_ip=RELAY_IP),
    ),
    AddressRule(
        "srflx address private",
        _private_srflx,
        "the STUN server sees this machine at {address}, in {scope} address space: it stands inside the same "
        "network (or carrier-grade NAT), so its srflx candidate is of no use to peers outside",
        Wording("use a STUN server on the public internet"),
    ),
    AddressRule(
        "relay family",
        _relay_of_other_family,
        "the relay is {family} ({address}) while the server is reached over {server_family}: "
        "peers with only {server_family} cannot use it",
        Wording(
            "the server's relay addresses: give it one of each family peers use",
            {
                "coturn": "coturn relay-ip: give it an address of each family peers use",
                "pion": "Pion's PacketConnConfigs: one whose RelayAddressGenerator relays in each family peers use",
                "node-turn": "node-turn relayIps: give it an address of each family peers use",
            },
        ),
    ),
    AddressRule(
        "symmetric nat",
        _symmetric_nat_srflx,
        "this machine is behind a NAT with {mapping} mapping (RFC 4787: a symmetric NAT): it maps each "
        "destination to another port, so the server-reflexive address a STUN server sees ({address}) is not the "
        "one a peer would see, and direct connections to peers behind other NATs fail: TURN is needed",
        Wording("that a TURN server is configured and works for these users (a relay candidate), or the NAT's own "
                "setting for endpoint-independent mapping (RFC 4787 REQ-1)"),
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
                "mapping": outcome.nat_mapping,
            }
            next_check = rule.next_check.said_for(outcome.product)
            found.append(Finding(outcome.url, rule.name, rule.finding.format(**values), next_check, outcome.entry))
    return tuple(found)
