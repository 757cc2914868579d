"""``icegather audit`` on the transport side: what each configured server does when asked for
things it should refuse. The transport reports facts (``AuditResultInfo``), one per check; the
main process's audit table says what they mean.

For each TURN URL, over its own transport (UDP, TCP or TLS):

1. an Allocate without credentials: an open relay answers it with a relay;
2. with credentials (or the open relay's allocation), CreatePermission for every peer of
   ``shared.audit_plan.AUDIT_PEERS`` and, for each one granted, ChannelBind. Nothing is ever
   sent to a peer: the addresses only appear inside these requests;
3. the SOFTWARE attribute of the server's first answer.

For ``turns:`` and ``stuns:`` also each TLS version on its own and the certificate
(``tls_probe``); for ``stun:`` URLs, the SOFTWARE attribute. The allocations are released
when the audit closes.
"""

from __future__ import annotations

import asyncio
import logging

from aioice import stun

from icegather.shared import protocol
from icegather.shared.audit_plan import AUDIT_PEERS, PEER_PORT, TLS_VERSIONS
from icegather.shared.endpoints import Address, family_name
from icegather.shared.ice_config import IceServer
from icegather.shared.ice_url import IceUrl
from icegather.shared.structs import AuditResultInfo
from icegather.transport_proc.addresses import gathering_addresses, pair_addresses
from icegather.transport_proc.audit import tls_probe
from icegather.transport_proc.stun import failures
from icegather.transport_proc.stun.channels import Channel, open_channel
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.stun.parser import ServerMessage
from icegather.transport_proc.stun.resolver import resolve
from icegather.transport_proc.stun.transaction import transact, transact_signed
from icegather.transport_proc.turn.allocation import Allocated, AllocateSession, SendRequest
from icegather.transport_proc.turn.lifecycle import Allocations, allocate
from icegather.transport_proc.turn.relay_messages import FIRST_CHANNEL, channel_attributes, peer_attribute

logger = logging.getLogger(__name__)

# A TLS server that does not take a version may say nothing at all: wait the retransmission
# schedule's time for a handshake, but at least 1 s (a handshake takes more than a round trip)
# and at most 5 s.
TLS_WAIT = (1.0, 5.0)


class ServerAudit:
    """One audit of a configuration's servers; ``run`` it, then ``close`` it."""

    def __init__(self, request: protocol.Audit, send: protocol.Send) -> None:
        self.audit_id = request.audit_id
        self.configuration = request.configuration
        self.options = request.options
        self.send = send
        self.schedule = request.options.schedule
        self._channels: list[Channel] = []
        self._allocations = Allocations()
        self._reporting = False

    async def run(self) -> None:
        self._reporting = True
        self.send(protocol.AuditState(self.audit_id, "auditing"))
        local = gathering_addresses(self.options.local_addresses)
        await asyncio.gather(
            *(self._audit_url(url, server, local) for server in self.configuration.ice_servers for url in server.urls)
        )
        self.send(protocol.AuditState(self.audit_id, "complete"))
        self._reporting = False

    def rejected(self, reason: str) -> protocol.AuditRejected:
        return protocol.AuditRejected(self.audit_id, reason)

    def __repr__(self) -> str:
        return f"<ServerAudit audit_id={self.audit_id}>"

    async def close(self) -> None:
        """Stop reporting, release the allocations and close every socket."""
        self._reporting = False
        await self._allocations.release_all()
        for channel in self._channels:
            channel.close()

    def _result(self, url: IceUrl, check: str, outcome: str, subject: str = "", code: int = 0, text: str = "",
                expires: int = 0) -> None:
        if self._reporting:
            info = AuditResultInfo(url.url, check, subject, outcome, code, text, expires)
            self.send(protocol.AuditResult(self.audit_id, info))

    def _failed(self, url: IceUrl, check: str, failure: AttemptFailed, subject: str = "") -> None:
        self._result(url, check, "failed", subject, failure.code, failure.text)

    async def _audit_url(self, url: IceUrl, server: IceServer, local_addresses: tuple[str, ...]) -> None:
        first_check = "allocate_without_credentials" if url.is_turn else "software"
        try:
            server_ips = await resolve(url.host, url.port, self.schedule.give_up_after)
            pairs = pair_addresses(local_addresses, server_ips)
            if not pairs:
                raise failures.no_local_address(family_name(server_ips[0]), url.host)
            channel, local_ip, address = await self._connect(url, pairs)
            self._channels.append(channel)
            if url.uses_tls:
                await self._audit_tls(url, address, local_ip)
            if url.is_turn:
                await self._audit_turn(url, server, channel, address)
            else:
                await self._audit_stun(url, channel, address)
        except AttemptFailed as failure:
            self._failed(url, first_check, failure)
        except Exception as error:  # a bug: this URL's audit fails, and says so; the others go on
            logger.exception("%s: internal error in the audit", url.url)
            self._failed(url, first_check, failures.internal_error(error))

    async def _connect(self, url: IceUrl, pairs: list[tuple[str, str]]) -> tuple[Channel, str, Address]:
        """A socket to the server from the first (local, server) address pair that connects
        (for UDP, the first pair): a host name with an address nothing listens on still gets
        audited at the one that works."""
        failure: AttemptFailed | None = None
        for local_ip, server_ip in pairs:
            address = (server_ip, url.port)
            try:
                return await open_channel(url, local_ip, address, self.schedule, verify_tls=False), local_ip, address
            except AttemptFailed as refused:
                failure = refused
        assert failure is not None  # pairs is never empty here
        raise failure

    async def _audit_stun(self, url: IceUrl, channel: Channel, address: Address) -> None:
        request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        request.add_fingerprint()
        response, _ = await transact(channel, request, address, self.schedule)
        self._software(url, response)

    def _software(self, url: IceUrl, response: ServerMessage) -> None:
        software = response.attributes.get("SOFTWARE")
        if isinstance(software, str) and software:
            self._result(url, "software", "accepted", failures.sanitize_reason(software))
        else:
            self._result(url, "software", "refused")

    async def _audit_turn(self, url: IceUrl, server: IceServer, channel: Channel, address: Address) -> None:
        anonymous = AllocateSession("", "")
        response, _ = await transact(channel, anonymous.first_request(), address, self.schedule)
        self._software(url, response)
        if response.message_class == stun.Class.RESPONSE:
            allocated = anonymous.on_response(response, address)
            assert isinstance(allocated, Allocated)
            self._allocations.keep(channel, anonymous, address)
            self._result(url, "allocate_without_credentials", "accepted", allocated.relayed[0][0])
            await self._audit_peers(url, channel, anonymous, address)
            return
        refusal = failures.error_response(response, address)
        self._result(url, "allocate_without_credentials", "refused", "", refusal.code, refusal.text)
        if not server.username or not server.credential:
            return  # no credentials: no allocation to ask for permissions with
        session = AllocateSession(server.username, server.credential)
        try:
            step = session.on_response(response, address)  # the 401's REALM and NONCE
            if isinstance(step, SendRequest):
                step = await allocate(channel, session, address, step.request, self.schedule)
            if not isinstance(step, Allocated):
                raise failures.server_error(300, "redirected: audit the ALTERNATE-SERVER on its own")
        except AttemptFailed as failure:
            self._result(url, "allocate", "failed" if failure.code >= 700 else "refused", "", failure.code,
                         failure.text)
            return
        self._allocations.keep(channel, session, address)
        self._result(url, "allocate", "accepted", step.relayed[0][0])
        await self._audit_peers(url, channel, session, address)

    async def _audit_peers(self, url: IceUrl, channel: Channel, session: AllocateSession, address: Address) -> None:
        """CreatePermission for each audit peer, and ChannelBind for each one granted; a server that
        stops answering ends the list (every further request would wait out the schedule)."""
        channel_number = FIRST_CHANNEL
        for peer, _ in AUDIT_PEERS:
            granted = await self._ask(url, "peer_permission", peer, channel, session, address,
                                      stun.Method.CREATE_PERMISSION, peer_attribute((peer, 0)))
            if granted is None:
                return
            if granted:
                bound = await self._ask(url, "peer_channel", peer, channel, session, address,
                                        stun.Method.CHANNEL_BIND, channel_attributes(channel_number, (peer, PEER_PORT)))
                channel_number += 1
                if bound is None:
                    return

    async def _ask(self, url: IceUrl, check: str, peer: str, channel: Channel, session: AllocateSession,
                   address: Address, method: stun.Method, attributes: dict[str, object]) -> bool | None:
        """One signed request about a peer, reported; whether it was granted (None: no answer)."""
        try:
            response, _ = await transact_signed(
                channel, lambda: session.request(method, dict(attributes)), session, address, self.schedule
            )
        except AttemptFailed as failure:
            self._failed(url, check, failure, peer)
            return None
        if response.message_class == stun.Class.RESPONSE:
            self._result(url, check, "accepted", peer)
            return True
        refusal = failures.error_response(response, address)
        self._result(url, check, "refused", peer, refusal.code, refusal.text)
        return False

    async def _audit_tls(self, url: IceUrl, address: Address, local_ip: str) -> None:
        wait = min(max(self.schedule.give_up_after, TLS_WAIT[0]), TLS_WAIT[1])
        tried = [
            await tls_probe.accepts_version(address, url.host, version, local_ip, wait) for version in TLS_VERSIONS
        ]
        reached = any(handshake.done for handshake in tried)
        for version, handshake in zip(TLS_VERSIONS, tried, strict=True):
            if handshake.done:
                self._result(url, "tls_version", "accepted", version)
            elif reached or handshake.code < 700:
                # The server speaks TLS: silence to one version is a refusal too.
                self._result(url, "tls_version", "refused", version, 0, handshake.reason)
            else:
                self._result(url, "tls_version", "failed", version, handshake.code, handshake.reason)
        found = await tls_probe.certificate(address, url.host, local_ip, wait)
        if isinstance(found, tls_probe.Handshake):
            self._result(url, "certificate", "failed", "", found.code or 701, found.reason)
        elif found.verification.done:
            self._result(url, "certificate", "accepted", "", expires=found.expires)
        else:
            verification = found.verification
            self._result(url, "certificate", "refused", "", verification.code, verification.reason, found.expires)
