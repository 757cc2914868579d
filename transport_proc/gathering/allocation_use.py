"""What a gathering does with an allocation it got: keeps it (released when the gathering
closes), reports a relay candidate for each relayed address and, as the options ask, checks
that each carries data (``relay_check``), then streams through it (``quality_seconds``) to the
check's peer socket or, relay to relay, to a second allocation of its own."""

from __future__ import annotations

import dataclasses
import time

from icegather.shared import protocol
from icegather.shared.net.endpoints import Address, endpoint
from icegather.shared.structs import RelayQualityInfo
from icegather.transport_proc.gathering import candidates
from icegather.transport_proc.gathering.attempts import Attempt, of_entry
from icegather.transport_proc.gathering.context import AttemptContext
from icegather.transport_proc.gathering.transaction_traces import probe_traces
from icegather.transport_proc.relay.check import PROBES_PER_KIND, RelayChecker, plan_peer
from icegather.transport_proc.relay.far_allocation import allocate_far, far_url
from icegather.transport_proc.relay.probes import CheckedAllocation
from icegather.transport_proc.relay.quality_stats import QualityLog, StreamPath, stream_mechanism
from icegather.transport_proc.relay.quality_stream import QualityStream, report
from icegather.transport_proc.relay.stream_ends import PeerEnd, TurnEnd
from icegather.transport_proc.stun import failures
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.turn.allocation import Allocated, AllocateSession
from icegather.transport_proc.turn.relay_messages import FIRST_CHANNEL

# Relay to relay, the near allocation binds the far relay on a channel apart from the check's.
FAR_CHANNEL_OFFSET = 0x800


async def use_allocation(context: AttemptContext, attempt: Attempt, session: AllocateSession, step: Allocated) -> None:
    """Keep the allocation (released when the gathering closes), report a relay candidate
    for each relayed address, and check each."""
    assert attempt.channel is not None
    attempt.keep_channel = True
    context.allocations.keep(attempt.channel, session, attempt.server_address)
    for relayed in step.relayed:
        info = candidates.relay_candidate(
            relayed, step.mapped, attempt.local_ip, attempt.server_address[0],
            attempt.index, attempt.url.url, attempt.url.relay_protocol,
        )
        context.reports.candidate(of_entry(info, attempt))
    if context.options.relay_check:
        # One at a time, as they share the client's socket, each on a channel of its own.
        for channel_number, relayed in enumerate(step.relayed, FIRST_CHANNEL):
            await _check_relay(context, attempt, session, relayed, step, channel_number)


async def _check_relay(
    context: AttemptContext, attempt: Attempt, session: AllocateSession, relayed: Address, allocated: Allocated,
    channel_number: int,
) -> None:
    """Send data through one relayed address of the new allocation and back
    (``relay_check``), and report what came of it; then, if it carries data, a quality
    stream through it (``quality_seconds``)."""
    assert attempt.channel is not None
    reports, schedule = context.reports, context.schedule
    checked = CheckedAllocation(attempt.channel.local_address, attempt.url.url, relayed)
    mapped_ip = allocated.mapped[0] if allocated.mapped is not None else None
    plan = plan_peer(relayed[0], attempt.local_ip, mapped_ip, attempt.server_address[0], context.local_addresses)
    check = RelayChecker(
        attempt.channel, session, attempt.server_address, checked, plan, schedule, channel_number,
        reports.tracer(attempt),
    )
    try:
        info = await check.run()
        if reports.tracing:
            ended = time.monotonic()
            for probe in probe_traces(check.log, attempt.url.url, checked.local, relayed, ended, reports.started):
                reports.trace(probe, attempt)
        reports.send(protocol.RelayCheck(reports.pc_id, of_entry(info, attempt)))
        mechanism = stream_mechanism(info) if context.options.quality_seconds else None
        if mechanism is not None and check.target is not None:
            near = TurnEnd(attempt.channel, session, attempt.server_address, check.target, mechanism,
                           channel_number, schedule, allocated.lifetime)
            await _quality_stream(context, attempt, near, relayed, check)
    finally:
        check.close()


async def _quality_stream(
    context: AttemptContext, attempt: Attempt, near: TurnEnd, relayed: Address, check: RelayChecker
) -> None:
    """A call-like stream through the relay just checked, to the check's peer socket or,
    relay to relay, to a second allocation; reported after the check."""
    assert attempt.channel is not None and check.peer is not None
    options = context.options
    log = QualityLog(options.quality_rate, options.quality_seconds)
    path = StreamPath(attempt.channel.local_address, attempt.url.url, attempt.server_index, relayed,
                      near.mechanism, attempt.channel.transport_name)
    if options.relay_to_relay:
        info = await _relay_to_relay(context, attempt, near, log, path)
    else:
        info = await QualityStream(log, near, PeerEnd(check.peer, relayed), path).run()
    context.reports.send(protocol.RelayQuality(context.reports.pc_id, info))


async def _relay_to_relay(
    context: AttemptContext, attempt: Attempt, near: TurnEnd, log: QualityLog, path: StreamPath
) -> RelayQualityInfo:
    """The stream to a far allocation of its own (``far_allocation``), kept and released
    with the others; a far allocation, permission or channel that fails is the stream's
    cause."""
    target = far_url(context.configuration, attempt.server_index, attempt.url)
    path = dataclasses.replace(path, far_url=target[2].url, far_server_index=target[0])
    try:
        far = await allocate_far(target, path.relayed, attempt.server_address[0], context.local_addresses,
                                 context.schedule, context.options.verify_tls)
    except AttemptFailed as failure:
        failure.text = f"the far allocation failed: {failure.text}"
        return report(log, path, failure)  # no far relayed address: the stream was never set up
    context.allocations.keep(far.channel, far.session, far.server)
    path = dataclasses.replace(path, far_relayed=far.relayed)
    there = near.toward(far.relayed, near.channel_number + FAR_CHANNEL_OFFSET)
    back = TurnEnd(far.channel, far.session, far.server, path.relayed, near.mechanism, FIRST_CHANNEL,
                   context.schedule, far.lifetime)
    try:
        await there.open_path()
        await back.open_path()
    except AttemptFailed as failure:
        return report(log, path, failure)
    # Only a relay check's worth of packets before client B has received one: the far relayed
    # address is the far server's word until then (``far_allocation``).
    proof = QualityLog(log.rate, PROBES_PER_KIND / log.rate)
    proving = QualityStream(proof, there, back, path)
    if not (await proving.run()).packets_out_received:
        return report(log, path, proving.failure or failures.unreachable(
            "no_response", f"relay to relay: none of the first {proof.packets} packets sent to the far relay "
            f"{endpoint(far.relayed)} reached it, so the stream was not sent",
        ))
    return await QualityStream(log, there, back, path).run()
