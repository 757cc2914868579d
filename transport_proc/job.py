"""What the service runs for a client: a job, a gathering or an audit. Each reports that it
started, runs every server URL at once and reports "complete"; what it finds leaves as messages
in between, never after (nor once it is closed)."""

from __future__ import annotations

import asyncio
import functools
from abc import ABC, abstractmethod
from typing import ClassVar

from icegather.shared import protocol
from icegather.shared.config.gather_options import RetransmissionSchedule
from icegather.shared.config.ice_config import IceServer
from icegather.shared.config.ice_url import IceUrl
from icegather.transport_proc.addresses import InterfaceAddresses, gathering_addresses
from icegather.transport_proc.interfaces.tracker import interface_addresses
from icegather.transport_proc.turn.lifecycle import Allocations


class Job(ABC):
    """One job, as a ``gather`` or ``audit`` message asked: ``run`` it, then ``close`` it. What
    it finds leaves as messages through ``send``."""

    # The state it reports first ("gathering", "auditing"); the last is "complete".
    STARTED: ClassVar[str]
    # What it is called in a refusal.
    NAME: ClassVar[str]

    def __init__(
        self, request: protocol.Gather | protocol.Audit, send: protocol.Send,
        machine_addresses: InterfaceAddresses = interface_addresses,
    ) -> None:
        self.configuration = request.configuration
        self.options = request.options
        self.send = send
        # The local addresses its URLs run from, chosen now (from the service's tracker; by
        # default, the kernel is asked for each job): its admission counts the sockets of these.
        self.local_addresses = gathering_addresses(request.options.local_addresses, machine_addresses)
        self._allocations = Allocations()
        self._reporting = False
        # The open files the service holds for it, from when it admits it (``files_needed``).
        self.files = 0

    @property
    def schedule(self) -> RetransmissionSchedule:
        return self.options.schedule

    async def run(self) -> None:
        self._reporting = True
        self.send(self._state(self.STARTED))
        # The state leaves at the end of this turn of the loop, before the job's work: the main
        # process counts the times a job reports from its arrival, so it must not wait behind
        # the host sockets' opening.
        await asyncio.sleep(0)
        await self._prepare()
        await asyncio.gather(*(self._run_url(url, server, server_index) for url, server, server_index in self._urls))
        self.send(self._state("complete"))
        self._reporting = False

    async def close(self) -> None:
        """Stop reporting and release the allocations; a subclass closes its sockets too."""
        self._reporting = False
        await self._allocations.release_all()

    @abstractmethod
    async def _prepare(self) -> None:
        """What comes before the URLs run."""

    def _runs(self, url: IceUrl) -> bool:
        """Whether the job runs ``url`` at all."""
        return True

    def files_needed(self) -> int:
        """The most open files the job may hold at once: an upper bound, which the service
        admits jobs by (a socket that cannot be opened would fail a server that is fine)."""
        urls = [url for url, _, _ in self._urls]
        return self._files_needed(urls, len(self.local_addresses))

    @functools.cached_property
    def _urls(self) -> list[tuple[IceUrl, IceServer, int]]:
        """The URLs the job runs, each with its entry of ``iceServers`` and that entry's index
        (listed once: the service's admission counts their files before the job runs them)."""
        return [
            (url, server, server_index)
            for server_index, server in enumerate(self.configuration.ice_servers)
            for url in server.urls
            if self._runs(url)
        ]

    @abstractmethod
    def _files_needed(self, urls: list[IceUrl], local_addresses: int) -> int:
        """``files_needed`` for ``urls``, run from ``local_addresses`` local addresses."""

    @abstractmethod
    async def _run_url(self, url: IceUrl, server: IceServer, server_index: int) -> None:
        """Run one URL of ``server``, the entry ``server_index`` of ``iceServers``."""

    @abstractmethod
    def _state(self, state: str) -> protocol.Message:
        """The message that reports the job's ``state``."""

    @abstractmethod
    def rejected(self, reason: str) -> protocol.Message:
        """The message that says the job was refused, or ended with an internal error."""
