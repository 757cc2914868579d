"""IP endpoints: the (address, port) pair the code passes around, how one is written, and which
address family an address belongs to (by parsing it, never by looking for a colon)."""

from __future__ import annotations

import functools
import ipaddress

Address = tuple[str, int]


@functools.lru_cache(maxsize=4096)
def parse_ip(text: str) -> tuple[str, int] | None:
    """An IP address's canonical form and version (4 or 6), or None if ``text`` is not one.
    Cached: the same few addresses are parsed for every gathering and message, and parsing is
    costly next to the rest of a STUN transaction."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return str(ip), ip.version


def ip_version(address: str) -> int:
    """4 or 6; ``ValueError`` for anything that is not an IP address."""
    parsed = parse_ip(address)
    if parsed is None:
        raise ValueError(f"{address!r} is not an IP address")
    return parsed[1]


def is_ipv6(address: str) -> bool:
    return ip_version(address) == 6


def family_name(address: str) -> str:
    """"IPv4" or "IPv6"."""
    return f"IPv{ip_version(address)}"


def endpoint(address: Address) -> str:
    """``192.0.2.1:3478`` or ``[::1]:3478``."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if is_ipv6(host) else f"{host}:{port}"
