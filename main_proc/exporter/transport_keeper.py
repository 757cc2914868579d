"""The exporter's transport, started before it is needed: when the exporter starts, and again
as soon as one ends.

Starting a transport process and confirming its hello takes a few tenths of a second. Started
on demand, that time came out of the first probe after start or after a restart, and a tight
scrape timeout made that probe answer "timed out". The keeper asks the supervisor for a
transport at once and, whenever that transport's process exits (it failed, was killed, or
restarted to read a new resolver file), for the next one. ``ready`` says whether a transport
is up now, which is what ``/-/ready`` answers. A transport that does not start is tried again
after a pause that doubles up to ``LONGEST_PAUSE``; probes meanwhile ask the supervisor
themselves, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from icegather.main_proc.link.transport_client import TransportClient
from icegather.main_proc.link.transport_error import TransportError
from icegather.main_proc.link.transport_supervisor import TransportSupervisor

logger = logging.getLogger(__name__)

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 60.0


class TransportKeeper:
    def __init__(self, supervisor: TransportSupervisor) -> None:
        self.supervisor = supervisor
        self._client: TransportClient | None = None
        self._task: asyncio.Future[None] | None = None

    @property
    def ready(self) -> bool:
        """Whether a transport is up: its hello confirmed, not failed, its process running."""
        client = self._client
        if client is None or client.failure is not None:
            return False
        return client.process is None or client.process.popen.poll() is None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._keep())

    async def aclose(self) -> None:
        """Stop keeping a transport (before the supervisor closes it, so none replaces it)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _keep(self) -> None:
        pause = FIRST_PAUSE
        while True:
            try:
                client = await self.supervisor.client()
            except TransportError as exc:
                logger.error("the transport did not start (trying again in %g s): %s", pause, exc)
                await asyncio.sleep(pause)
                pause = min(2 * pause, LONGEST_PAUSE)
                continue
            pause = FIRST_PAUSE
            self._client = client
            if client.process is None:  # a service's transport: nothing of ours to restart
                return
            await client.process.wait_exit()  # the supervisor replaces an exited transport
