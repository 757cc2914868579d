"""``TransportSupervisor``: a working transport on demand, a fresh one after a failure."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from icegather.main_proc.link.supervision import Supervision
from icegather.main_proc.link.transport_client import TransportClient
from icegather.main_proc.link.transport_process import TransportProcess


def _start_own_process(supervision: Supervision) -> Awaitable[TransportClient]:
    return TransportClient.start(supervision=supervision)


def _exited(client: TransportClient) -> bool:
    """Whether a transport process of our own has exited, which its client may not have read yet
    (a transport that drained to restart exits right after its last job is closed)."""
    return client.process is not None and client.process.popen.poll() is not None


class TransportSupervisor:
    """Hands out a working transport: the current one, or a fresh one when there is none or the
    last one failed or exited. Peer connections given a supervisor share its transport. A
    transport that restarts to read a replaced resolver file (``transport_proc.service``) ends
    its running jobs first and refuses new ones, then exits with status 75; the next use after
    that gets a fresh one.

    By default a fresh transport is a new process of our own; ``connect`` makes it a new
    connection to a running service instead. ``spawned`` is a process started already, taken
    for the first transport (the command line starts one before it loads the rest of itself).
    """

    def __init__(
        self,
        supervision: Supervision = Supervision(),
        connect: Callable[[Supervision], Awaitable[TransportClient]] = _start_own_process,
        spawned: TransportProcess | None = None,
    ) -> None:
        self.supervision = supervision
        self._connect = connect
        self._spawned = spawned
        self.started = 0  # transports started (or connected) so far
        self._current: TransportClient | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> TransportClient:
        async with self._lock:
            if self._current is None or self._current.failure is not None or _exited(self._current):
                if self._current is not None:
                    self._current.close()
                spawned, self._spawned = self._spawned, None
                if spawned is not None:
                    self._current = await TransportClient.start(supervision=self.supervision, process=spawned)
                else:
                    self._current = await self._connect(self.supervision)
                self.started += 1
            return self._current

    async def aclose(self) -> None:
        """Close the current transport and wait until it is gone (allocations released)."""
        if self._spawned is not None:  # never used: it served nobody
            self._spawned.kill()
            self._spawned = None
        if self._current is not None:
            current, self._current = self._current, None
            await current.aclose()
