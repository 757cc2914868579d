"""Where a module may probe: its ``allowed_targets``, hosts or host:port pairs, and the check
that every URL of a probe is among them (pure: no name is looked up).

A module's credentials go to whatever server a probe names, so a module that holds them lists
the servers they belong to; anyone who can scrape could otherwise send them to a server of
their own. Entries: ``turn.example.org`` (any port on it), ``turn.example.org:3478``,
``192.0.2.1``, ``2001:db8::1``, ``[2001:db8::1]:3478``. Host names compare case-insensitively
and IP literals by address (``2001:DB8:0::1`` is ``2001:db8::1``); a URL's port is the one it
names or its scheme's default.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from icegather.shared.config.dom_exception import DOMException
from icegather.shared.config.ice_url import IceUrl, parse_ice_url


@dataclass(frozen=True)
class AllowedTarget:
    host: str  # lower case, or an IP address in its normal form
    port: int | None  # None: any port

    def allows(self, url: IceUrl) -> bool:
        return self.host == normal_host(url.host) and self.port in (None, url.port)

    def __str__(self) -> str:
        """The entry as it is written in ``allowed_targets``."""
        if self.port is None:
            return self.host
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def normal_host(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.lower()


def parse_allowed_target(text: str) -> AllowedTarget:
    """One entry of ``allowed_targets``; ``ValueError`` with the reason when it is not one."""
    authority = text
    try:  # a bare IPv6 address: it has colons but no port
        ipaddress.IPv6Address(text)
        authority = f"[{text}]"
    except ValueError:
        pass
    has_port = authority.rpartition("]")[2].startswith(":") if authority.startswith("[") else ":" in authority
    try:
        # The host and port rules of STUN URLs, which are what the entry is compared with.
        url = parse_ice_url(f"stun:{authority}")
    except DOMException:
        raise ValueError(
            f"{text[:100]!r} is not a host or host:port (an IPv6 address with a port in brackets: [2001:db8::1]:3478)"
        ) from None
    return AllowedTarget(normal_host(url.host), url.port if has_port else None)


def first_refused(allowed: Iterable[AllowedTarget], urls: Iterable[IceUrl]) -> IceUrl | None:
    """The first URL that no entry allows, or None when every one is allowed."""
    entries = tuple(allowed)
    return next((url for url in urls if not any(entry.allows(url) for entry in entries)), None)
