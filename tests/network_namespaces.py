"""Two network namespaces the tests make: a client, where icegather runs, and a router in
front of it whose routes answer with real ICMP errors. Nothing leaves them: the router
forwards nothing, it only refuses.

    client 10.77.0.2/30 --veth-- 10.77.0.1/30 router
      default via the router       unreachable 203.0.113.0/25  -> ICMP host unreachable
      unreachable 192.0.2.0/24     prohibit    203.0.113.128/25 -> ICMP administratively prohibited
        (sendto fails at once)     no route at all (198.51.100.0/24) -> ICMP network unreachable
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class RoutedNamespaces:
    client: str
    client_address: str = "10.77.0.2"
    host_unreachable: str = "203.0.113.5"
    prohibited: str = "203.0.113.200"
    network_unreachable: str = "198.51.100.5"
    refused_locally: str = "192.0.2.5"

    @property
    def client_device(self) -> str:
        """The client's end of the veth pair."""
        return f"{self.client}0"

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside the client namespace."""
        return ["ip", "netns", "exec", self.client, *argv]


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def routed_namespaces() -> Iterator[RoutedNamespaces]:
    tag = f"ig{os.getpid()}"
    client, router = f"{tag}c", f"{tag}r"
    try:
        _ip("netns", "add", client)
        _ip("netns", "add", router)
        _ip("link", "add", f"{tag}c0", "type", "veth", "peer", "name", f"{tag}r0")
        _ip("link", "set", f"{tag}c0", "netns", client)
        _ip("link", "set", f"{tag}r0", "netns", router)
        for namespace, device, address in ((client, f"{tag}c0", "10.77.0.2/30"), (router, f"{tag}r0", "10.77.0.1/30")):
            _ip("-n", namespace, "link", "set", "lo", "up")
            _ip("-n", namespace, "addr", "add", address, "dev", device)
            _ip("-n", namespace, "link", "set", device, "up")
        _ip("-n", client, "route", "add", "default", "via", "10.77.0.1")
        _ip("-n", client, "route", "add", "unreachable", "192.0.2.0/24")
        _ip("-n", router, "route", "add", "unreachable", "203.0.113.0/25")
        _ip("-n", router, "route", "add", "prohibit", "203.0.113.128/25")
        # Forward (so that routes decide), and answer every packet: no ICMP rate limit.
        for setting, value in (("ip_forward", "1"), ("icmp_ratelimit", "0")):
            subprocess.run(["ip", "netns", "exec", router, "sh", "-c", f"echo {value} > /proc/sys/net/ipv4/{setting}"],
                           check=True, timeout=30)
        yield RoutedNamespaces(client)
    finally:
        for namespace in (client, router):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
