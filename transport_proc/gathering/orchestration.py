"""ICE candidate gathering for one peer connection, with one error per failing server attempt.

This is the transport side of the browser layering: what nICEr and MediaTransportHandler do in
Firefox's socket process. For one configuration it

1. reports the state "gathering";
2. opens one UDP socket per local address: the host candidates;
3. tries every URL of every server at once. A URL's host is looked up once; then each local
   address of the server's address family tries it (STUN: a Binding request from the host
   socket, ``stun_attempt``; TURN: an Allocate from a socket of its own, over UDP, TCP or TLS,
   ``turn_attempt``, and the allocation's use, ``allocation_use``);
4. reports each candidate and each failure the moment its attempt ends, so that a dead server
   never delays what healthy servers give (``reports``);
5. reports "complete" when every attempt has ended, and nothing after that.

A failure is one ``IceCandidateErrorInfo``: the server's error code and reason phrase, or 701
with a text naming the cause (``failures``). Its address and port are those of the local
socket that tried; a failed name lookup was tried by no socket, so it has ``""`` and ``0``.
Every report names the entry of ``iceServers`` its URL came from (``server_index``).
"""

from __future__ import annotations

import logging
import time

from icegather.shared import protocol
from icegather.shared.config.ice_config import IceServer
from icegather.shared.config.ice_url import IceUrl
from icegather.shared.net.endpoints import family_name
from icegather.transport_proc.addresses import InterfaceAddresses, pair_addresses
from icegather.transport_proc.concurrently import all_at_once
from icegather.transport_proc.gathering import candidates
from icegather.transport_proc.gathering.attempts import Attempt
from icegather.transport_proc.gathering.context import AttemptContext
from icegather.transport_proc.gathering.reports import Reports
from icegather.transport_proc.gathering.stun_attempt import bind
from icegather.transport_proc.gathering.turn_attempt import allocate_relay
from icegather.transport_proc.interfaces.tracker import interface_addresses
from icegather.transport_proc.job import Job
from icegather.transport_proc.stun import failures
from icegather.transport_proc.stun.channels import Channel, UdpChannel
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.stun.resolver import resolve

logger = logging.getLogger(__name__)


class Gathering(Job):
    """One peer connection's gathering, as a ``gather`` message asked."""

    STARTED = "gathering"
    NAME = "gathering"
    # What its attempts work with, once the host sockets are open (``_prepare``).
    _context: AttemptContext

    def __init__(
        self, request: protocol.Gather, send: protocol.Send, machine_addresses: InterfaceAddresses = interface_addresses
    ) -> None:
        self._reports = Reports(request.pc_id, send, request.options.trace)  # before Job sets _reporting
        super().__init__(request, send, machine_addresses)
        self.pc_id = request.pc_id
        self._host_channels: dict[str, UdpChannel | AttemptFailed] = {}

    # Job's switch is the reports' own, so that they need no way back to the gathering.
    @property
    def _reporting(self) -> bool:
        return self._reports.reporting

    @_reporting.setter
    def _reporting(self, reporting: bool) -> None:
        self._reports.reporting = reporting

    async def run(self) -> None:
        self._reports.started = time.monotonic()  # the trace's times count from here
        await super().run()

    def _state(self, state: str) -> protocol.GatheringState:
        return protocol.GatheringState(self.pc_id, state)

    def rejected(self, reason: str) -> protocol.GatherRejected:
        return protocol.GatherRejected(self.pc_id, reason)

    def __repr__(self) -> str:
        return f"<Gathering pc_id={self.pc_id}>"

    async def close(self) -> None:
        await super().close()
        for channel in self._host_channels.values():
            if isinstance(channel, Channel):
                channel.close()
        self._host_channels.clear()

    # --- host candidates ----------------------------------------------------------------

    async def _prepare(self) -> None:
        self._open_host_sockets()
        self._context = AttemptContext(self.configuration, self.options, self.local_addresses, self._host_channels,
                                       self._allocations, self._reports)

    def _open_host_sockets(self) -> None:
        for local_ip in self.local_addresses:
            try:
                self._host_channels[local_ip] = UdpChannel.open(local_ip)
            except AttemptFailed as failure:
                logger.warning("no host socket on %s: %s", local_ip, failure.text)
                self._host_channels[local_ip] = failure
        if self.configuration.ice_transport_policy == "relay":
            return
        for index, channel in enumerate(self._host_channels.values()):
            if isinstance(channel, UdpChannel):
                self._reports.candidate(candidates.host_candidate(channel.local_address, index))

    # --- one URL, from every local address of its family ----------------------------------

    def _runs(self, url: IceUrl) -> bool:
        return url.is_turn or self.configuration.ice_transport_policy != "relay"

    def _files_needed(self, urls: list[IceUrl], local_addresses: int) -> int:
        # From each local address: the host socket, and a socket per URL but STUN over UDP
        # (which uses the host socket). A TURN URL's allocation may have the IPv6 ask's
        # allocation beside it; each relay checked, a peer socket; each relay streamed, a far
        # allocation and the stream's far end.
        options = self.options
        relays = 2 if options.ipv6_relay else 1
        per_relay = (1 if options.relay_check else 0) + (2 if options.quality_seconds else 0)
        turn = relays * (1 + per_relay)
        own_sockets = sum(turn if url.is_turn else 0 if url.transport == "udp" else 1 for url in urls)
        return local_addresses * (1 + own_sockets)

    async def _run_url(self, url: IceUrl, server: IceServer, server_index: int) -> None:
        try:
            server_ips = await resolve(url.host, url.port, self.schedule.give_up_after)
        except AttemptFailed as failure:
            self._reports.failure(url, server_index, failure, None)
            return
        except Exception as error:  # a bug: this URL fails, and says so; the others go on
            logger.exception("%s: internal error while resolving %s", url.url, url.host)
            self._reports.failure(url, server_index, failures.internal_error(error), None)
            return
        pairs = pair_addresses(self.local_addresses, server_ips)
        if not pairs:
            no_address = failures.no_local_address(family_name(server_ips[0]), url.host)
            self._reports.failure(url, server_index, no_address, None)
            return
        attempts = [
            self._attempt(Attempt(url, server, server_index, local_ip, self.local_addresses.index(local_ip),
                                  (server_ip, url.port)))
            for local_ip, server_ip in pairs
        ]
        await all_at_once(attempts)  # usually one: one local address of the server's family

    async def _attempt(self, attempt: Attempt) -> None:
        url = attempt.url
        try:
            if url.is_turn:
                await allocate_relay(self._context, attempt)
            else:
                await bind(self._context, attempt)
        except AttemptFailed as failure:
            self._reports.failure(url, attempt.server_index, failure, attempt)
        except Exception as error:  # a bug: this URL fails, and says so; the others go on
            logger.exception("%s from %s: internal error", url.url, attempt.local_ip)
            self._reports.failure(url, attempt.server_index, failures.internal_error(error), attempt)
        finally:
            if attempt.channel is not None and not attempt.keep_channel:
                attempt.channel.close()
