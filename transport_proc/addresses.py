"""Which local addresses gather, and which server address each of them talks to.

Browsers gather from every usable interface address and try each server from every local
address of the server's address family. ``choose_local_addresses``, ``rfc8421_order`` and
``pair_addresses`` are that policy as pure functions; ``gathering_addresses`` applies it to the
configured addresses or takes the machine's, which ``interfaces`` keeps current.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
from collections.abc import Callable, Iterable

from icegather.shared.net.endpoints import ip_version, parse_ip

# The machine's usable interface addresses, already chosen and in order of preference.
InterfaceAddresses = Callable[[], tuple[str, ...]]


def gathering_addresses(configured: tuple[str, ...], machine: InterfaceAddresses) -> tuple[str, ...]:
    """The local addresses a gathering (or an audit) uses, in order of preference: the ones
    configured, or else the machine's."""
    return rfc8421_order(configured) if configured else machine()


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


@functools.lru_cache(maxsize=1024)
def pair_addresses(local_addresses: tuple[str, ...], server_addresses: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """For each local address, the first server address of the same family (if any). Cached:
    every gathering pairs the same few addresses."""
    first: dict[int, str] = {}
    for server in server_addresses:
        first.setdefault(ip_version(server), server)
    return tuple((local, first[version]) for local in local_addresses if (version := ip_version(local)) in first)
