"""The two ways the main process notices a failed transport without being told: silence past
the heartbeat timeout, and the exit of a transport process of its own. Each calls ``fail``
with the reason; neither knows about sockets or peer connections."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from icegather.main_proc.supervision import Supervision
from icegather.main_proc.transport_process import TransportProcess


async def watch_heartbeats(
    supervision: Supervision,
    last_heard: Callable[[], float],
    send_heartbeat: Callable[[], None],
    fail: Callable[[str], None],
) -> None:
    """Send our heartbeats (the transport drops clients that go silent) and check theirs."""
    interval, timeout = supervision.heartbeat_interval, supervision.heartbeat_timeout
    while True:
        await asyncio.sleep(min(interval, timeout / 4))
        silence = time.monotonic() - last_heard()
        if silence > timeout:
            fail(f"the transport stopped answering: nothing from it for {silence:.1f} s")
            return
        send_heartbeat()


async def watch_process(process: TransportProcess, fail: Callable[[str], None]) -> None:
    how = await process.wait_exit()
    fail(f"the transport process (pid {process.pid}) {how}")
