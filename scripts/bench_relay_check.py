#!/usr/bin/env python3
"""What the relay check adds to a gathering's wall time.

One local coturn, one transport process already running; each round gathers from one TURN URL
twice, once with ``GatherOptions(relay_check=True)`` and once without (the baseline), in turns,
so that both see the same machine. Over UDP and over TCP. Prints the medians, the difference
and the ratio, and how many checks said "works" (every one should).

    python scripts/bench_relay_check.py [--quick]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from bench_options import quick_mode
from local_coturn import local_coturn

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.transport_client import TransportClient
from icegather.shared.config.gather_options import GatherOptions

WITHOUT = GatherOptions(local_addresses=("127.0.0.1",))
WITH = GatherOptions(local_addresses=("127.0.0.1",), relay_check=True)


async def gathering_ms(client: TransportClient, server: dict, options: GatherOptions) -> tuple[float, list[str]]:
    outcomes: list[str] = []
    pc = RTCPeerConnection({"iceServers": [server]}, transport=client, options=options)
    pc.onicerelaycheck = lambda event: outcomes.append(event.outcome)
    started = time.perf_counter()
    await pc.gather()
    elapsed = (time.perf_counter() - started) * 1000
    pc.close()
    return elapsed, outcomes


async def measure(rounds: int) -> dict[str, tuple[list[float], list[float], list[str]]]:
    results = {}
    with local_coturn() as coturn:
        client = await TransportClient.start()
        try:
            for transport in ("udp", "tcp"):
                server = coturn.ice_server("turn", transport=transport)
                base: list[float] = []
                checked: list[float] = []
                outcomes: list[str] = []
                for _ in range(rounds):
                    base.append((await gathering_ms(client, server, WITHOUT))[0])
                    elapsed, seen = await gathering_ms(client, server, WITH)
                    checked.append(elapsed)
                    outcomes += seen
                results[transport] = (base, checked, outcomes)
        finally:
            client.close()
    return results


def main(argv: list[str] | None = None) -> int:
    quick = quick_mode(argv, __doc__)
    rounds = 3 if quick else 30
    print(f"bench_relay_check: one TURN URL, {rounds} gatherings each way, medians")
    for transport, (base, checked, outcomes) in asyncio.run(measure(rounds)).items():
        base_ms, checked_ms = statistics.median(base), statistics.median(checked)
        works = outcomes.count("works")
        print(f"  TURN/{transport.upper()}: without the check {base_ms:6.1f} ms, with it {checked_ms:6.1f} ms: "
              f"+{checked_ms - base_ms:.1f} ms, x{checked_ms / base_ms:.1f}; relay works in {works} of {len(outcomes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
