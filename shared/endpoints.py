"""IP endpoints: the (address, port) pair the code passes around, how one is written, and which
address family an address belongs to (by parsing it, never by looking for a colon)."""

from __future__ import annotations

import functools
import ipaddress

Address = tuple[str, int]


@functools.lru_cache(maxsize=1024)
def is_ipv6(address: str) -> bool:
    return ipaddress.ip_address(address).version == 6


def endpoint(address: Address) -> str:
    """``192.0.2.1:3478`` or ``[::1]:3478``."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if is_ipv6(host) else f"{host}:{port}"
