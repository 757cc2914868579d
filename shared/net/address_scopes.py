"""Which part of the address space an IP address is in, as far as reaching it goes.

A relayed or server-reflexive address is only of use to peers that can reach it. Addresses in
the ranges below are reachable only from the same host, link or private network (or carrier's
network): a TURN server with a public address that hands out one of them as its relayed address
has not been told its public one (coturn's ``external-ip``). Every other address counts as
public here. Python's ``is_private`` is not used: it also counts the documentation ranges
(192.0.2.0/24, ...) as private, which are neither, and leaves out 100.64.0.0/10.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Literal

Scope = Literal["loopback", "link-local", "private", "shared", "public"]

NOT_PUBLIC: tuple[tuple[Scope, str], ...] = (
    ("loopback", "127.0.0.0/8"),
    ("loopback", "::1/128"),
    ("link-local", "169.254.0.0/16"),
    ("link-local", "fe80::/10"),
    ("private", "10.0.0.0/8"),
    ("private", "172.16.0.0/12"),
    ("private", "192.168.0.0/16"),
    ("private", "fc00::/7"),  # unique local addresses (RFC 4193)
    ("shared", "100.64.0.0/10"),  # carrier-grade NAT (RFC 6598)
)
RANGES = tuple((scope, ipaddress.ip_network(network)) for scope, network in NOT_PUBLIC)


# NAT64's well-known prefix (RFC 6052): the IPv4 address is the last 32 bits.
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: IPv4-mapped (::ffff:a.b.c.d), 6to4
    (2002:AABB:CCDD::/48, RFC 3056) or NAT64's well-known prefix; None for any other."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@functools.lru_cache(maxsize=1024)
def scope_of(address: str) -> Scope:
    """The scope of an IP address; an IPv6 address that stands for an IPv4 one (mapped, 6to4,
    NAT64) has that IPv4 address's: 64:ff9b::10.0.0.1 is no more public than 10.0.0.1."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        ip = embedded_ipv4(ip) or ip
    return next((scope for scope, network in RANGES if ip in network), "public")


# Why a server-named address may not be sent to: see ``refusal``.
Refusal = Literal["not_unicast", "out_of_scope"]


def refusal(address: str, server_ip: str) -> Refusal | None:
    """Why icegather may not send to ``address``, which a server at ``server_ip`` named (a
    relayed address, an OTHER-ADDRESS): not a unicast address, or in another scope than the
    server's own, where a hostile server could point icegather's packets at the machine's own
    network. None when it may."""
    ip = ipaddress.ip_address(address)
    if ip.is_multicast or ip.is_unspecified or (ip.version == 4 and ip.is_reserved):
        return "not_unicast"
    return None if scope_of(address) == scope_of(server_ip) else "out_of_scope"
