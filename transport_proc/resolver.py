"""Name lookup for server hosts.

RFC 6761 section 6.4 asks resolver libraries to answer names under ``.invalid`` negatively at
once, without asking a DNS server; ``special_use_answer`` does that (and keeps tests that use
such names from sending DNS queries).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from transport_proc import failures


def special_use_answer(host: str) -> str | None:
    """The reason a name cannot resolve without any lookup, or None if it must be looked up."""
    name = host.rstrip(".").lower()
    if name == "invalid" or name.endswith(".invalid"):
        return "names under .invalid never resolve (RFC 6761)"
    return None


async def resolve(host: str, port: int, timeout: float) -> tuple[str, ...]:
    """The IP addresses of ``host`` in resolver order; raises ``AttemptFailed`` (701)."""
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    reason = special_use_answer(host)
    if reason is not None:
        raise failures.host_lookup_failed(host, reason)
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM), timeout
        )
    except asyncio.TimeoutError:
        raise failures.host_lookup_failed(host, f"no answer in {timeout:g} s") from None
    except OSError as exc:
        raise failures.host_lookup_failed(host, failures.describe_os_error(exc)) from None
    addresses = [info[4][0] for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]
    if not addresses:
        raise failures.host_lookup_failed(host, "no IPv4 or IPv6 address")
    return tuple(dict.fromkeys(addresses))
