#!/usr/bin/env python3
"""Time to the first error, and cold start.

* First error: a TURN server refusing the credentials. For icegather, from ``gather()`` to the
  401 ``icecandidateerror`` in the main process (the transport already running); for the
  baseline, a bare aioice TURN Allocate with the same wrong password to the same coturn, in
  this process, until it raises. Both over UDP and TCP.
* Cold start: from ``RTCPeerConnection(...).gather()`` to the transport process being ready
  (the handshake done), and which imports dominate the transport's start-up
  (``python -X importtime``).

    python scripts/bench_first_error.py [--quick]
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time

from aioice import turn
from bench_options import quick_mode
from local_coturn import local_coturn

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.transport_client import TransportClient
from icegather.shared.config.gather_options import GatherOptions

LOOPBACK = GatherOptions(local_addresses=("127.0.0.1",))


async def icegather_first_error(client: TransportClient, server: dict) -> float:
    pc = RTCPeerConnection({"iceServers": [server]}, transport=client, options=LOOPBACK)
    seen = asyncio.get_running_loop().create_future()
    pc.onicecandidateerror = lambda event: seen.done() or seen.set_result(time.perf_counter())
    started = time.perf_counter()
    gathering = asyncio.ensure_future(pc.gather())
    at = await asyncio.wait_for(seen, 10)
    await gathering
    pc.close()
    return (at - started) * 1000


async def aioice_first_error(address: tuple[str, int], username: str, transport: str) -> float:
    started = time.perf_counter()
    try:
        await turn.create_turn_endpoint(asyncio.DatagramProtocol, address, username, "wrong", transport=transport)
    except Exception:
        return (time.perf_counter() - started) * 1000
    raise RuntimeError("aioice allocated with a wrong password")


async def first_error(rounds: int) -> dict[str, tuple[list[float], list[float]]]:
    results = {}
    with local_coturn() as coturn:
        client = await TransportClient.start()
        try:
            for transport in ("udp", "tcp"):
                server = coturn.ice_server("turn", transport=transport, password="wrong")
                ours = [await icegather_first_error(client, server) for _ in range(rounds)]
                bare = [await aioice_first_error((coturn.host, coturn.port), coturn.username, transport)
                        for _ in range(rounds)]
                results[transport] = (ours, bare)
        finally:
            client.close()
    return results


async def cold_start(rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        client = await TransportClient.start()
        times.append((time.perf_counter() - started) * 1000)
        client.close()
    return times


def import_costs(top: int) -> list[tuple[float, str]]:
    """The transport's heaviest top-level imports, cumulative ms, from ``-X importtime``, loaded
    as its process loads them (aioice's STUN codec without its ICE agent)."""
    as_the_transport = (
        "from icegather.transport_proc.__main__ import load_aioice_without_its_agent\n"
        "load_aioice_without_its_agent()\n"
        "import icegather.transport_proc.service"
    )
    result = subprocess.run([sys.executable, "-I", "-X", "importtime", "-c", as_the_transport],
                            capture_output=True, text=True, check=True)
    costs = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        if cumulative.isdigit() and not name.startswith(" ") and "." not in name:
            costs.append((int(cumulative) / 1000, name))
    return sorted(costs, reverse=True)[:top]


def main(argv: list[str] | None = None) -> int:
    quick = quick_mode(argv, __doc__)
    rounds = 3 if quick else 30
    print(f"bench_first_error: {rounds} rounds each, medians (p90)")
    for transport, (ours, bare) in asyncio.run(first_error(rounds)).items():
        ours_median, bare_median = statistics.median(ours), statistics.median(bare)
        print(f"  TURN/{transport.upper()} 401: icegather {ours_median:.2f} ms ({p90(ours):.2f}), bare aioice "
              f"{bare_median:.2f} ms ({p90(bare):.2f}); difference {ours_median - bare_median:+.2f} ms "
              f"(target within 10 ms)")
    starts = asyncio.run(cold_start(3 if quick else 15))
    print(f"  cold start to a ready transport: median {statistics.median(starts):.0f} ms, p90 {p90(starts):.0f} ms "
          f"(target under 300 ms)")
    print("  heaviest imports of the transport (cumulative ms): "
          + ", ".join(f"{name} {ms:.0f}" for ms, name in import_costs(6)))
    return 0


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


if __name__ == "__main__":
    sys.exit(main())
