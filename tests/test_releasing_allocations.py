"""Closing a peer connection releases every TURN allocation with a Refresh of lifetime zero, as
coturn's own log shows; ``close()`` returns at once and the transport process releases, then
exits by itself, while the event loop runs on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from gathering_helpers import LOOPBACK, gather
from local_coturn import local_coturn

from icegather.main_proc.dom.peerconnection import RTCPeerConnection


def test_closing_releases_every_turn_allocation_with_a_refresh_of_lifetime_zero():
    with local_coturn(extra_args=["--verbose"]) as turn:  # verbose: coturn logs each refresh
        recording = gather({"iceServers": [turn.ice_server("turn"), turn.ice_server("turn", transport="tcp")]})
        assert len(recording.of_type("relay")) == 2
        released = wait_for(lambda: turn.log.count(f"username=<{turn.username}>, lifetime=0"), 2, 5.0)

    assert released == 2


def test_closing_returns_at_once_and_the_transport_releases_its_allocation_then_exits_by_itself():
    with local_coturn(extra_args=["--verbose"]) as turn:

        async def scenario() -> tuple[bool, int, int | None]:
            pc = RTCPeerConnection({"iceServers": [turn.ice_server("turn")]}, options=LOOPBACK)
            await pc.gather()
            assert pc.transport is not None and pc.transport.process is not None
            popen = pc.transport.process.popen
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0)
                    ticks += 1

            ticker = asyncio.ensure_future(tick())
            pc.close()
            returned_while_running = popen.poll() is None  # close() did not wait for the process
            await pc.aclose()  # this does, without blocking the loop
            ticker.cancel()
            return returned_while_running, ticks, popen.returncode

        returned_while_running, ticks, returncode = asyncio.run(scenario())
        released = wait_for(lambda: turn.log.count(f"username=<{turn.username}>, lifetime=0"), 1, 5.0)

    assert returned_while_running
    assert ticks > 0  # the event loop ran while the transport released and exited
    assert returncode == 0  # it exited by itself, after the release: not killed
    assert released == 1


def wait_for(count: Callable[[], int], expected: int, seconds: float) -> int:
    """Poll ``count`` until it reaches ``expected`` or ``seconds`` pass: coturn's log is written
    by another process, a little later."""
    deadline = time.monotonic() + seconds
    while count() < expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return count()
