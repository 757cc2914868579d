"""The TURN attempt: an Allocate from a socket of its own (over UDP, TCP or TLS), following
redirects and taking new local ports after 437 Allocation Mismatch; then, beyond a browser and
with ``ipv6_relay``, the ask for an IPv6 relay too."""

from __future__ import annotations

import dataclasses
import logging

from icegather.shared.net.endpoints import endpoint, is_ipv6
from icegather.shared.vocabulary.server_notes import ServerNote
from icegather.transport_proc.gathering.allocation_use import use_allocation
from icegather.transport_proc.gathering.attempts import Attempt, redirect_target
from icegather.transport_proc.gathering.context import AttemptContext
from icegather.transport_proc.stun.address_families import IPV6_ALONE
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.turn.allocation import AllocateSession, Redirect
from icegather.transport_proc.turn.lifecycle import allocate, side_schedule

logger = logging.getLogger(__name__)

ALLOCATION_MISMATCH = 437
ALLOCATION_MISMATCH_RETRIES = 3  # new local ports to try (RFC 8656 section 7.3)


async def allocate_relay(context: AttemptContext, attempt: Attempt) -> None:
    """TURN Allocate; on success the relay candidate is reported and the allocation kept.

    A 437 Allocation Mismatch means the server still holds an allocation for our 5-tuple
    (a port reused soon after another allocation on it): RFC 8656 section 7.3 asks for a
    new local port, up to three of them, before giving up."""
    for retry in range(ALLOCATION_MISMATCH_RETRIES + 1):
        try:
            await _allocate_from_one_socket(context, attempt)
            return
        except AttemptFailed as failure:
            if failure.code != ALLOCATION_MISMATCH or retry == ALLOCATION_MISMATCH_RETRIES:
                raise
            logger.info("%s: 437 Allocation Mismatch, retrying from a new port", attempt.url.url)
            if attempt.channel is not None:
                attempt.channel.close()
                attempt.channel = None


async def _allocate_from_one_socket(context: AttemptContext, attempt: Attempt) -> None:
    username, credential = attempt.server.username, attempt.server.credential
    assert username is not None and credential is not None  # validated with the configuration
    session = AllocateSession(username, credential)
    attempt.channel = await context.open_channel(attempt)
    trace = context.reports.tracer(attempt)
    while True:
        step = await allocate(
            attempt.channel, session, attempt.server_address, session.first_request(), context.schedule, trace,
            answered=lambda response, rtt: context.reports.answered(attempt, response, rtt),
        )
        if not isinstance(step, Redirect):
            break
        attempt.server_address = redirect_target(step, attempt, context.options.follow_redirects)
        if attempt.channel.reliable:
            attempt.channel.close()
            attempt.channel = None
            attempt.channel = await context.open_channel(attempt)
    await use_allocation(context, attempt, session, step)
    if context.options.ipv6_relay and not any(is_ipv6(relayed[0]) for relayed in step.relayed):
        await _ask_ipv6_relay(context, attempt)


async def _ask_ipv6_relay(context: AttemptContext, first: Attempt) -> None:
    """Beyond a browser: ask the server that gave an IPv4 relay for an IPv6 one too, from a
    socket of its own and on a short schedule, so that a server that mishandles the ask
    costs nothing of the browser's result. How it took the ask is a note, never an error."""
    attempt = Attempt(first.url, first.server, first.server_index, first.local_ip, first.index,
                      first.server_address)
    assert first.server.username is not None and first.server.credential is not None
    session = AllocateSession(first.server.username, first.server.credential, family=IPV6_ALONE)
    reports = context.reports
    try:
        attempt.channel = await context.open_channel(attempt)
        step = await allocate(
            attempt.channel, session, attempt.server_address, session.first_request(),
            side_schedule(context.schedule, first.rtt), reports.tracer(attempt),
        )
        if isinstance(step, Redirect):
            reports.note(attempt, "ipv6_relay_refused", f"300 redirected to {endpoint(step.alternate)}")
            return
        ipv6 = tuple(relayed for relayed in step.relayed if is_ipv6(relayed[0]))
        if ipv6:
            reports.note(attempt, "ipv6_relay", endpoint(ipv6[0]))
            await use_allocation(context, attempt, session, dataclasses.replace(step, relayed=ipv6))
        else:
            attempt.keep_channel = True  # an allocation all the same: released with the others
            context.allocations.keep(attempt.channel, session, attempt.server_address)
            reports.note(attempt, "ipv6_relay_ignored", endpoint(step.relayed[0]))
    except AttemptFailed as failure:
        note: ServerNote = "ipv6_relay_refused" if failure.code < 700 else "ipv6_relay_unanswered"
        reports.note(attempt, note, f"{failure.code} {failure.text}")
    finally:
        if attempt.channel is not None and not attempt.keep_channel:
            attempt.channel.close()
