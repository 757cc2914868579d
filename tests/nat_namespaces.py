"""A real NAT (root only): three network namespaces the test makes, a client behind a router
that masquerades with nftables, and an "internet" with coturn on two public addresses. TEST-NET
addresses only; nothing routes out of the namespaces, and the internet has no route to the
client's network, so every answer that reaches the client came through the NAT.

    client ig<pid>N<k>c        router ig<pid>N<k>r                  internet ig<pid>N<k>i
    198.51.100.2/24 --veth-- 198.51.100.1/24                       203.0.113.10/24, .11/24
      default via .1           203.0.113.1/24 --veth---------------  coturn on both (RFC 5780)
                               ip_forward; nftables postrouting:
                               to the internet -> masquerade [fully-random]

``masquerade`` keeps a socket's public port for every destination while it can (endpoint-
independent mapping); ``masquerade fully-random`` picks a random port for each new connection
tracking entry, that is for each destination (address-and-port-dependent). Either way, Linux's
connection tracking lets in only answers from where a packet went. Each ``nat`` is made afresh,
so no connection tracking entry outlives its test; everything is deleted on the way out.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from local_coturn import Coturn, start_coturn
from network_namespaces import in_namespace, namespace_name, network_namespace, run_ip, veth_pair, within

CLIENT, ROUTER_INSIDE = "198.51.100.2", "198.51.100.1"
PUBLIC = "203.0.113.1"  # the router's address on the internet: what the NAT maps to
SERVERS = ("203.0.113.10", "203.0.113.11")
NAT_TABLE = "icegather_nat"


@dataclass(frozen=True)
class Nat:
    """The namespaces of one NAT and the coturn in its internet."""

    client: str
    router: str
    internet: str
    turn: Coturn

    def command(self, *argv: str) -> list[str]:
        """``argv`` run in the client namespace, behind the NAT."""
        return in_namespace(self.client, *argv)

    def stun_url(self, server: str) -> str:
        return f"stun:{server}:{self.turn.port}"


def _masquerade(router: str, device: str, fully_random: bool) -> None:
    rule = f'oifname "{device}" masquerade' + (" fully-random" if fully_random else "")
    chain = f"chain postrouting {{\n type nat hook postrouting priority srcnat\n {rule}\n}}"
    subprocess.run(in_namespace(router, "nft", "-f", "-"), input=f"table ip {NAT_TABLE} {{\n{chain}\n}}\n", text=True,
                   check=True, capture_output=True, timeout=30)
    subprocess.run(in_namespace(router, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"), check=True, timeout=30)


@contextlib.contextmanager
def nat(fully_random: bool) -> Iterator[Nat]:
    """Fresh client, router and internet namespaces, the NAT, and coturn running in the internet
    on both public addresses (its OTHER-ADDRESS is the second one and the next port)."""
    tag = namespace_name("N")
    client, router, internet = f"{tag}c", f"{tag}r", f"{tag}i"
    with contextlib.ExitStack() as stack:
        for namespace in (client, router, internet):
            stack.enter_context(network_namespace(namespace))
        veth_pair((client, f"{tag}c0", f"{CLIENT}/24"), (router, f"{tag}r0", f"{ROUTER_INSIDE}/24"))
        veth_pair((router, f"{tag}r1", f"{PUBLIC}/24"), (internet, f"{tag}i0", f"{SERVERS[0]}/24"))
        run_ip("-n", internet, "addr", "add", f"{SERVERS[1]}/24", "dev", f"{tag}i0")
        run_ip("-n", client, "route", "add", "default", "via", ROUTER_INSIDE)
        _masquerade(router, f"{tag}r1", fully_random)
        turn = within(internet, lambda: start_coturn(host=SERVERS[0], other_host=SERVERS[1]))
        stack.callback(turn.stop)
        yield Nat(client, router, internet, turn)

