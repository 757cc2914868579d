"""The NAT in front of the host sockets, in RFC 4787 terms, from a gathering's records: its mapping
(does the server-reflexive address depend on where a packet goes?) from the mapped addresses of
STUN answers (``iceserveranswer``) and of RFC 5780's tests (``icenattest``), and its filtering
(what may come back in) from the RFC 5780 CHANGE-REQUEST tests. Pure: records in, words out.

Each host socket is judged on its own; where sockets disagree (an IPv6 socket with no NAT beside
an IPv4 one behind a NAT), the most dependent behaviour is the one reported, as it is the one
that decides whether peers can connect, and the evidence names each socket's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any, NamedTuple

from icegather.shared.net.endpoints import Address, endpoint

# From the least to the most dependent, as sockets are ranked: a socket judged "unknown" is behind
# a NAT (its mapped address is not its own) of a kind its answers do not tell.
MAPPINGS = ("none", "unknown", "endpoint-independent", "address-dependent", "address-and-port-dependent")
FILTERINGS = ("unknown", "endpoint-independent", "address-dependent", "address-and-port-dependent")
DEPENDENT_MAPPINGS = frozenset({"address-dependent", "address-and-port-dependent"})


@dataclass(frozen=True)
class NatBehaviour:
    """``mapping`` one of ``MAPPINGS``, ``filtering`` one of ``FILTERINGS``, ``evidence`` words on
    what they were judged from."""

    mapping: str
    filtering: str
    evidence: str


class _Seen(NamedTuple):
    """A request from a host socket to ``destination`` whose answer said ``mapped``."""

    destination: Address
    mapped: Address


@dataclass(frozen=True)
class _Judged:
    """One behaviour (mapping or filtering) of one socket, and why."""

    value: str
    why: str


def _address(record: Mapping[str, Any], address_key: str, port_key: str) -> Address | None:
    address, port = record.get(address_key), record.get(port_key)
    return (address, port) if address and port else None


def _mapping(host: Address, seen: list[_Seen]) -> _Judged:
    """RFC 5780 section 4.3's reasoning over any answers at all: the same mapped address from two
    server IP addresses rules out a dependent mapping; a different one from two IP addresses
    proves one, and a different one from two ports of one IP address proves it depends on the
    port too."""
    if all(s.mapped == host for s in seen):
        return _Judged("none", f"the mapped address equals the socket's in {len(seen)} answer(s)")
    same_across_ips = differs_by_ip = differs_by_port = same_across_ports = None
    for a, b in combinations(seen, 2):
        pair = (a, b)
        if a.destination[0] != b.destination[0]:
            if a.mapped == b.mapped:
                same_across_ips = same_across_ips or pair
            else:
                differs_by_ip = differs_by_ip or pair
        elif a.destination[1] != b.destination[1]:
            if a.mapped == b.mapped:
                same_across_ports = same_across_ports or pair
            else:
                differs_by_port = differs_by_port or pair
    if differs_by_port:
        return _Judged("address-and-port-dependent", _differ(differs_by_port))
    if differs_by_ip:
        port_words = ("; to two ports of one address, the same" if same_across_ports
                      else "; whether it also depends on the port was not tested")
        return _Judged("address-dependent", _differ(differs_by_ip) + port_words)
    if same_across_ips:
        a, b = same_across_ips
        return _Judged("endpoint-independent", f"the same mapped address {endpoint(a.mapped)} from "
                                               f"{endpoint(a.destination)} and {endpoint(b.destination)}")
    return _Judged("unknown", "no two answers from different server IP addresses")


def _differ(pair: tuple[_Seen, _Seen]) -> str:
    a, b = pair
    return (f"mapped to {endpoint(a.mapped)} towards {endpoint(a.destination)} but to {endpoint(b.mapped)} "
            f"towards {endpoint(b.destination)}")


def _changed(test: Mapping[str, Any], port_only: bool) -> bool:
    """The answer came from where the test asked the server to answer from: another port, and
    another IP address unless only the port was to change. An answer from the address the request
    went to (a server that ignored CHANGE-REQUEST) proves nothing about the NAT."""
    if not test["answered"]:
        return False
    same_ip = test["sourceAddress"] == test["serverAddress"]
    return bool(test["sourcePort"] != test["serverPort"] and same_ip == port_only)


def _filtering(tests: list[Mapping[str, Any]]) -> _Judged | None:
    """RFC 5780 section 4.4: an answer from another IP address and port got in (endpoint-
    independent); else one from another port only (address-dependent); else neither got in,
    though the server answers each test it can (address-and-port-dependent)."""
    by_kind: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for test in tests:
        by_kind[test["test"]].append(test)
    both, port = by_kind["filtering_change_address_port"], by_kind["filtering_change_port"]
    if not both and not port:
        return None
    for test in both:
        if _changed(test, port_only=False):
            return _Judged("endpoint-independent", "an answer from another IP address and port "
                           f"({endpoint(_address_of(test, 'source'))}) got in")
    for test in port:
        if _changed(test, port_only=True):
            return _Judged("address-dependent", "an answer from another port "
                           f"({endpoint(_address_of(test, 'source'))}) got in, none from another IP address")
    if both and port and not any(test["answered"] for test in (*both, *port)):
        return _Judged("address-and-port-dependent", "no answer from another IP address or port got in")
    return _Judged("unknown", "the server answered the CHANGE-REQUEST tests from the address they went to")


def _without_nat(filtering: _Judged, mapping: _Judged | None) -> _Judged:
    """Silence from the server's other address proves a filtering NAT only where a NAT maps the
    socket: without one, a firewall here or an other address that does not answer explain it
    as well."""
    if filtering.value != "address-and-port-dependent" or mapping is None or mapping.value != "none":
        return filtering
    return _Judged("unknown", "no NAT maps this socket, and no answer from the server's other address got in: a "
                   "firewall here, or an other address that does not answer")


def _address_of(record: Mapping[str, Any], prefix: str) -> Address:
    return record[f"{prefix}Address"], record[f"{prefix}Port"]


def _most_dependent(order: tuple[str, ...], judged: dict[Address, _Judged], kind: str) -> tuple[str, str]:
    """The most dependent socket's value, and words on each socket's."""
    if not judged:
        return "unknown", f"{kind}: nothing to judge it from"
    value = max((j.value for j in judged.values()), key=order.index)
    words = "; ".join(f"{endpoint(host)} {judged[host].value}: {judged[host].why}" for host in sorted(judged))
    if len({j.value for j in judged.values()}) > 1:
        words += f" (the sockets disagree: the most dependent, {value}, is reported)"
    return value, f"{kind}: {words}"


def nat_behaviour(records: Iterable[Mapping[str, Any]]) -> NatBehaviour:
    """The mapping and filtering behaviour that a gathering's ``iceserveranswer`` and ``icenattest``
    records show; other records are ignored."""
    seen: dict[Address, list[_Seen]] = defaultdict(list)
    tests: dict[Address, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        kind = record.get("type")
        if kind not in ("iceserveranswer", "icenattest"):
            continue
        host = _address(record, "address", "port")
        mapped = _address(record, "mappedAddress", "mappedPort")
        destination = _address(record, "serverAddress", "serverPort")
        if host is None:
            continue
        if mapped is not None and destination is not None:
            seen[host].append(_Seen(destination, mapped))
        if kind == "icenattest":
            tests[host].append(record)
    mappings = {host: _mapping(host, answers) for host, answers in seen.items()}
    filterings = {host: _without_nat(judged, mappings.get(host)) for host, socket_tests in tests.items()
                  if (judged := _filtering(socket_tests)) is not None}
    mapping, mapping_words = _most_dependent(MAPPINGS, mappings, "mapping")
    filtering, filtering_words = _most_dependent(FILTERINGS, filterings, "filtering")
    return NatBehaviour(mapping, filtering, f"{mapping_words}. {filtering_words}")
