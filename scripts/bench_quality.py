#!/usr/bin/env python3
"""Concurrent quality streams on one transport through one loopback coturn.

Each stream is one gathering of its own (one allocation, its relay check, then the stream to
the check's peer socket), all started at once on one transport process: 100 streams at 50
packets a second each are 5,000 packets a second each way through the relay. Prints, per run,
the packets lost each way, and the transport's CPU over the run (``process_stats``, as a share
of one core); then steps the number of streams up until a run loses 0.1 % or more either way,
and prints the highest that stayed under.

    python scripts/bench_quality.py [--quick]
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench_options import quick_mode
from local_coturn import local_coturn
from process_stats import cpu_seconds

from icegather.main_proc.link.transport_client import TransportClient
from icegather.shared.config.gather_options import GatherOptions
from icegather.shared.config.ice_config import parse_configuration
from icegather.shared.structs import RelayQualityInfo

RATE = 50
LOSS_LIMIT = 0.001


class Streams:
    """What one gathering's transport reported: its quality streams, and when it completed."""

    def __init__(self) -> None:
        self.reports: list[RelayQualityInfo] = []
        self.done = asyncio.Event()

    def on_relay_quality(self, info: RelayQualityInfo) -> bool:
        self.reports.append(info)
        return True

    def on_gathering_state(self, state: str) -> bool:
        if state == "complete":
            self.done.set()
        return True

    def on_transport_failure(self, reason: str) -> None:
        self.done.set()

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("on_"):
            raise AttributeError(name)
        return lambda payload: True  # candidates, answers, the check: not counted here


@dataclass(frozen=True)
class Run:
    streams: int
    reported: int
    out: int
    out_received: int
    back: int
    back_received: int
    cpu_share: float
    seconds: float
    wall: float

    @property
    def loss_out(self) -> float:
        return 1 - self.out_received / self.out if self.out else 1.0

    @property
    def loss_back(self) -> float:
        return 1 - self.back_received / self.back if self.back else 1.0

    @property
    def under_limit(self) -> bool:
        return self.reported == self.streams and max(self.loss_out, self.loss_back) < LOSS_LIMIT

    def line(self) -> str:
        return (f"  {self.streams:4d} streams x {RATE} packets/s for {self.seconds:g} s "
                f"({self.streams * RATE} packets/s each way): {self.reported} reported, "
                f"lost {self.out - self.out_received} of {self.out} out ({self.loss_out:.3%}), "
                f"{self.back - self.back_received} of {self.back} back ({self.loss_back:.3%}); "
                f"transport CPU {self.cpu_share:.0%} of a core; all done in {self.wall:.1f} s")


async def run(client: TransportClient, server: dict[str, str], streams: int, seconds: float) -> Run:
    assert client.transport_pid is not None
    options = GatherOptions(local_addresses=("127.0.0.1",), relay_check=True, quality_seconds=seconds,
                            quality_rate=RATE)
    configuration = parse_configuration({"iceServers": [server]})
    gatherings = [Streams() for _ in range(streams)]
    cpu, started = cpu_seconds(client.transport_pid), time.monotonic()
    pc_ids = [client.gather(configuration, options, gathering) for gathering in gatherings]
    await asyncio.gather(*(gathering.done.wait() for gathering in gatherings))
    wall = time.monotonic() - started
    cpu_share = (cpu_seconds(client.transport_pid) - cpu) / wall
    for pc_id in pc_ids:
        client.stop(pc_id)
    reports = [info for gathering in gatherings for info in gathering.reports]
    return Run(
        streams, len(reports), sum(r.packets_out for r in reports), sum(r.packets_out_received for r in reports),
        sum(r.packets_back for r in reports), sum(r.packets_back_received for r in reports), cpu_share, seconds, wall,
    )


async def measure(steps: tuple[int, ...], seconds: float) -> list[Run]:
    runs: list[Run] = []
    with local_coturn() as coturn:
        client = await TransportClient.start()
        try:
            for streams in steps:
                runs.append(await run(client, coturn.ice_server(), streams, seconds))
                print(runs[-1].line(), flush=True)
                if not runs[-1].under_limit:
                    break
        finally:
            await client.aclose()
    return runs


def main(argv: list[str] | None = None) -> int:
    quick = quick_mode(argv, __doc__)
    steps, seconds = ((10, 20), 1.0) if quick else ((100, 200, 300, 400, 600, 800, 1000), 10.0)
    print(f"bench_quality: concurrent quality streams on one transport through one coturn, up to "
          f"{LOSS_LIMIT:.1%} loss")
    runs = asyncio.run(measure(steps, seconds))
    under = [r.streams for r in runs if r.under_limit]
    print(f"  highest under {LOSS_LIMIT:.1%} loss: {max(under) if under else 'none'} streams"
          + ("" if runs[-1].under_limit else f" ({runs[-1].streams} lost more)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
