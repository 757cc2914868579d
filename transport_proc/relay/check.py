"""The relay check: does an allocation really carry data, both ways?

After an allocation succeeds, icegather opens a *peer socket* of its own on this machine and

1. asks the server for a permission for the peer's address (CreatePermission);
2. sends probes both ways with Send and Data indications: from the TURN client through the
   relay to the peer socket ("out"), and from the peer socket to the advertised relayed address,
   which the server must hand back to the client ("back");
3. binds a channel to the peer (ChannelBind) and sends probes both ways again as ChannelData,
   since browsers use both kinds.

Data is only ever sent through a relay to the peer socket: to its own address, or, when a NAT
stands between this machine and the server (the server sees the client at another address),
to the address from which the server relayed one of the peer's own probes, the check's random
token in it. The peer socket sends only to a relayed address in the server's own scope
(``scope``). Each probe counts only where it can legitimately arrive (``probes``). The facts go
out as a ``RelayCheckInfo`` that passes its schema (``validation``); ``shared.vocabulary.relay_outcomes``
says what they mean. This module is the I/O around them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from aioice import stun

from icegather.shared.config.gather_options import RetransmissionSchedule
from icegather.shared.net.endpoints import Address, endpoint, family_name
from icegather.shared.structs import RelayCheckInfo
from icegather.shared.vocabulary.failure_causes import FailureCause
from icegather.shared.vocabulary.relay_outcomes import Mechanism
from icegather.transport_proc.relay.probes import (
    CheckedAllocation,
    FailedRequest,
    NotChecked,
    Probe,
    ProbeLog,
    told_allocation_gone,
)
from icegather.transport_proc.relay.scope import relayed_refusal
from icegather.transport_proc.stun import failures
from icegather.transport_proc.stun.channels import Channel, UdpChannel, same_address
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.stun.parser import ServerMessage
from icegather.transport_proc.stun.transaction import Tracer, transact_signed
from icegather.transport_proc.turn.allocation import AllocateSession
from icegather.transport_proc.turn.relay_messages import (
    FIRST_CHANNEL,
    Relayed,
    channel_attributes,
    channel_data,
    peer_attribute,
    relayed,
    send_indication,
)

logger = logging.getLogger(__name__)

PROBES_PER_KIND = 3  # with indications, then as many with ChannelData
PROBE_INTERVAL = 0.002  # between probes, so that one burst loss does not take them all
# Loss takes all of a few probes now and then (all 3 of a kind at 10 % per crossing: 0.7 %), so a
# mechanism that has carried none of them one way an initial RTO after its last probe gets a
# second round, both ways: the check calls a path dead only when it carried none of 3 + 6
# (docs/relay-check.md has the numbers). A healthy path rarely needs it; a dead one waits no longer.
SECOND_ROUND_AFTER_RTOS = 1
SECOND_ROUND_PROBES = 6
# After the last probe of the first round, how long to wait for the missing ones, in initial
# RTOs of the retransmission schedule (1 s with the default).
PROBE_WAIT_RTOS = 2
# A ChannelBind whose answers came but could not be trusted may still have bound the channel
# on the server: ChannelData probes then say whether the channel carries data.
ANSWERED_UNUSABLY: frozenset[FailureCause] = frozenset({"answer_unverified", "answer_wrong_transaction"})


@dataclass(frozen=True)
class PeerPlan:
    """Where the peer socket is bound, and the address the relay sees it at: the same, unless
    a NAT stands between this machine and the server."""

    bind_ip: str
    seen_ip: str

    @property
    def behind_nat(self) -> bool:
        return self.bind_ip != self.seen_ip


def plan_peer(
    relayed_ip: str, client_ip: str, mapped_ip: str | None, server_ip: str, local_addresses: tuple[str, ...]
) -> PeerPlan | NotChecked:
    """The peer socket for a relay in ``relayed_ip``'s family: on the client's own address if it
    is of that family, else on a local address of that family (a loopback one for a loopback
    relay). The client's mapped address (XOR-MAPPED-ADDRESS), when of the same family and
    different, is where a NAT makes the server see this machine, unless the server is on this
    machine (a loopback or local address), where no NAT can stand between. Not checked when
    the relayed address is outside the server's scope (``scope``) or no local address is of
    its family."""
    refusal = relayed_refusal(relayed_ip, server_ip)
    if refusal is not None:
        return refusal
    family = ipaddress.ip_address(relayed_ip).version
    if ipaddress.ip_address(client_ip).version == family:
        bind_ip = client_ip
    else:
        loopback = ipaddress.ip_address(relayed_ip).is_loopback
        same_family = [a for a in local_addresses if ipaddress.ip_address(a).version == family]
        matching = [a for a in same_family if ipaddress.ip_address(a).is_loopback == loopback]
        if not (matching or same_family):
            return NotChecked("no_local_address", f"no local {family_name(relayed_ip)} address for a peer socket")
        bind_ip = (matching or same_family)[0]
    on_this_machine = ipaddress.ip_address(server_ip).is_loopback or server_ip in local_addresses
    if on_this_machine or mapped_ip is None or ipaddress.ip_address(mapped_ip).version != family:
        return PeerPlan(bind_ip, bind_ip)
    return PeerPlan(bind_ip, mapped_ip)


async def request_on_allocation(
    channel: Channel, session: AllocateSession, server: Address, method: stun.Method, attributes: dict[str, Any],
    schedule: RetransmissionSchedule, trace: Tracer | None = None, answers: list[tuple[int, str]] | None = None,
) -> None:
    """One signed request on an allocation (CreatePermission, ChannelBind, Refresh). Raises
    ``AttemptFailed`` for an error response or no usable answer. ``answers`` gets the code and
    reason of each error response on the way (a 438 Stale Nonce, then the request again)."""
    watched = session if answers is None else AnswersNoted(session, server, answers)
    response, _ = await transact_signed(
        channel, lambda: session.request(method, attributes), watched, server, schedule, trace
    )
    if response.message_class == stun.Class.ERROR:
        raise failures.error_response(response, server)


@dataclass(frozen=True)
class AnswersNoted:
    """A TURN session for ``transact_signed`` that notes each error response it is shown."""

    session: AllocateSession
    server: Address
    answers: list[tuple[int, str]]

    def accepts(self, response: ServerMessage) -> bool:
        return self.session.accepts(response)

    def took_new_nonce(self, response: ServerMessage) -> bool:
        if response.message_class == stun.Class.ERROR:
            error = failures.error_response(response, self.server)
            self.answers.append((error.code, error.text))
        return self.session.took_new_nonce(response)


class PeerSocket(UdpChannel):
    """The peer's UDP socket: it hands the check (or the quality stream after it) every
    datagram, and every ICMP error its data met with the destination it was sent to."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.on_datagram: Callable[[bytes, Address], None] = lambda data, source: None
        self.on_error: Callable[[Address, AttemptFailed], None] = lambda destination, failure: None

    def deliver(self, data: bytes, source: Address) -> None:
        self.on_datagram(data, source)

    def fail_all(self, failure: Callable[[Address], AttemptFailed], server: Address | None = None) -> None:
        if server is not None:
            self.on_error(server, failure(server))


class RelayChecker:
    """One check of one allocation, on the TURN client's ``channel`` to ``server``, with the
    peer ``plan_peer`` planned (or no probe at all, when it says why not)."""

    def __init__(
        self,
        channel: Channel,
        session: AllocateSession,
        server: Address,
        allocation: CheckedAllocation,
        plan: PeerPlan | NotChecked,
        schedule: RetransmissionSchedule,
        channel_number: int = FIRST_CHANNEL,
        trace: Tracer | None = None,
    ) -> None:
        self.channel = channel
        # Each relayed address of an allocation has a channel of its own to bind.
        self.channel_number = channel_number
        self.trace = trace
        self.session = session
        self.server = server
        self.allocation = allocation
        self.plan = plan
        self.schedule = schedule
        self.log = ProbeLog()
        self.peer: PeerSocket | None = None
        # Where out probes go: the peer socket's address as the relay sees it, once known.
        self.target: Address | None = None
        # Whether ChannelBind went out: only then may data come back on the channel.
        self.channel_asked = False
        # The ICMP error that came back for the back probes (nothing listens on the relayed
        # address, say): then no back probe will arrive, and nobody waits for one.
        self.back_cause = ""
        self._progress = asyncio.Event()

    @property
    def peer_plan(self) -> PeerPlan:
        assert isinstance(self.plan, PeerPlan)  # else run() returns before any I/O
        return self.plan

    async def run(self) -> RelayCheckInfo:
        """Check; the peer socket stays open for a stream through the relay until ``close``."""
        if isinstance(self.plan, NotChecked):
            return self.allocation.not_checked(self.plan)
        try:
            self.peer = PeerSocket.open(self.plan.bind_ip)
        except AttemptFailed as failure:
            return self.allocation.not_checked(NotChecked("socket_failed", f"no peer socket: {failure.text}"))
        self.peer.on_datagram = self._at_peer
        self.peer.on_error = self._peer_error
        self.channel.on_relayed = self._at_client
        try:
            return await self._check()
        finally:
            self.channel.on_relayed = None
            self.peer.on_datagram = lambda data, source: None
            self.peer.on_error = lambda destination, failure: None

    def close(self) -> None:
        if self.peer is not None:
            self.peer.close()

    async def _check(self) -> RelayCheckInfo:
        assert self.peer is not None
        if not self.peer_plan.behind_nat:
            self.target = (self.peer_plan.seen_ip, self.peer.local_address[1])
        failed = await self._request(
            "CreatePermission", stun.Method.CREATE_PERMISSION, peer_attribute((self.peer_plan.seen_ip, 0))
        )
        if failed is not None:
            return self._report(failed)
        await self._probe("indication")
        if self.target is None:  # behind a NAT, and no probe came back to tell where the peer is
            return self._report()
        self.channel_asked = True
        failed = await self._request(
            "ChannelBind", stun.Method.CHANNEL_BIND, channel_attributes(self.channel_number, self.target)
        )
        if failed is None or failed.cause in ANSWERED_UNUSABLY:
            await self._probe("channel")
        return self._report(failed)

    def _report(self, failed: FailedRequest | None = None) -> RelayCheckInfo:
        back_cause = self.back_cause if not self.log.count("back") else ""
        return self.allocation.info(self.log, back_cause, failed)

    async def _request(
        self, name: Literal["CreatePermission", "ChannelBind"], method: stun.Method, attributes: dict[str, Any]
    ) -> FailedRequest | None:
        """Run one signed request; what failed, if it did."""
        answers: list[tuple[int, str]] = []
        try:
            await request_on_allocation(
                self.channel, self.session, self.server, method, attributes, self.schedule, self.trace, answers
            )
        except AttemptFailed as failure:
            failed = told_allocation_gone(FailedRequest(name, failure.code, failure.cause, failure.text), answers)
            logger.info("%s: relay check: %s failed: %d %s", self.allocation.url, name, failed.code, failed.text)
            return failed
        return None

    async def _probe(self, mechanism: Mechanism) -> None:
        """Probes with one mechanism, both ways; return when all arrived or the wait is over."""
        loop = asyncio.get_running_loop()
        await self._send_round(mechanism, PROBES_PER_KIND)
        sent = loop.time()

        def all_arrived() -> bool:
            return self.log.all_arrived(mechanism, bool(self.back_cause))

        await self._until(all_arrived, sent + SECOND_ROUND_AFTER_RTOS * self.schedule.initial_rto)
        if self.log.carried_none(mechanism, bool(self.back_cause)):
            await self._send_round(mechanism, SECOND_ROUND_PROBES)
        await self._until(all_arrived, sent + PROBE_WAIT_RTOS * self.schedule.initial_rto)

    async def _send_round(self, mechanism: Mechanism, count: int) -> None:
        """``count`` probes each way; out probes wait for the peer's address behind a NAT
        (``_at_client`` sends them once a back probe tells it)."""
        first = self.log.count("back", sent=True)
        for index in range(first, first + count):
            self._send(Probe("back", mechanism, index))
            if self.target is not None:
                self._send(Probe("out", mechanism, index))
            await asyncio.sleep(PROBE_INTERVAL)

    async def _until(self, done: Callable[[], bool], deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while not done():
            left = deadline - loop.time()
            if left <= 0:
                # Probes the kernel holds arrived in time, though a busy loop has not read
                # them yet (it reads a datagram a socket a turn): they count.
                assert self.peer is not None
                self.peer.read_queued()
                self.channel.read_queued()
                return
            self._progress.clear()
            with contextlib.suppress(asyncio.TimeoutError):  # then the loop's test ends it
                await asyncio.wait_for(self._progress.wait(), left)

    def _send(self, probe: Probe) -> None:
        assert self.peer is not None
        payload = self.log.send(probe, time.monotonic())
        if probe.direction == "back":
            self.peer.send(payload, self.allocation.relayed)
        elif probe.mechanism == "indication":
            assert self.target is not None
            self.channel.send(send_indication(self.target, payload), self.server)
        else:
            self.channel.send(channel_data(self.channel_number, payload, padded=self.channel.reliable), self.server)

    def _at_peer(self, data: bytes, source: Address) -> None:
        if self.log.at_peer(data, time.monotonic(), source) is not None:
            self._progress.set()

    def _peer_error(self, destination: Address, failure: AttemptFailed) -> None:
        if same_address(destination, self.allocation.relayed):
            self.back_cause = self.back_cause or failure.cause
            self._progress.set()

    def _at_client(self, message: bytes, source: Address) -> None:
        if not same_address(source, self.server):
            return
        data = relayed(message)
        if data is None:
            return
        if self.log.at_client(data.data, time.monotonic(), self._from_peer(data)) is None:
            return
        if self.target is None and data.peer is not None:
            # Behind a NAT: the server relayed our own probe from here, so this is the peer.
            self.target = data.peer
            logger.info("%s: relay check: the peer is at %s", self.allocation.url, endpoint(data.peer))
            for probe in self.log.outs_unsent():
                self._send(probe)
        self._progress.set()

    def _from_peer(self, data: Relayed) -> bool:
        """Whether relayed data came the way data from the peer socket must: on the channel
        bound to it, or in a Data indication from its address (its IP, behind a NAT, until a
        probe tells its port)."""
        if data.channel is not None:
            return self.channel_asked and data.channel == self.channel_number
        return from_peer_address(data.peer, self.target, self.peer_plan.seen_ip)


def from_peer_address(peer: Address | None, target: Address | None, seen_ip: str) -> bool:
    """Whether a Data indication's XOR-PEER-ADDRESS is the peer socket as the relay sees it."""
    if peer is None:
        return False
    return same_address(peer, target) if target is not None else peer[0] == seen_ip
