#!/usr/bin/env python3
"""icegather against bare aioice, side by side in one run, on the same local coturn.

N gatherings at once: for aioice, N ``Connection.gather_candidates()`` in this process; for
icegather, N ``RTCPeerConnection.gather()`` on one transport process (already started). Each
gathering has a STUN and a TURN/UDP server (N = 100, 1,000), or the STUN server only
(N = 10,000). Both gather from this machine's IPv4 interface addresses, as aioice does by
default. Every gathering's candidates are counted on both paths: icegather may lose none
("lost"), and aioice's own incomplete gatherings are shown; for icegather, the CPU each
process spent per gathering says where the time goes.

    python scripts/bench_vs_aioice.py [--quick]
"""

from __future__ import annotations

import asyncio
import ipaddress
import sys
import time

import aioice
import ifaddr
from bench_options import quick_mode
from local_coturn import Coturn, local_coturn
from process_stats import cpu_seconds

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.transport_client import TransportClient
from icegather.shared.structs import GatherOptions


def ipv4_addresses() -> tuple[str, ...]:
    """This machine's IPv4 interface addresses but loopback: where aioice gathers from."""
    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ipaddress.ip_address(ip.ip).is_loopback:
                found.append(ip.ip)
    return tuple(found)


async def aioice_run(coturn: Coturn, count: int, with_turn: bool) -> tuple[float, int]:
    """Wall seconds and the number of gatherings that got every candidate they should."""
    turn = {"turn_server": (coturn.host, coturn.port), "turn_username": coturn.username,
            "turn_password": coturn.password} if with_turn else {}
    connections = [
        aioice.Connection(ice_controlling=True, stun_server=(coturn.host, coturn.port), use_ipv6=False, **turn)
        for _ in range(count)
    ]
    started = time.perf_counter()
    await asyncio.gather(*(connection.gather_candidates() for connection in connections))
    seconds = time.perf_counter() - started
    wanted = {"host", "srflx"} | ({"relay"} if with_turn else set())
    complete = sum(1 for c in connections if wanted <= {candidate.type for candidate in c.local_candidates})
    await asyncio.gather(*(connection.close() for connection in connections))
    return seconds, complete


async def icegather_run(coturn: Coturn, count: int, with_turn: bool) -> tuple[float, int, float, float]:
    """Wall seconds, complete gatherings, and CPU ms per gathering of the main and transport
    processes."""
    servers = [{"urls": coturn.url("stun")}] + ([coturn.ice_server("turn")] if with_turn else [])
    options = GatherOptions(local_addresses=ipv4_addresses())
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
    plans = [("STUN + TURN", True, (20,) if quick else (100, 1_000)),
             ("STUN only", False, (20,) if quick else (1_000, 10_000))]
    repeats = 1 if quick else 3
    print(f"bench_vs_aioice: N gatherings at once, local coturn, from {', '.join(ipv4_addresses())}; "
          f"best of {repeats}, the two paths in turns")
    with local_coturn(relay_ips=("127.0.0.1",)) as coturn:
        for name, with_turn, sizes in plans:
            for count in sizes:
                # In turns, so that a noisy spell on a shared machine hits both paths; the fastest
                # run of each counts (noise only ever slows down).
                bare_runs, our_runs = [], []
                for _ in range(repeats):
                    bare_runs.append(asyncio.run(aioice_run(coturn, count, with_turn)))
                    our_runs.append(asyncio.run(icegather_run(coturn, count, with_turn)))
                bare, bare_complete = min(bare_runs)
                ours, complete, main_cpu, transport_cpu = min(our_runs)
                print(f"  {name:<11} N={count:>6}: aioice {bare:6.2f} s ({count - bare_complete} incomplete), "
                      f"icegather {ours:6.2f} s, lost {count - complete}, x{ours / bare:.2f} (target <= 0.8); "
                      f"per gathering {ours / count * 1000:.2f} ms, CPU transport {transport_cpu:.2f} ms, "
                      f"main {main_cpu:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
