"""Network namespaces the tests make (root only), and two of them wired as a client behind a
router whose routes answer with real ICMP errors. Nothing leaves them: the router forwards
nothing, it only refuses.

    client 10.77.0.2/30 --veth-- 10.77.0.1/30 router
      default via the router         unreachable 203.0.113.0/25  -> ICMP host unreachable
      unreachable 198.51.100.128/25  prohibit    203.0.113.128/25 -> ICMP administratively prohibited
        (sendto fails at once)       no route at all (198.51.100.0/25) -> ICMP network unreachable

``network_namespace`` makes one namespace with only ``lo`` (up); ``within`` runs Python code
inside one, so that the sockets it opens and the processes it starts live there.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000  # <sched.h>: setns() into a network namespace
_names = itertools.count()


@dataclass(frozen=True)
class RoutedNamespaces:
    client: str
    client_address: str = "10.77.0.2"
    host_unreachable: str = "203.0.113.5"
    prohibited: str = "203.0.113.200"
    network_unreachable: str = "198.51.100.5"
    refused_locally: str = "198.51.100.200"

    @property
    def client_device(self) -> str:
        """The client's end of the veth pair."""
        return f"{self.client}0"

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside the client namespace."""
        return in_namespace(self.client, *argv)


def in_namespace(namespace: str, *argv: str) -> list[str]:
    """The command line that runs ``argv`` inside ``namespace``."""
    return ["ip", "netns", "exec", namespace, *argv]


def run_ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, timeout=30)


def namespace_name(kind: str) -> str:
    """A name no other test process (nor another namespace of this one) uses."""
    return f"ig{os.getpid()}{kind}{next(_names)}"


@contextlib.contextmanager
def network_namespace(name: str) -> Iterator[str]:
    """A new network namespace ``name`` with ``lo`` up, deleted on the way out whatever happened
    (its nftables tables and devices go with it, once no process is left inside)."""
    try:
        run_ip("netns", "add", name)
        run_ip("-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def within(namespace: str, call: Callable[[], T]) -> T:
    """``call()`` run on a thread of its own that entered ``namespace``: a network namespace is
    a thread's, so the sockets it opens and the processes it starts are in there, and the rest
    of this process is not."""

    def entered() -> T:
        libc = ctypes.CDLL(None, use_errno=True)
        descriptor = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
        try:
            if libc.setns(descriptor, CLONE_NEWNET) != 0:
                error = ctypes.get_errno()
                raise OSError(error, f"setns into {namespace}: {os.strerror(error)}")
        finally:
            os.close(descriptor)
        return call()

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(entered).result()


def veth_pair(one: tuple[str, str, str], other: tuple[str, str, str]) -> None:
    """A veth pair between two namespaces: (namespace, device, address/prefix) of each end."""
    run_ip("link", "add", one[1], "type", "veth", "peer", "name", other[1])
    for namespace, device, address in (one, other):
        run_ip("link", "set", device, "netns", namespace)
        run_ip("-n", namespace, "addr", "add", address, "dev", device)
        run_ip("-n", namespace, "link", "set", device, "up")


@contextlib.contextmanager
def routed_namespaces() -> Iterator[RoutedNamespaces]:
    tag = f"ig{os.getpid()}"
    client, router = f"{tag}c", f"{tag}r"
    with network_namespace(client), network_namespace(router):
        veth_pair((client, f"{tag}c0", "10.77.0.2/30"), (router, f"{tag}r0", "10.77.0.1/30"))
        run_ip("-n", client, "route", "add", "default", "via", "10.77.0.1")
        run_ip("-n", client, "route", "add", "unreachable", "198.51.100.128/25")
        run_ip("-n", router, "route", "add", "unreachable", "203.0.113.0/25")
        run_ip("-n", router, "route", "add", "prohibit", "203.0.113.128/25")
        # Forward (so that routes decide), and answer every packet: no ICMP rate limit.
        for setting, value in (("ip_forward", "1"), ("icmp_ratelimit", "0")):
            subprocess.run(in_namespace(router, "sh", "-c", f"echo {value} > /proc/sys/net/ipv4/{setting}"),
                           check=True, timeout=30)
        yield RoutedNamespaces(client)
