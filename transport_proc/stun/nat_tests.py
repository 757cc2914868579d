"""Which RFC 5780 tests of the NAT to run from a host socket, sans-IO.

A Binding success that names OTHER-ADDRESS says the server can answer from a second IP address
and port. From the same host socket, after that Binding (RFC 5780 sections 4.3 and 4.4):

* filtering first, while the NAT has seen this socket send to the primary address only: ask the
  server (CHANGE-REQUEST) to answer from its other IP address and port, and from its other port
  only (both at once; RFC 5780 asks the second only when the first answer did not get in, which
  ``nat_behaviour`` in the main process takes into account). Sent after the mapping tests, the
  answers would come from addresses the socket has just sent to, and get through any filter;
* then the mapping: a Binding to the other IP address at the primary port, and, if that gave a
  new mapped address, to the other IP address and port.

The other address is the server's word: the tests go there only when it is in the same address
scope as the server (``relay.scope``'s rule, which keeps a hostile server from pointing them at
another network), of the socket's family, and differs from the server's address in IP and port,
as RFC 5780 requires of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aioice import stun

from icegather.shared.net.address_scopes import refusal
from icegather.shared.net.endpoints import Address, ip_version
from icegather.transport_proc.stun.binding import binding_request

# CHANGE-REQUEST's flags (RFC 5780 section 7.2).
CHANGE_IP = 0x04
CHANGE_PORT = 0x02


@dataclass(frozen=True)
class NatTest:
    """One test: a Binding to ``destination``, asking the server to answer from another address
    (``change``, CHANGE-REQUEST's flags, 0 for none), whose answer may come from ``answer_from``
    (and from ``destination``, where a server that ignores CHANGE-REQUEST answers from)."""

    name: str
    destination: Address
    change: int
    answer_from: Address


def well_formed(address: Any) -> Address | None:
    """An address attribute as the parser gave it (or a mapped address), if it is one to report:
    a hostile server's port 0 is none."""
    if isinstance(address, tuple) and len(address) == 2 and 0 < address[1] < 65536:
        return address[0], address[1]
    return None


def usable_other_address(other: Any, server: Address) -> Address | None:
    """OTHER-ADDRESS as the parser gave it, if the tests may go there."""
    if well_formed(other) is None:
        return None
    ip, port = other
    if ip == server[0] or port == server[1] or ip_version(ip) != ip_version(server[0]):
        return None
    return (ip, port) if refusal(ip, server[0]) is None else None


def filtering_tests(server: Address, other: Address) -> tuple[NatTest, NatTest]:
    """Change IP and port; change the port."""
    return (
        NatTest("filtering_change_address_port", server, CHANGE_IP | CHANGE_PORT, other),
        NatTest("filtering_change_port", server, CHANGE_PORT, (server[0], other[1])),
    )


def mapping_tests(server: Address, other: Address) -> tuple[NatTest, NatTest]:
    """To the other IP address at the primary port, then (only if that mapped anew) at the other port."""
    return (
        NatTest("mapping_other_address", (other[0], server[1]), 0, (other[0], server[1])),
        NatTest("mapping_other_address_port", other, 0, other),
    )


def request(test: NatTest) -> stun.Message:
    return binding_request(test.change)
