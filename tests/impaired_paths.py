"""Impaired paths (root only): a real coturn and the real icegather in a network namespace the
test makes, with what nftables or a delay proxy does to the UDP between them. This kernel has
no netem, so loss comes from nftables and delay from scripts/impair_proxy.py.

A lossy path: one namespace, only ``lo``; every UDP packet crosses ``lo`` once per hop, and
the input hook drops it with probability N/1000, whichever hop it is (silently: a drop on
output would fail the sender's sendto, which no real network does).

    namespace ig<pid>L<k>, lo 127.0.0.1         nftables table inet icegather_loss, input hook:
                                                  udp: numgen random mod 1000 < N -> drop
    icegather client ---(1)--> coturn :P  relay :61000-65535 ---(2)--> icegather peer socket
                     <--(2)--                                 <--(1)--
      out: client -> server, relay -> peer: lost with 1 - (1 - N/1000)^2
      back: peer -> relay, server -> client: the same

The dropped packets that carried relayed data (Send and Data indications, ChannelData, and
whatever goes to or from a relay port) are counted by direction, so a test can compare what
icegather measured with what was really dropped. ZeroMQ between icegather's processes is a
Unix socket, not UDP: the rule never touches it.

A delayed path: the client's TURN URL points at the delay proxy, which holds each datagram,
each way, for D +- J ms (uniform, independently per datagram):

    icegather client --> proxy :Q --(D +- J)--> coturn :P  relay --> peer socket
                     <--(D +- J)--  <-------------------------------  (both in icegather)
      out (client -> peer) and back (peer -> client) each cross the proxy once: RTT ~ 2D
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import impair_proxy
import pytest
from commands import ICEGATHER
from local_coturn import Coturn, start_coturn
from network_namespaces import in_namespace, namespace_name, network_namespace, within
from process_stop import stop

LOOPBACK = "127.0.0.1"
# The relay's ports: above the kernel's ephemeral range (32768-60999), where the client's, the
# peer socket's and coturn's listening ports are, so a port says which hop a packet is on.
RELAY_PORTS = (61000, 65535)
LOSS_TABLE = "icegather_loss"
# What makes icegather quick to give up on a lost request, and keeps the run to what is measured.
ICEGATHER_FLAGS = ("--json", "--local-address", LOOPBACK, "--no-ipv6-relay", "--rto", "0.2")
# The path's processes (icegather and its transport, coturn, the proxy) run SCHED_FIFO: idle
# but for a few hundred packets a second, they then wake up on time however busy the machine's
# 2 CPUs are with other work, which would otherwise add jitter of its own (15 ms seen) to the
# one injected.
REALTIME_PRIORITY = "10"
REALTIME = ("chrt", "--fifo", REALTIME_PRIORITY)


@dataclass(frozen=True)
class ImpairedPath:
    """coturn in ``namespace``, reached at ``turn_port``: its own, or the delay proxy's."""

    namespace: str
    turn: Coturn
    turn_port: int

    @property
    def url(self) -> str:
        return f"turn:{LOOPBACK}:{self.turn_port}"

    def icegather(self, *argv: str, urls: int = 1) -> list[dict[str, Any]]:
        """The NDJSON records of ``icegather`` run in the namespace against this path's relay,
        given as ``urls`` servers (each its own allocation and relay check)."""
        servers = ("--server", self.url) * urls
        command = in_namespace(self.namespace, *REALTIME, ICEGATHER, *ICEGATHER_FLAGS, *servers,
                               "--username", self.turn.username, *argv)
        result = subprocess.run(command, capture_output=True, text=True, timeout=60,
                                env={**os.environ, "ICEGATHER_CREDENTIAL": self.turn.password})
        if result.returncode not in (0, 1) or result.stderr:
            raise AssertionError(f"icegather exited {result.returncode}: {result.stderr}")
        return [json.loads(line) for line in result.stdout.splitlines()]

    def data_dropped(self) -> DataDropped:
        """What the loss table dropped so far (a lossy path's)."""
        listing = subprocess.run(in_namespace(self.namespace, "nft", "-j", "list", "counters", "table", "inet",
                                              LOSS_TABLE), check=True, capture_output=True, text=True, timeout=30)
        counters = {item["counter"]["name"]: item["counter"]["packets"]
                    for item in json.loads(listing.stdout)["nftables"] if "counter" in item}
        return DataDropped(counters["data_out"], counters["data_back"])


@dataclass(frozen=True)
class DataDropped:
    """Packets carrying relayed data that nftables dropped, each way."""

    out: int
    back: int


# What carries relayed data, each way, as nftables matches: (direction, carrier) -> match.
DataPath = tuple[Literal["out", "back"], Literal["indication", "channel", "relay port"]]


def data_matches(server_port: int) -> dict[DataPath, str]:
    """Each kind of packet that carries relayed data, and the nftables match for it."""
    relay = f"{RELAY_PORTS[0]}-{RELAY_PORTS[1]}"
    # The first two bits of ChannelData are 01 (channels 0x4000-0x7FFF); STUN's are 00, and
    # 0x0016 / 0x0017 are a Send / a Data indication (RFC 8656 sections 11-12).
    return {
        ("out", "indication"): f"udp dport {server_port} @th,64,16 0x0016",
        ("out", "channel"): f"udp dport {server_port} @th,64,2 1",
        ("out", "relay port"): f"udp sport {relay}",
        ("back", "indication"): f"udp sport {server_port} @th,64,16 0x0017",
        ("back", "channel"): f"udp sport {server_port} @th,64,2 1",
        ("back", "relay port"): f"udp dport {relay}",
    }


# Every packet of relayed data one way: a path that is truly dead.
ALL_OUT: frozenset[DataPath] = frozenset({("out", "indication"), ("out", "channel"), ("out", "relay port")})
ALL_BACK: frozenset[DataPath] = frozenset({("back", "indication"), ("back", "channel"), ("back", "relay port")})


def loss_rules(per_mille: int, server_port: int, dead: frozenset[DataPath] = frozenset()) -> str:
    """The nftables table: the ``dead`` kinds of relayed data all dropped, then UDP dropped at
    random; relayed data counted by direction, whichever rule dropped it."""
    matches = data_matches(server_port)
    dropped = "\n".join(f"    {matches[path]} counter name data_{path[0]} drop" for path in sorted(dead))
    counted = "\n".join(f"    {match} counter name data_{way} drop" for (way, _), match in matches.items())
    # On input, not output: a packet dropped on output fails the sender's sendto with EPERM,
    # and coturn then closes the client's session; on input it just never arrives.
    return f"""table inet {LOSS_TABLE} {{
  counter data_out {{ }}
  counter data_back {{ }}
  chain input {{
    type filter hook input priority 0; policy accept;
{dropped}
    meta l4proto udp numgen random mod 1000 < {per_mille} goto lose
  }}
  chain lose {{
{counted}
    drop
  }}
}}
"""


def session_closing_rules() -> str:
    """An nftables table that drops, on the output hook, what coturn's relay sends to the peer:
    its sendto fails with EPERM, and coturn closes the client's session there and then."""
    return f"""table inet {LOSS_TABLE} {{
  chain output {{
    type filter hook output priority 0; policy accept;
    udp sport {RELAY_PORTS[0]}-{RELAY_PORTS[1]} drop
  }}
}}
"""


@contextlib.contextmanager
def coturn_in_namespace() -> Iterator[tuple[str, Coturn]]:
    """A fresh namespace with coturn on its loopback, relaying on RELAY_PORTS."""
    if os.geteuid() != 0:
        pytest.skip("making network namespaces needs root")
    with network_namespace(namespace_name("L")) as namespace:
        ports = [f"--min-port={RELAY_PORTS[0]}", f"--max-port={RELAY_PORTS[1]}"]
        turn = within(namespace, lambda: start_coturn(LOOPBACK, extra_args=ports))
        try:
            subprocess.run(["chrt", "--fifo", "--all-tasks", "--pid", REALTIME_PRIORITY, str(turn.process.pid)],
                           check=True, timeout=30)
            yield namespace, turn
        finally:
            turn.stop()


@contextlib.contextmanager
def nftables_path(rules: Callable[[int], str]) -> Iterator[ImpairedPath]:
    """coturn and icegather in a namespace with the nftables table ``rules`` gives for coturn's port."""
    with coturn_in_namespace() as (namespace, turn):
        subprocess.run(in_namespace(namespace, "nft", "-f", "-"), input=rules(turn.port),
                       check=True, capture_output=True, text=True, timeout=30)
        try:
            yield ImpairedPath(namespace, turn, turn.port)
        finally:
            subprocess.run(in_namespace(namespace, "nft", "delete", "table", "inet", LOSS_TABLE),
                           capture_output=True, timeout=30)


def lossy_path(
    per_mille: int, dead: frozenset[DataPath] = frozenset()
) -> contextlib.AbstractContextManager[ImpairedPath]:
    """coturn and icegather where each UDP packet is dropped with probability per_mille/1000
    on each crossing of ``lo`` (0: the same rules, dropping nothing: the clean control), and
    every packet of the ``dead`` kinds of relayed data."""
    return nftables_path(lambda server_port: loss_rules(per_mille, server_port, dead))


def session_closing_path() -> contextlib.AbstractContextManager[ImpairedPath]:
    """coturn and icegather where coturn closes the session once its relay sends to the peer."""
    return nftables_path(lambda server_port: session_closing_rules())


@contextlib.contextmanager
def running_proxy(host: str, upstream: int, *impairments: str, launcher: tuple[str, ...] = ()) -> Iterator[int]:
    """scripts/impair_proxy.py on ``host`` in front of port ``upstream`` there, with
    ``impairments`` (its options), started through ``launcher`` (a namespace, a priority): the
    port it listens on."""
    command = [*launcher, sys.executable, impair_proxy.__file__, "--listen", f"{host}:0", "--upstream",
               f"{host}:{upstream}", *impairments]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        started = re.search(r"listening on [\d.]+:(\d+)", process.stdout.readline())  # printed once bound
        if started is None:
            raise RuntimeError(f"impair_proxy did not start: {process.communicate(timeout=10)[1]}")
        yield int(started.group(1))
    finally:
        stop(process, 5)


def delay_proxy(
    namespace: str, upstream: int, delay_ms: float, jitter_ms: float
) -> contextlib.AbstractContextManager[int]:
    """The proxy in ``namespace`` in front of port ``upstream``, holding each datagram
    ``delay_ms`` +- ``jitter_ms``: its port."""
    return running_proxy(LOOPBACK, upstream, "--delay", str(delay_ms), "--jitter", str(jitter_ms),
                         launcher=(*in_namespace(namespace), *REALTIME))


@contextlib.contextmanager
def delayed_path(delay_ms: float, jitter_ms: float) -> Iterator[ImpairedPath]:
    """coturn and icegather with the delay proxy between them: each datagram held
    delay_ms +- jitter_ms, each way."""
    with coturn_in_namespace() as (namespace, turn), delay_proxy(namespace, turn.port, delay_ms, jitter_ms) as port:
        yield ImpairedPath(namespace, turn, port)
