"""``TransportSupervisor``: a working transport on demand, a fresh one after a failure."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from icegather.main_proc.link.supervision import Supervision
from icegather.main_proc.link.transport_client import TransportClient
from icegather.main_proc.link.transport_error import TransportError
from icegather.main_proc.link.transport_process import TransportProcess


def _start_own_process(supervision: Supervision) -> Awaitable[TransportClient]:
    return TransportClient.start(supervision=supervision)


def _exited(client: TransportClient) -> bool:
    """Whether a transport process of our own has exited, which its client may not have read yet
    (a transport that drained to restart exits right after its last job is closed)."""
    return client.process is not None and client.process.popen.poll() is not None


def _restarting(client: TransportClient) -> bool:
    """Whether a transport process of our own said it restarts: a fresh one can take new work
    now. A service's restart is not: a new connection would reach the same draining process, so
    its client is kept until the connection ends, and its refusals are the caller's."""
    return client.process is not None and client.draining is not None


class TransportSupervisor:
    """Hands out a working transport: the current one, or a fresh one when there is none or the
    last one failed, exited or is restarting. Peer connections given a supervisor share its
    transport.

    A transport of our own that restarts to read a replaced file (``transport_proc.service``)
    says so (``draining``): the supervisor starts a fresh one at once and hands that one out from
    then on, while the old one finishes its running jobs and exits with status 75. A job the old
    one refused meanwhile (asked before its ``draining`` was read) goes to the fresh one
    (``TransportClient.replacement``). A service (``connect``) that restarts is connected to
    again once its connection has ended.

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
        # Restarting transports that finish their jobs: closed by aclose if they have not ended.
        self._retiring: list[TransportClient] = []
        self._closed = False
        self._lock = asyncio.Lock()

    async def client(self) -> TransportClient:
        async with self._lock:
            if self._closed:
                raise TransportError("the transport supervisor is closed")
            current = self._current
            if current is None or current.failure is not None or _exited(current) or _restarting(current):
                if current is not None:
                    self._retire(current)
                spawned, self._spawned = self._spawned, None
                if spawned is not None:
                    fresh = await TransportClient.start(supervision=self.supervision, process=spawned)
                else:
                    fresh = await self._connect(self.supervision)
                if fresh.process is not None:
                    fresh.replacement = self.client
                self._current = current = fresh
                self.started += 1
            return current

    def _retire(self, client: TransportClient) -> None:
        """Let a restarting transport finish its jobs; close any other."""
        self._retiring = [old for old in self._retiring if old.failure is None]
        if _restarting(client) and client.failure is None and not _exited(client):
            self._retiring.append(client)
        else:
            client.close()

    async def aclose(self) -> None:
        """Close the current transport, and any still finishing its jobs to restart, and wait
        until they are gone (allocations released)."""
        async with self._lock:  # a fresh transport being started is closed too, once it is
            self._closed = True
            if self._spawned is not None:  # never used: it served nobody
                self._spawned.kill()
                self._spawned = None
            clients = [*self._retiring, *([self._current] if self._current is not None else [])]
            self._current, self._retiring = None, []
        await asyncio.gather(*(client.aclose() for client in clients))
