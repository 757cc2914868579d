#!/usr/bin/env python3
"""icegather against bare aioice, side by side in one run, on the same local coturn.

N gatherings at once: for aioice, N ``Connection.gather_candidates()`` in this process; for
icegather, N ``RTCPeerConnection.gather()`` on one transport process (already started). Each
gathering has a STUN and a TURN/UDP server (N = 1,000), or the STUN server only (N = 10,000).

The headline is what users get: each side's defaults, from every usable interface address
(icegather with no local addresses given, aioice with its own defaults, IPv6 included). The
second line gathers from this machine's IPv4 addresses alone (``use_ipv6=False`` for aioice,
those addresses as ``local_addresses`` for icegather). Every gathering's candidates are counted
on both paths: icegather may lose none ("lost"), and aioice's own incomplete gatherings are
shown; for icegather, the CPU each process spent per gathering says where the time goes.

10,000 gatherings from two local addresses hold 20,000 sockets on each side: the benchmark
raises its open-file limit (as root, up to the kernel's ``nr_open``), which the transport it
starts inherits.

    python scripts/bench_vs_aioice.py [--quick]
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time
from dataclasses import dataclass

import aioice
from bench_options import quick_mode
from local_coturn import Coturn, local_coturn
from process_stats import cpu_seconds

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.transport_client import TransportClient
from icegather.shared.config.gather_options import GatherOptions
from icegather.shared.net.endpoints import ip_version
from icegather.transport_proc.interfaces.tracker import interface_addresses

# Files each process holds beside the gatherings' sockets (ZeroMQ, the event loop, modules).
RESERVED_FILES = 500


@dataclass(frozen=True)
class Mode:
    """Where both sides gather from."""

    name: str
    aioice_ipv6: bool
    local_addresses: tuple[str, ...]  # icegather's; empty: the machine's
    sources: tuple[str, ...]  # where both gather from


def modes() -> tuple[Mode, Mode]:
    ipv4 = tuple(address for address in interface_addresses() if ip_version(address) == 4)
    return Mode("defaults", True, (), interface_addresses()), Mode("IPv4 only", False, ipv4, ipv4)


def raise_open_file_limit() -> int:
    """The limit on open files, raised as far as this process may: as root, up to the kernel's
    ``nr_open``, unless the process lacks CAP_SYS_RESOURCE (in some containers)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if os.geteuid() == 0:
        with open("/proc/sys/fs/nr_open") as nr_open:
            most = int(nr_open.read())
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (most, most))
            return most
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def fitting(count: int, sockets_each: int, open_files: int) -> int:
    """As many of ``count`` gatherings as the open-file limit lets each side hold at once."""
    return min(count, (open_files - RESERVED_FILES) // sockets_each)


async def aioice_run(coturn: Coturn, count: int, with_turn: bool, mode: Mode) -> tuple[float, int]:
    """Wall seconds and the number of gatherings that got every candidate they should."""
    turn = {"turn_server": (coturn.host, coturn.port), "turn_username": coturn.username,
            "turn_password": coturn.password} if with_turn else {}
    connections = [
        aioice.Connection(ice_controlling=True, stun_server=(coturn.host, coturn.port), use_ipv6=mode.aioice_ipv6,
                          **turn)
        for _ in range(count)
    ]
    started = time.perf_counter()
    await asyncio.gather(*(connection.gather_candidates() for connection in connections))
    seconds = time.perf_counter() - started
    wanted = {"host", "srflx"} | ({"relay"} if with_turn else set())
    complete = sum(1 for c in connections if wanted <= {candidate.type for candidate in c.local_candidates})
    await asyncio.gather(*(connection.close() for connection in connections))
    return seconds, complete


async def icegather_run(coturn: Coturn, count: int, with_turn: bool, mode: Mode) -> tuple[float, int, float, float]:
    """Wall seconds, complete gatherings, and CPU ms per gathering of the main and transport
    processes."""
    servers = [{"urls": coturn.url("stun")}] + ([coturn.ice_server("turn")] if with_turn else [])
    options = GatherOptions(local_addresses=mode.local_addresses)
    client = await TransportClient.start()
    try:
        connections = [RTCPeerConnection({"iceServers": servers}, transport=client, options=options)
                       for _ in range(count)]
        kinds: list[set[str]] = [set() for _ in connections]
        for pc, seen in zip(connections, kinds, strict=True):
            pc.onicecandidate = lambda event, s=seen: event.candidate and s.add(event.candidate.type)
        cpu_before = cpu_seconds(), cpu_seconds(client.transport_pid)
        started = time.perf_counter()
        await asyncio.gather(*(pc.gather() for pc in connections))
        seconds = time.perf_counter() - started
        main_cpu, transport_cpu = cpu_seconds() - cpu_before[0], cpu_seconds(client.transport_pid) - cpu_before[1]
        for pc in connections:
            pc.close()
    finally:
        await client.aclose()
    # A srflx equal to its host address is not surfaced (RFC 8445 5.1.3): on this machine the
    # STUN server sees the host address, so the STUN server's answer is the host candidate.
    wanted = {"host"} | ({"relay"} if with_turn else set())
    complete = sum(1 for seen in kinds if wanted <= seen)
    return seconds, complete, main_cpu / count * 1000, transport_cpu / count * 1000


def main(argv: list[str] | None = None) -> int:
    quick = quick_mode(argv, __doc__)
    plans = [("STUN + TURN", True, 20 if quick else 1_000), ("STUN only", False, 20 if quick else 10_000)]
    repeats = 1 if quick else 3
    open_files = raise_open_file_limit()
    defaults, ipv4_only = modes()
    print(f"bench_vs_aioice: N gatherings at once, local coturn; best of {repeats}, the two paths in turns; "
          f"open files up to {open_files:,}")
    print(f"  defaults: from every usable address ({', '.join(defaults.sources)}); "
          f"IPv4 only: from {', '.join(ipv4_only.sources)}")
    with local_coturn(relay_ips=("127.0.0.1",)) as coturn:
        for mode in (defaults, ipv4_only):
            for name, with_turn, wanted in plans:
                # A host socket per local address, and one to the TURN server.
                count = fitting(wanted, len(mode.sources) + with_turn, open_files)
                # In turns, so that a noisy spell on a shared machine hits both paths; the fastest
                # run of each counts (noise only ever slows down).
                bare_runs, our_runs = [], []
                for _ in range(repeats):
                    bare_runs.append(asyncio.run(aioice_run(coturn, count, with_turn, mode)))
                    our_runs.append(asyncio.run(icegather_run(coturn, count, with_turn, mode)))
                bare, bare_complete = min(bare_runs)
                ours, complete, main_cpu, transport_cpu = min(our_runs)
                target = 0.6 if mode is defaults and not with_turn else 0.8
                print(f"  {mode.name:<9} {name:<11} N={count:>6}: aioice {bare:6.2f} s ({count - bare_complete} "
                      f"incomplete), icegather {ours:6.2f} s, lost {count - complete}, x{ours / bare:.2f} "
                      f"(target <= {target}); per gathering {ours / count * 1000:.2f} ms, CPU transport "
                      f"{transport_cpu:.2f} ms, main {main_cpu:.2f} ms"
                      + (f" (not {wanted:,}: the open-file limit)" if count < wanted else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
