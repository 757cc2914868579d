"""Which mapped address of a Binding success to use, or why none can be (sans-IO).

A browser takes XOR-MAPPED-ADDRESS and ignores MAPPED-ADDRESS. A server that gets the XOR wrong
(PyPI's ``stun`` 1.1.0 XORs with the magic cookie byte-reversed) then yields a made-up public
address that looks like working STUN. MAPPED-ADDRESS in the same answer, which says in plain
bytes what the server saw, exposes it.

Not checked: whether the server could have seen the address at all (a server on 127.0.0.1
that names a source that is not loopback). A port published from a container or a tunnel
makes exactly that (a container's port published on 127.0.0.1 sees Docker's 172.17.0.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from icegather.shared.net.address_scopes import scope_of
from icegather.shared.net.endpoints import Address, endpoint, parse_ip


@dataclass(frozen=True)
class MappedAddressProblem:
    """Why the mapped address a browser would use is wrong, as a text for the failure."""

    text: str


def choose_mapped_address(
    xor_mapped: Address | None, mapped: Address | None, server: Address
) -> Address | MappedAddressProblem | None:
    """The address a browser would use (XOR-MAPPED-ADDRESS first), a problem with it, or None
    when the answer has neither attribute."""
    if xor_mapped is None or mapped is None or _same(xor_mapped, mapped):
        return xor_mapped or mapped
    if _rewritten_by_alg(xor_mapped, mapped, server):
        return xor_mapped
    return MappedAddressProblem(
        f"XOR-MAPPED-ADDRESS {endpoint(xor_mapped)} disagrees with MAPPED-ADDRESS {endpoint(mapped)}: "
        "the server encodes XOR-MAPPED-ADDRESS wrongly (a browser uses XOR-MAPPED-ADDRESS: its srflx "
        f"candidate would be {endpoint(xor_mapped)})"
    )


def _same(one: Address, other: Address) -> bool:
    return parse_ip(one[0]) == parse_ip(other[0]) and one[1] == other[1]


def _rewritten_by_alg(xor_mapped: Address, mapped: Address, server: Address) -> bool:
    """A public server that saw a public source, with MAPPED-ADDRESS not public: what a NAT's
    ALG writes when it rewrites its public address in payloads (the reason XOR-MAPPED-ADDRESS
    exists, RFC 8489 section 14.2), so XOR-MAPPED-ADDRESS is the true one."""
    return scope_of(server[0]) == "public" == scope_of(xor_mapped[0]) and scope_of(mapped[0]) != "public"
