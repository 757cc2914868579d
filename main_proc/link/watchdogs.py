"""How the main process notices a failed transport without being told: the end of the
connection, silence past the heartbeat timeout, and the exit of a transport process of its own.
Each calls ``fail`` with the reason; none knows about peer connections."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import zmq
import zmq.asyncio
from zmq.utils.monitor import recv_monitor_message

from icegather.main_proc.link.supervision import Supervision
from icegather.main_proc.link.transport_process import TransportProcess

# How long the end of the connection to a transport process of our own waits for the process's
# exit to be seen (it usually is within milliseconds), to report how it ended.
PROCESS_EXIT_GRACE = 1.0


async def watch_heartbeats(
    supervision: Supervision,
    last_heard: Callable[[], float],
    has_unread: Callable[[], bool],
    fail: Callable[[str], None],
) -> None:
    """Fail a transport that sent nothing, not even a heartbeat, for ``heartbeat_timeout``.
    Messages still unread mean it did speak while our own loop was busy: not silence."""
    interval, timeout = supervision.heartbeat_interval, supervision.heartbeat_timeout
    while True:
        await asyncio.sleep(min(interval, timeout / 4))
        silence = time.monotonic() - last_heard()
        if silence > timeout and not has_unread():
            fail(f"the transport stopped answering: nothing from it for {silence:.1f} s")
            return


async def watch_connection(
    monitor: zmq.asyncio.Socket, endpoint: str, process: TransportProcess | None, fail: Callable[[str], None]
) -> None:
    """Fail the transport when the connection to it ends: a service that restarted would
    otherwise take our messages on a new connection and know nothing of them. When the
    process is our own, its exit says more, so it gets a moment to be seen first."""
    while (await recv_monitor_message(monitor))["event"] != zmq.EVENT_DISCONNECTED:
        pass
    if process is not None:
        with contextlib.suppress(asyncio.TimeoutError):
            how = await asyncio.wait_for(asyncio.shield(process.wait_exit()), PROCESS_EXIT_GRACE)
            fail(f"the transport process (pid {process.pid}) {how}")
            return
    fail(f"the connection to the transport at {endpoint} was lost")


async def watch_process(process: TransportProcess, fail: Callable[[str], None]) -> None:
    how = await process.wait_exit()
    fail(f"the transport process (pid {process.pid}) {how}")
