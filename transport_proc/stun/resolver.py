"""Name lookup for server hosts.

RFC 6761 asks resolver libraries to answer two special-use names themselves, without asking a
DNS server: names under ``.invalid`` never resolve (section 6.4, ``special_use_answer``) and
``localhost`` and names under it are the loopback addresses (section 6.3,
``LOOPBACK_ADDRESSES``). Besides being correct, that keeps tests that use such names from
sending DNS queries.
"""

from __future__ import annotations

import asyncio
import socket

from icegather.shared.net.endpoints import parse_ip
from icegather.transport_proc.stun import failures

LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")


def is_localhost(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def special_use_answer(host: str) -> str | None:
    """The reason a name cannot resolve without any lookup, or None if it must be looked up."""
    name = host.rstrip(".").lower()
    if name == "invalid" or name.endswith(".invalid"):
        return "names under .invalid never resolve (RFC 6761)"
    return None


async def resolve(host: str, port: int, timeout: float) -> tuple[str, ...]:
    """The IP addresses of ``host`` in resolver order; raises ``AttemptFailed`` (701)."""
    literal = parse_ip(host)
    if literal is not None:
        return (literal[0],)
    reason = special_use_answer(host)
    if reason is not None:
        raise failures.host_lookup_failed(host, reason)
    if is_localhost(host):
        return LOOPBACK_ADDRESSES
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM), timeout
        )
    except asyncio.TimeoutError:
        raise failures.host_lookup_failed(host, f"no answer in {timeout:g} s") from None
    except OSError as exc:
        raise failures.host_lookup_failed(host, failures.describe_os_error(exc)) from None
    addresses = [str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]
    if not addresses:
        raise failures.host_lookup_failed(host, "no IPv4 or IPv6 address")
    return tuple(dict.fromkeys(addresses))
