"""ICE candidate gathering for one peer connection, with one error per failing server attempt.

This is the transport side of the browser layering: what nICEr and MediaTransportHandler do in
Firefox's socket process. For one configuration it

1. reports the state "gathering";
2. opens one UDP socket per local address: the host candidates;
3. tries every URL of every server at once. A URL's host is looked up once; then each local
   address of the server's address family tries it (STUN: a Binding request from the host
   socket; TURN: an Allocate from a socket of its own, over UDP, TCP or TLS);
4. reports each candidate and each failure the moment its attempt ends, so that a dead server
   never delays what healthy servers give;
5. reports "complete" when every attempt has ended, and nothing after that.

A failure is one ``IceCandidateErrorInfo``: the server's error code and reason phrase, or 701
with a text naming the cause (``failures``). Its address and port are those of the local
socket that tried; a failed name lookup was tried by no socket, so it has ``""`` and ``0``.
Every report names the entry of ``iceServers`` its URL came from (``server_index``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

from aioice import stun

from icegather.shared import protocol
from icegather.shared.config.ice_config import IceServer
from icegather.shared.config.ice_url import IceUrl
from icegather.shared.net.endpoints import Address, endpoint, family_name, is_ipv6
from icegather.shared.structs import (
    CandidateInfo,
    IceCandidateErrorInfo,
    NatTestInfo,
    RelayQualityInfo,
    RetransmissionSchedule,
    ServerAnswerInfo,
    ServerNoteInfo,
)
from icegather.shared.vocabulary.server_notes import ServerNote
from icegather.transport_proc import candidates
from icegather.transport_proc.addresses import InterfaceAddresses, pair_addresses
from icegather.transport_proc.attempts import Attempt, of_entry, redirect_target
from icegather.transport_proc.interfaces.tracker import interface_addresses
from icegather.transport_proc.job import Job
from icegather.transport_proc.relay.check import RelayChecker, plan_peer
from icegather.transport_proc.relay.far_allocation import allocate_far
from icegather.transport_proc.relay.probes import CheckedAllocation
from icegather.transport_proc.relay.quality_stats import QualityLog, StreamPath, stream_mechanism
from icegather.transport_proc.relay.quality_stream import QualityStream, report
from icegather.transport_proc.relay.stream_ends import PeerEnd, TurnEnd
from icegather.transport_proc.stun import failures, nat_tests
from icegather.transport_proc.stun.address_families import IPV6_ALONE
from icegather.transport_proc.stun.channels import Channel, UdpChannel, open_channel
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.stun.mapped_address import MappedAddressProblem, choose_mapped_address
from icegather.transport_proc.stun.parser import ServerMessage
from icegather.transport_proc.stun.resolver import resolve
from icegather.transport_proc.stun.transaction import Tracer, Transacted, transact
from icegather.transport_proc.transaction_traces import connect_trace, probe_traces, trace_info
from icegather.transport_proc.turn.allocation import Allocated, AllocateSession, Redirect
from icegather.transport_proc.turn.lifecycle import allocate, side_schedule
from icegather.transport_proc.turn.relay_messages import FIRST_CHANNEL

logger = logging.getLogger(__name__)

ALLOCATION_MISMATCH = 437
ALLOCATION_MISMATCH_RETRIES = 3  # new local ports to try (RFC 8656 section 7.3)
# Relay to relay, the near allocation binds the far relay on a channel apart from the check's.
FAR_CHANNEL_OFFSET = 0x800


def _mapped_address(response: ServerMessage, server: Address) -> Address | MappedAddressProblem | None:
    """A Binding success's mapped address as a browser takes it (None for an error response)."""
    if response.message_class == stun.Class.ERROR:
        return None
    return choose_mapped_address(
        response.attributes.get("XOR-MAPPED-ADDRESS"), response.attributes.get("MAPPED-ADDRESS"), server
    )


class Gathering(Job):
    """One peer connection's gathering, as a ``gather`` message asked."""

    STARTED = "gathering"

    def __init__(
        self, request: protocol.Gather, send: protocol.Send, machine_addresses: InterfaceAddresses = interface_addresses
    ) -> None:
        super().__init__(request, send, machine_addresses)
        self.pc_id = request.pc_id
        self._host_channels: dict[str, UdpChannel | AttemptFailed] = {}
        self._srflx_seen: set[tuple[str, int, str, int]] = set()
        self._started = time.monotonic()  # the trace's times count from here

    async def run(self) -> None:
        self._started = time.monotonic()
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

    # --- reporting: only while gathering -------------------------------------------------

    def _candidate(self, info: CandidateInfo) -> None:
        if self._reporting:
            self.send(protocol.Candidate(self.pc_id, info))

    def _failure(self, url: IceUrl, server_index: int, failure: AttemptFailed, attempt: Attempt | None) -> None:
        """A failure of the URL: of one attempt, or (``attempt`` None) before any began."""
        address, port = failure.local_address or (attempt and attempt.local_address) or ("", 0)
        logger.info("%s failed from %s: %d %s", url.url, address or "-", failure.code, failure.text)
        if self._reporting:
            self.send(protocol.CandidateError(self.pc_id,
                IceCandidateErrorInfo(
                    address=address, port=port, url=url.url, error_code=failure.code,
                    error_text=failure.text, cause=failure.cause, server_index=server_index,
                    server_address=attempt.server_address[0] if attempt is not None else "",
                )
            ))

    def _tracer(self, attempt: Attempt) -> Tracer | None:
        """What reports the attempt's transactions, with ``trace`` on."""
        if not self.options.trace:
            return None

        def trace(done: Transacted) -> None:
            if self._reporting and attempt.channel is not None:
                url, local, server = attempt.url.url, attempt.channel.local_address, attempt.server_address
                info = trace_info(done, url, local, server, self._started)
                self.send(protocol.TransactionTrace(self.pc_id, of_entry(info, attempt)))

        return trace

    def _answered(self, attempt: Attempt, response: ServerMessage, rtt: float, mapped: Address | None = None) -> None:
        """A response of an attempt. The first says the server is reachable from this socket;
        the first SOFTWARE names what runs there (some servers send it only in successes).
        ``mapped``: a Binding success's mapped address, reported with its OTHER-ADDRESS."""
        if attempt.channel is None:
            return
        software = response.attributes.get("SOFTWARE")
        if isinstance(software, str) and software and not attempt.software_noted:
            attempt.software_noted = True
            self._note(attempt, "software", failures.sanitize_reason(software))
        if attempt.answered:
            return
        attempt.answered, attempt.rtt = True, rtt
        address, port = attempt.channel.local_address
        if self._reporting:
            other = nat_tests.well_formed(response.attributes.get("OTHER-ADDRESS")) if mapped else None
            self.send(protocol.ServerAnswer(self.pc_id, ServerAnswerInfo(
                address, port, attempt.url.url, round(rtt * 1000, 3), attempt.server_address[0], attempt.server_index,
                attempt.server_address[1], *(mapped or ("", 0)), *(other or ("", 0)),
            )))

    def _note(self, attempt: Attempt, note: ServerNote, detail: str) -> None:
        if self._reporting and attempt.channel is not None:
            address, port = attempt.channel.local_address
            info = ServerNoteInfo(address, port, attempt.url.url, note, detail, attempt.server_index)
            self.send(protocol.ServerNote(self.pc_id, info))

    # --- host candidates ----------------------------------------------------------------

    async def _prepare(self) -> None:
        await super()._prepare()
        await self._open_host_sockets()

    async def _open_host_sockets(self) -> None:
        # One after another: opening a socket waits for no peer, and a task per address would
        # cost more than the opening (a quarter of it, with the default two addresses).
        for local_ip in self.local_addresses:
            try:
                self._host_channels[local_ip] = await UdpChannel.open(local_ip)
            except AttemptFailed as failure:
                logger.warning("no host socket on %s: %s", local_ip, failure.text)
                self._host_channels[local_ip] = failure
        if self.configuration.ice_transport_policy == "relay":
            return
        for index, channel in enumerate(self._host_channels.values()):
            if isinstance(channel, UdpChannel):
                self._candidate(candidates.host_candidate(channel.local_address, index))

    # --- one URL, from every local address of its family ----------------------------------

    def _runs(self, url: IceUrl) -> bool:
        return url.is_turn or self.configuration.ice_transport_policy != "relay"

    async def _run_url(self, url: IceUrl, server: IceServer, server_index: int) -> None:
        try:
            server_ips = await resolve(url.host, url.port, self.schedule.give_up_after)
        except AttemptFailed as failure:
            self._failure(url, server_index, failure, None)
            return
        except Exception as error:  # a bug: this URL fails, and says so; the others go on
            logger.exception("%s: internal error while resolving %s", url.url, url.host)
            self._failure(url, server_index, failures.internal_error(error), None)
            return
        pairs = pair_addresses(self.local_addresses, server_ips)
        if not pairs:
            self._failure(url, server_index, failures.no_local_address(family_name(server_ips[0]), url.host), None)
            return
        attempts = [
            self._attempt(Attempt(url, server, server_index, local_ip, self.local_addresses.index(local_ip),
                                  (server_ip, url.port)))
            for local_ip, server_ip in pairs
        ]
        if len(attempts) == 1:
            await attempts[0]  # the usual case: one local address of the server's family, no task needed
        else:
            await asyncio.gather(*attempts)

    async def _attempt(self, attempt: Attempt) -> None:
        url = attempt.url
        try:
            if url.is_turn:
                await self._allocate(attempt)
            else:
                await self._bind(attempt)
        except AttemptFailed as failure:
            self._failure(url, attempt.server_index, failure, attempt)
        except Exception as error:  # a bug: this URL fails, and says so; the others go on
            logger.exception("%s from %s: internal error", url.url, attempt.local_ip)
            self._failure(url, attempt.server_index, failures.internal_error(error), attempt)
        finally:
            if attempt.channel is not None and not attempt.keep_channel:
                attempt.channel.close()

    async def _open_channel(self, attempt: Attempt) -> Channel:
        """A socket to the server: the host socket for STUN over UDP, a new one otherwise."""
        url = attempt.url
        if not url.is_turn and url.transport == "udp":
            host = self._host_channels[attempt.local_ip]
            if isinstance(host, AttemptFailed):
                raise host
            attempt.keep_channel = True  # It is the host candidate's socket.
            return host
        tried_at = time.monotonic()
        try:
            return await open_channel(
                url, attempt.local_ip, attempt.server_address, self.schedule, self.options.verify_tls
            )
        except AttemptFailed as failure:
            if self.options.trace and self._reporting and failure.local_address is not None:
                ended = time.monotonic()
                info = connect_trace(url.url, failure, attempt.server_address, tried_at, ended, self._started)
                self.send(protocol.TransactionTrace(self.pc_id, of_entry(info, attempt)))
            raise

    async def _bind(self, attempt: Attempt) -> None:
        """STUN Binding: learn the server-reflexive address of the local socket."""
        attempt.channel = channel = await self._open_channel(attempt)
        request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        request.add_fingerprint()
        response, rtt = await transact(
            channel, request, attempt.server_address, self.schedule, trace=self._tracer(attempt)
        )
        mapped = _mapped_address(response, attempt.server_address)
        self._answered(attempt, response, rtt, nat_tests.well_formed(mapped))
        if response.message_class == stun.Class.ERROR:
            raise failures.error_response(response, attempt.server_address)
        if mapped is None:
            raise failures.malformed_response(attempt.server_address, "Binding success without a mapped address")
        if isinstance(mapped, MappedAddressProblem):
            raise failures.mapped_address_mismatch(attempt.server_address, mapped.text)
        if channel.reliable:
            # stuns: (RFC 7064) maps the TLS connection, which closes right after; it says
            # nothing about a UDP socket, so the answer is reported and no candidate made.
            return
        self._add_srflx(mapped, channel.local_address, attempt)
        other = nat_tests.usable_other_address(response.attributes.get("OTHER-ADDRESS"), attempt.server_address)
        if self.options.nat_behaviour and other is not None:
            await self._test_nat(attempt, channel, mapped, other)

    async def _test_nat(self, attempt: Attempt, channel: Channel, mapped: Address, other: Address) -> None:
        """RFC 5780's tests of the NAT from the host socket (``nat_tests``), each one transaction
        on a short schedule, within the attempt and so within the gathering."""
        schedule = side_schedule(self.schedule, attempt.rtt)
        # Both at once: their answers come from addresses the socket has not sent to, whatever
        # the other's, and a NAT that lets neither in costs one schedule, not two.
        filtering = nat_tests.filtering_tests(attempt.server_address, other)
        await asyncio.gather(*(self._nat_test(attempt, channel, test, schedule) for test in filtering))
        to_other_ip, to_other_ip_and_port = nat_tests.mapping_tests(attempt.server_address, other)
        mapped_there = await self._nat_test(attempt, channel, to_other_ip, schedule)
        if mapped_there is not None and mapped_there != mapped:
            await self._nat_test(attempt, channel, to_other_ip_and_port, schedule)

    async def _nat_test(
        self, attempt: Attempt, channel: Channel, test: nat_tests.NatTest, schedule: RetransmissionSchedule
    ) -> Address | None:
        """Run and report one test; the mapped address in its answer."""
        source: Address | None = None
        mapped: Address | None = None
        try:
            response, _ = await transact(
                channel, nat_tests.request(test), test.destination, schedule, answer_from=(test.answer_from,)
            )
            source, mapped = response.source, nat_tests.well_formed(_mapped_address(response, test.destination))
        except AttemptFailed:
            pass  # silence or an ICMP error: reported as unanswered
        if self._reporting:
            self.send(protocol.NatTest(self.pc_id, NatTestInfo(
                *channel.local_address, attempt.url.url, test.name, *test.destination, source is not None,
                *(source or ("", 0)), *(mapped or ("", 0)), attempt.server_index,
            )))
        return mapped

    def _add_srflx(self, mapped: Address, base: Address, attempt: Attempt) -> None:
        # RFC 8445 section 5.1.3: a server-reflexive candidate equal to its base, or to one
        # already found from the same base, is redundant and not surfaced.
        key = (mapped[0], mapped[1], base[0], base[1])
        if tuple(mapped) == tuple(base) or key in self._srflx_seen:
            return
        self._srflx_seen.add(key)
        info = candidates.srflx_candidate(mapped, base, attempt.server_address[0], attempt.index, attempt.url.url)
        self._candidate(of_entry(info, attempt))

    async def _allocate(self, attempt: Attempt) -> None:
        """TURN Allocate; on success the relay candidate is reported and the allocation kept.

        A 437 Allocation Mismatch means the server still holds an allocation for our 5-tuple
        (a port reused soon after another allocation on it): RFC 8656 section 7.3 asks for a
        new local port, up to three of them, before giving up."""
        for retry in range(ALLOCATION_MISMATCH_RETRIES + 1):
            try:
                await self._allocate_from_one_socket(attempt)
                return
            except AttemptFailed as failure:
                if failure.code != ALLOCATION_MISMATCH or retry == ALLOCATION_MISMATCH_RETRIES:
                    raise
                logger.info("%s: 437 Allocation Mismatch, retrying from a new port", attempt.url.url)
                if attempt.channel is not None:
                    attempt.channel.close()
                    attempt.channel = None

    async def _allocate_from_one_socket(self, attempt: Attempt) -> None:
        username, credential = attempt.server.username, attempt.server.credential
        assert username is not None and credential is not None  # validated with the configuration
        session = AllocateSession(username, credential)
        attempt.channel = await self._open_channel(attempt)
        trace = self._tracer(attempt)
        while True:
            step = await allocate(
                attempt.channel, session, attempt.server_address, session.first_request(), self.schedule, trace,
                answered=lambda response, rtt: self._answered(attempt, response, rtt),
            )
            if not isinstance(step, Redirect):
                break
            attempt.server_address = redirect_target(step, attempt, self.options.follow_redirects)
            if attempt.channel.reliable:
                attempt.channel.close()
                attempt.channel = None
                attempt.channel = await self._open_channel(attempt)
        await self._use_allocation(attempt, session, step)
        if self.options.ipv6_relay and not any(is_ipv6(relayed[0]) for relayed in step.relayed):
            await self._ask_ipv6_relay(attempt)

    async def _use_allocation(self, attempt: Attempt, session: AllocateSession, step: Allocated) -> None:
        """Keep the allocation (released when the gathering closes), report a relay candidate
        for each relayed address, and check each."""
        assert attempt.channel is not None
        attempt.keep_channel = True
        self._allocations.keep(attempt.channel, session, attempt.server_address)
        for relayed in step.relayed:
            info = candidates.relay_candidate(
                relayed, step.mapped, attempt.local_ip, attempt.server_address[0],
                attempt.index, attempt.url.url, attempt.url.relay_protocol,
            )
            self._candidate(of_entry(info, attempt))
        if self.options.relay_check:
            # One at a time, as they share the client's socket, each on a channel of its own.
            for channel_number, relayed in enumerate(step.relayed, FIRST_CHANNEL):
                await self._check_relay(attempt, session, relayed, step, channel_number)

    async def _ask_ipv6_relay(self, first: Attempt) -> None:
        """Beyond a browser: ask the server that gave an IPv4 relay for an IPv6 one too, from a
        socket of its own and on a short schedule, so that a server that mishandles the ask
        costs nothing of the browser's result. How it took the ask is a note, never an error."""
        attempt = Attempt(first.url, first.server, first.server_index, first.local_ip, first.index,
                          first.server_address)
        assert first.server.username is not None and first.server.credential is not None
        session = AllocateSession(first.server.username, first.server.credential, family=IPV6_ALONE)
        try:
            attempt.channel = await self._open_channel(attempt)
            step = await allocate(
                attempt.channel, session, attempt.server_address, session.first_request(),
                side_schedule(self.schedule, first.rtt), self._tracer(attempt),
            )
            if isinstance(step, Redirect):
                self._note(attempt, "ipv6_relay_refused", f"300 redirected to {endpoint(step.alternate)}")
                return
            ipv6 = tuple(relayed for relayed in step.relayed if is_ipv6(relayed[0]))
            if ipv6:
                self._note(attempt, "ipv6_relay", endpoint(ipv6[0]))
                await self._use_allocation(attempt, session, dataclasses.replace(step, relayed=ipv6))
            else:
                attempt.keep_channel = True  # an allocation all the same: released with the others
                self._allocations.keep(attempt.channel, session, attempt.server_address)
                self._note(attempt, "ipv6_relay_ignored", endpoint(step.relayed[0]))
        except AttemptFailed as failure:
            note: ServerNote = "ipv6_relay_refused" if failure.code < 700 else "ipv6_relay_unanswered"
            self._note(attempt, note, f"{failure.code} {failure.text}")
        finally:
            if attempt.channel is not None and not attempt.keep_channel:
                attempt.channel.close()

    async def _check_relay(
        self, attempt: Attempt, session: AllocateSession, relayed: Address, allocated: Allocated,
        channel_number: int,
    ) -> None:
        """Send data through one relayed address of the new allocation and back
        (``relay_check``), and report what came of it; then, if it carries data, a quality
        stream through it (``quality_seconds``)."""
        assert attempt.channel is not None
        checked = CheckedAllocation(attempt.channel.local_address, attempt.url.url, relayed)
        mapped_ip = allocated.mapped[0] if allocated.mapped is not None else None
        plan = plan_peer(relayed[0], attempt.local_ip, mapped_ip, attempt.server_address[0], self.local_addresses)
        check = RelayChecker(
            attempt.channel, session, attempt.server_address, checked, plan, self.schedule, channel_number,
            self._tracer(attempt),
        )
        try:
            info = await check.run()
            if self.options.trace and self._reporting:
                ended = time.monotonic()
                for probe in probe_traces(check.log, attempt.url.url, checked.local, relayed, ended, self._started):
                    self.send(protocol.TransactionTrace(self.pc_id, of_entry(probe, attempt)))
            if self._reporting:
                self.send(protocol.RelayCheck(self.pc_id, of_entry(info, attempt)))
            mechanism = stream_mechanism(info) if self.options.quality_seconds else None
            if mechanism is not None and check.target is not None:
                near = TurnEnd(attempt.channel, session, attempt.server_address, check.target, mechanism,
                               channel_number, self.schedule, allocated.lifetime)
                await self._quality_stream(attempt, near, relayed, check)
        finally:
            check.close()

    async def _quality_stream(self, attempt: Attempt, near: TurnEnd, relayed: Address, check: RelayChecker) -> None:
        """A call-like stream through the relay just checked, to the check's peer socket or,
        relay to relay, to a second allocation; reported after the check."""
        assert attempt.channel is not None and check.peer is not None
        log = QualityLog(self.options.quality_rate, self.options.quality_seconds)
        path = StreamPath(attempt.channel.local_address, attempt.url.url, attempt.server_index, relayed,
                          near.mechanism, attempt.channel.transport_name)
        if self.options.relay_to_relay:
            info = await self._relay_to_relay(attempt, near, log, path)
        else:
            info = await QualityStream(log, near, PeerEnd(check.peer, relayed), path).run()
        if self._reporting:
            self.send(protocol.RelayQuality(self.pc_id, info))

    async def _relay_to_relay(
        self, attempt: Attempt, near: TurnEnd, log: QualityLog, path: StreamPath
    ) -> RelayQualityInfo:
        """The stream to a far allocation of its own (``far_allocation``), kept and released
        with the others; a far allocation, permission or channel that fails is the stream's
        cause."""
        try:
            far = await allocate_far(self.configuration, attempt.server_index, attempt.url, path.relayed,
                                     self.local_addresses, self.schedule, self.options.verify_tls)
        except AttemptFailed as failure:
            failure.text = f"the far allocation failed: {failure.text}"
            return report(log, path, failure)
        self._allocations.keep(far.channel, far.session, far.server)
        path = dataclasses.replace(path, far_url=far.url.url, far_server_index=far.server_index,
                                   far_relayed=far.relayed)
        there = near.toward(far.relayed, near.channel_number + FAR_CHANNEL_OFFSET)
        back = TurnEnd(far.channel, far.session, far.server, path.relayed, near.mechanism, FIRST_CHANNEL,
                       self.schedule, far.lifetime)
        try:
            await there.open_path()
            await back.open_path()
        except AttemptFailed as failure:
            return report(log, path, failure)
        return await QualityStream(log, there, back, path).run()
