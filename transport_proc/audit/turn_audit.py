"""The audit of one TURN URL: what the server allows with an allocation, reported as facts.

1. an Allocate without credentials, as a browser sends it: an open relay answers it with a
   relay, which the rest of the audit then uses;
2. else, with the configured credentials (none: the peers are not checked);
3. beyond a browser, an IPv6 relay asked for alone, on a socket of its own and on a short
   schedule, when the allocation has none: a server that mishandles the ask costs nothing of
   the rest (``ipv6_relay``);
4. CreatePermission for every peer of ``AUDIT_PEERS``, each on the relay of its address family
   when there is one (else on the browser's), and ChannelBind for each one granted, on a
   channel number and port of its own. Nothing is ever sent to a peer.

Each result names the relay a peer was asked on: the main process judges from its address
family whether the peer can be reached through it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aioice import stun

from icegather.shared.config.gather_options import RetransmissionSchedule
from icegather.shared.config.ice_config import IceServer
from icegather.shared.net.endpoints import Address, is_ipv6
from icegather.shared.vocabulary.audit_plan import AUDIT_PEERS, PEER_INDEX, AuditCheck, AuditOutcome, peer_port
from icegather.transport_proc.stun import failures
from icegather.transport_proc.stun.address_families import IPV6_ALONE
from icegather.transport_proc.stun.channels import Channel
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.stun.transaction import Tracer, transact, transact_signed
from icegather.transport_proc.turn.allocation import Allocated, AllocateSession, Redirect, SendRequest
from icegather.transport_proc.turn.lifecycle import Allocations, allocate, side_schedule
from icegather.transport_proc.turn.relay_messages import FIRST_CHANNEL, channel_attributes, peer_attribute

# The server answered, but not in a way that can be trusted: it is there, the next peer is asked.
ANSWERED_CAUSES = frozenset({"answer_unverified", "answer_wrong_transaction"})


class Report(Protocol):
    def __call__(self, check: AuditCheck, outcome: AuditOutcome, subject: str = "", code: int = 0, text: str = "",
                 relay: str = "") -> None: ...


@dataclass(frozen=True)
class Relay:
    """One relayed address of an allocation, and what requests on it go through."""

    ip: str
    session: AllocateSession
    channel: Channel


class TurnAudit:
    """One TURN URL, from a socket already connected to its server."""

    def __init__(self, server: IceServer, channel: Channel, address: Address, schedule: RetransmissionSchedule,
                 report: Report, allocations: Allocations, connect: Callable[[], Awaitable[Channel]],
                 trace: Tracer) -> None:
        self.username = server.username or ""
        self.credential = server.credential or ""
        self.channel = channel
        self.address = address
        self.schedule = schedule
        self.report = report
        self.allocations = allocations
        self.connect = connect  # another socket to the same server, from the same local address
        self.trace = trace  # hears every transaction (the SOFTWARE of every answer)
        self.binds_trusted = True  # False once a ChannelBind answer could not be verified

    async def run(self) -> None:
        anonymous = AllocateSession("", "")
        response, rtt = await transact(self.channel, anonymous.first_request(), self.address, self.schedule,
                                       trace=self.trace)
        if response.message_class == stun.Class.RESPONSE:
            allocated = anonymous.on_response(response, self.address)
            assert isinstance(allocated, Allocated)
            self.allocations.keep(self.channel, anonymous, self.address)
            self.report("allocate_without_credentials", "accepted", allocated.relayed[0][0])
            await self._audit_relays(anonymous, allocated, rtt, ("", ""))
            return
        refusal = failures.error_response(response, self.address)
        self.report("allocate_without_credentials", "refused", "", refusal.code, refusal.text)
        if not self.username or not self.credential:
            return  # no credentials: no allocation to ask for permissions with
        session = AllocateSession(self.username, self.credential)
        try:
            step = session.on_response(response, self.address)  # the 401's REALM and NONCE
            if isinstance(step, SendRequest):
                step = await allocate(self.channel, session, self.address, step.request, self.schedule, self.trace)
            if not isinstance(step, Allocated):
                raise failures.server_error(300, "redirected: audit the ALTERNATE-SERVER on its own")
        except AttemptFailed as failure:
            outcome: AuditOutcome = "failed" if failure.code >= 700 else "refused"
            self.report("allocate", outcome, "", failure.code, failure.text)
            return
        self.allocations.keep(self.channel, session, self.address)
        self.report("allocate", "accepted", step.relayed[0][0])
        await self._audit_relays(session, step, rtt, (self.username, self.credential))

    async def _audit_relays(self, session: AllocateSession, allocated: Allocated, rtt: float,
                            credentials: tuple[str, str]) -> None:
        relays = [Relay(relayed[0], session, self.channel) for relayed in allocated.relayed]
        if not any(is_ipv6(relay.ip) for relay in relays):
            ipv6 = await self._ipv6_relay(credentials, rtt)
            relays += [ipv6] if ipv6 is not None else []
        await self._audit_peers(relays)

    async def _ipv6_relay(self, credentials: tuple[str, str], rtt: float) -> Relay | None:
        """An IPv6 relay asked for alone, as a browser never does: from a socket of its own, on a
        short schedule; how the server took the ask is reported, never an error of the audit."""
        session = AllocateSession(*credentials, family=IPV6_ALONE)
        try:
            channel = await self.connect()
        except AttemptFailed as failure:
            self.report("ipv6_relay", "failed", "", failure.code, failure.text)
            return None
        try:
            step = await allocate(channel, session, self.address, session.first_request(),
                                  side_schedule(self.schedule, rtt), self.trace)
        except AttemptFailed as failure:
            channel.close()
            self.report("ipv6_relay", "failed" if failure.code >= 700 else "refused", "", failure.code, failure.text)
            return None
        if isinstance(step, Redirect):
            channel.close()
            self.report("ipv6_relay", "refused", "", 300, "redirected")
            return None
        self.allocations.keep(channel, session, self.address)
        ipv6 = [relayed[0] for relayed in step.relayed if is_ipv6(relayed[0])]
        self.report("ipv6_relay", "accepted", ipv6[0] if ipv6 else step.relayed[0][0])
        return Relay(ipv6[0], session, channel) if ipv6 else None

    async def _audit_peers(self, relays: list[Relay]) -> None:
        """CreatePermission for each audit peer, and ChannelBind for each one granted; a server
        that stops answering ends the list (every further request would wait out the schedule)."""
        for peer, _ in AUDIT_PEERS:
            relay = next((relay for relay in relays if is_ipv6(relay.ip) == is_ipv6(peer)), relays[0])
            granted = await self._ask("peer_permission", peer, relay, stun.Method.CREATE_PERMISSION,
                                      peer_attribute((peer, 0)))
            if granted and self.binds_trusted:
                attributes = channel_attributes(FIRST_CHANNEL + PEER_INDEX[peer], (peer, peer_port(peer)))
                granted = await self._ask("peer_channel", peer, relay, stun.Method.CHANNEL_BIND, attributes)
            if granted is None:
                return

    async def _ask(self, check: AuditCheck, peer: str, relay: Relay, method: stun.Method,
                   attributes: dict[str, object]) -> bool | None:
        """One signed request about a peer, reported; whether it was granted (None: the server
        stopped answering)."""
        try:
            response, _ = await transact_signed(relay.channel, lambda: relay.session.request(method, dict(attributes)),
                                                relay.session, self.address, self.schedule, self.trace)
        except AttemptFailed as failure:
            self.report(check, "failed", peer, failure.code, failure.text, relay.ip)
            if failure.cause not in ANSWERED_CAUSES:
                return None
            if method == stun.Method.CHANNEL_BIND:
                # node-turn answers ChannelBind without MESSAGE-INTEGRITY: each would wait out
                # the schedule to the same end, so no more are asked.
                self.binds_trusted = False
            return False
        if response.message_class == stun.Class.RESPONSE:
            self.report(check, "accepted", peer, relay=relay.ip)
            return True
        refusal = failures.error_response(response, self.address)
        self.report(check, "refused", peer, refusal.code, refusal.text, relay.ip)
        return False
