"""``icegather audit`` on the transport side: what each configured server does when asked for
things it should refuse. The transport reports facts (``AuditResultInfo``), one per check; the
main process's audit table says what they mean.

Each URL is audited over its own transport (UDP, TCP or TLS): for ``turns:`` and ``stuns:``
each TLS version on its own and the certificate (``tls_probe``); for a TURN URL, what the
server allows with an allocation (``turn_audit``); for a STUN URL, a Binding. Then, once per
URL, the SOFTWARE attribute of the first of its answers that has one: some servers send it in
successes only (node-turn), some never (Pion). The allocations are released when the audit
closes.
"""

from __future__ import annotations

import logging

from icegather.shared import protocol
from icegather.shared.config.ice_config import IceServer
from icegather.shared.config.ice_url import IceUrl
from icegather.shared.net.endpoints import Address, family_name
from icegather.shared.structs import AuditResultInfo
from icegather.shared.vocabulary.audit_plan import TLS_VERSIONS, AuditCheck, AuditOutcome
from icegather.transport_proc.addresses import InterfaceAddresses, pair_addresses
from icegather.transport_proc.audit import tls_probe
from icegather.transport_proc.audit.turn_audit import TurnAudit
from icegather.transport_proc.interfaces.tracker import interface_addresses
from icegather.transport_proc.job import Job
from icegather.transport_proc.stun import failures
from icegather.transport_proc.stun.binding import binding_request
from icegather.transport_proc.stun.channels import Channel, open_channel
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.stun.resolver import resolve
from icegather.transport_proc.stun.transaction import Transacted, transact

logger = logging.getLogger(__name__)

# A TLS server that does not take a version may say nothing at all: wait the retransmission
# schedule's time for a handshake, but at least 1 s (a handshake takes more than a round trip)
# and at most 5 s.
TLS_WAIT = (1.0, 5.0)


class Software:
    """What one URL's server says its software is: the first SOFTWARE of any of its answers."""

    def __init__(self) -> None:
        self.answered = False
        self.text = ""

    def trace(self, transacted: Transacted) -> None:
        if transacted.response is None:
            return
        self.answered = True
        said = transacted.response.attributes.get("SOFTWARE")
        if not self.text and isinstance(said, str):
            self.text = failures.sanitize_reason(said)


class ServerAudit(Job):
    """One audit of a configuration's servers, as an ``audit`` message asked."""

    STARTED = "auditing"
    NAME = "audit"

    def __init__(
        self, request: protocol.Audit, send: protocol.Send, machine_addresses: InterfaceAddresses = interface_addresses
    ) -> None:
        super().__init__(request, send, machine_addresses)
        self.audit_id = request.audit_id
        self._channels: list[Channel] = []

    def _state(self, state: str) -> protocol.AuditState:
        return protocol.AuditState(self.audit_id, state)

    def rejected(self, reason: str) -> protocol.AuditRejected:
        return protocol.AuditRejected(self.audit_id, reason)

    def __repr__(self) -> str:
        return f"<ServerAudit audit_id={self.audit_id}>"

    async def _prepare(self) -> None:
        """Nothing: an audit opens its sockets URL by URL, as it runs them."""

    def _files_needed(self, urls: list[IceUrl], local_addresses: int) -> int:
        # Each URL is audited from one local address: its socket, a second for the IPv6 ask
        # (TURN), and one TLS probe's connection at a time (stuns:, turns:).
        return sum(1 + (1 if url.is_turn else 0) + (1 if url.uses_tls else 0) for url in urls)

    async def close(self) -> None:
        await super().close()
        for channel in self._channels:
            channel.close()

    def _result(self, url: IceUrl, check: str, outcome: str, subject: str = "", code: int = 0, text: str = "",
                expires: int = 0, relay: str = "") -> None:
        if self._reporting:
            info = AuditResultInfo(url.url, check, subject, outcome, code, text, expires, relay)
            self.send(protocol.AuditResult(self.audit_id, info))

    def _failed(self, url: IceUrl, check: str, failure: AttemptFailed, subject: str = "") -> None:
        self._result(url, check, "failed", subject, failure.code, failure.text)

    async def _run_url(self, url: IceUrl, server: IceServer, server_index: int) -> None:
        first_check = "allocate_without_credentials" if url.is_turn else "software"
        software = Software()
        try:
            server_ips = await resolve(url.host, url.port, self.schedule.give_up_after)
            pairs = pair_addresses(self.local_addresses, server_ips)
            if not pairs:
                raise failures.no_local_address(family_name(server_ips[0]), url.host)
            channel, local_ip, address = await self._connect(url, pairs)
            self._channels.append(channel)
            if url.uses_tls:
                await self._audit_tls(url, address, local_ip)
            if url.is_turn:
                await self._audit_turn(url, server, channel, local_ip, address, software)
            else:
                await transact(channel, binding_request(), address, self.schedule, trace=software.trace)
        except AttemptFailed as failure:
            self._failed(url, first_check, failure)
        except Exception as error:  # a bug: this URL's audit fails, and says so; the others go on
            logger.exception("%s: internal error in the audit", url.url)
            self._failed(url, first_check, failures.internal_error(error))
        if software.answered:
            self._result(url, "software", "accepted" if software.text else "refused", software.text)

    async def _audit_turn(self, url: IceUrl, server: IceServer, channel: Channel, local_ip: str, address: Address,
                          software: Software) -> None:
        async def connect() -> Channel:
            another = await open_channel(url, local_ip, address, self.schedule, verify_tls=False)
            self._channels.append(another)
            return another

        def report(check: AuditCheck, outcome: AuditOutcome, subject: str = "", code: int = 0, text: str = "",
                   relay: str = "") -> None:
            self._result(url, check, outcome, subject, code, text, relay=relay)

        turn = TurnAudit(server, channel, address, self.schedule, report, self._allocations, connect, software.trace)
        await turn.run()

    async def _connect(self, url: IceUrl, pairs: tuple[tuple[str, str], ...]) -> tuple[Channel, str, Address]:
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
