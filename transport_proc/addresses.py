"""Which local addresses gather, and which server address each of them talks to.

Browsers gather from every usable interface address and try each server from every local
address of the server's address family. ``choose_local_addresses``, ``rfc8421_order`` and
``pair_addresses`` are that policy as pure functions; ``interface_addresses`` reads the machine's
interfaces, and ``gathering_addresses`` puts the two together.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable

from icegather.shared.net.endpoints import ip_version, parse_ip


def interface_addresses() -> list[str]:
    """Every IP address of every interface, as text (IPv6 without scope)."""
    import ifaddr  # its import runs ldconfig: loaded only when no local address was given

    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            found.append(ip.ip[0] if isinstance(ip.ip, tuple) else ip.ip)
    return found


def gathering_addresses(configured: tuple[str, ...]) -> tuple[str, ...]:
    """The local addresses a gathering (or an audit) uses, in order of preference: the ones
    configured, or else the usable addresses of the machine's interfaces."""
    return rfc8421_order(configured or choose_local_addresses(interface_addresses()))


def choose_local_addresses(addresses: Iterable[str]) -> tuple[str, ...]:
    """The addresses to gather from: no link-local, multicast or unspecified addresses, and
    loopback only when nothing else exists (as browsers do). Order is kept, duplicates go."""
    usable: list[str] = []
    loopback: list[str] = []
    for text in addresses:
        ip = ipaddress.ip_address(text)
        if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
            continue
        (loopback if ip.is_loopback else usable).append(str(ip))
    return tuple(dict.fromkeys(usable or loopback))


def rfc8421_order(addresses: Iterable[str]) -> tuple[str, ...]:
    """The order of preference among local addresses (RFC 8421 section 4): IPv6 first, then
    the two families alternate, each keeping its own order. A candidate's local preference
    follows this order. Each address comes once, in its canonical form: a gathering opens one
    host socket per address."""
    parsed = dict.fromkeys(parse_ip(address) for address in addresses)
    v6 = [ip[0] for ip in parsed if ip is not None and ip[1] == 6]
    v4 = [ip[0] for ip in parsed if ip is not None and ip[1] == 4]
    return tuple(address for pair in itertools.zip_longest(v6, v4) for address in pair if address is not None)


def pair_addresses(local_addresses: Iterable[str], server_addresses: Iterable[str]) -> list[tuple[str, str]]:
    """For each local address, the first server address of the same family (if any)."""
    servers = list(server_addresses)
    pairs = []
    for local in local_addresses:
        version = ip_version(local)
        match = next((s for s in servers if ip_version(s) == version), None)
        if match is not None:
            pairs.append((local, match))
    return pairs
