#!/usr/bin/env python3
"""Scale: N peer connections gathering at once, served by one transport process, against a
local coturn. Wall time, peak RSS of both processes, events lost (must be 0), and how time
and memory grow with N.

* STUN + TURN: each peer connection does a STUN Binding and a TURN Allocate (N = 100, 1,000);
* STUN only: N = 100, 1,000, 10,000.

A peer connection's events are all accounted for: the state changes, its host candidate,
one server answer per URL, its relay candidate (STUN + TURN), the end of candidates. Any
missing or unexpected event counts as lost.

    python scripts/bench_scale.py [--quick]
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter

from bench_options import quick_mode
from local_coturn import local_coturn
from process_stats import cpu_seconds, peak_rss_mb

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.transport_client import TransportClient
from icegather.shared.config.gather_options import GatherOptions

LOOPBACK = GatherOptions(local_addresses=("127.0.0.1",))


async def gather_all(
    configuration: dict, count: int, with_turn: bool
) -> tuple[float, tuple[float, float], Counter, Counter, float]:
    """Gather with ``count`` peer connections at once; return the wall time, the CPU time of
    (main, transport), the events missing and unexpected, and the transport's peak RSS."""
    client = await TransportClient.start()
    try:
        connections = [RTCPeerConnection(configuration, transport=client, options=LOOPBACK) for _ in range(count)]
        tallies = [Counter() for _ in connections]
        for pc, tally in zip(connections, tallies, strict=True):
            pc.onicecandidate = lambda event, t=tally: t.update(
                ["end" if event.candidate is None else event.candidate.type]
            )
            pc.onicecandidateerror = lambda event, t=tally: t.update([f"error {event.errorCode} {event.errorText}"])
            pc.oniceserveranswer = lambda event, t=tally: t.update(["answer"])
            pc.onicegatheringstatechange = lambda event, t=tally, p=pc: t.update([p.iceGatheringState])
        started = time.perf_counter()
        cpu_before = (cpu_seconds(), cpu_seconds(client.transport_pid))
        await asyncio.gather(*(pc.gather() for pc in connections))
        seconds = time.perf_counter() - started
        cpu = (cpu_seconds() - cpu_before[0], cpu_seconds(client.transport_pid) - cpu_before[1])
        transport_rss = peak_rss_mb(client.transport_pid)
        for pc in connections:
            pc.close()
    finally:
        client.close()
    expected = Counter({"gathering": 1, "complete": 1, "host": 1, "answer": 2 if with_turn else 1, "end": 1})
    if with_turn:
        expected["relay"] = 1
    missing, unexpected = Counter(), Counter()
    for tally in tallies:
        missing += expected - tally
        unexpected += tally - expected
    return seconds, cpu, missing, unexpected, transport_rss


def main(argv: list[str] | None = None) -> int:
    quick = quick_mode(argv, __doc__)
    plans = [("STUN + TURN", True, (10, 50) if quick else (100, 1_000)),
             ("STUN only", False, (10, 50) if quick else (100, 1_000, 10_000))]
    print("bench_scale: N peer connections at once on one transport process, local coturn")
    with local_coturn() as coturn:
        for name, with_turn, sizes in plans:
            servers = [{"urls": coturn.url("stun")}] + ([coturn.ice_server("turn")] if with_turn else [])
            previous = None
            for count in sizes:
                seconds, cpu, missing, unexpected, transport_rss = asyncio.run(
                    gather_all({"iceServers": servers}, count, with_turn)
                )
                lost = f"{missing.total()}" + (f" (missing {dict(missing)}, unexpected {dict(unexpected)})"
                                               if missing or unexpected else "")
                growth = ""
                if previous is not None:
                    growth = (f"  x{count // previous[0]} N: time x{seconds / previous[1]:.1f}, "
                              f"transport memory x{transport_rss / previous[2]:.1f}")
                print(f"  {name:<11} N={count:>6}: {seconds:6.2f} s, {count / seconds:5.0f} pc/s, lost {lost}, "
                      f"CPU per pc: transport {cpu[1] / count * 1000:.2f} ms, main {cpu[0] / count * 1000:.2f} ms; "
                      f"peak RSS transport {transport_rss:.0f} MB, main {peak_rss_mb():.0f} MB{growth}")
                previous = (count, seconds, transport_rss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
