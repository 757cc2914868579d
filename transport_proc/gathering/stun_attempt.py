"""The STUN attempt: a Binding request from the host socket, whose answer gives the
server-reflexive candidate; then, with ``nat_behaviour`` and a server that offers an
OTHER-ADDRESS, RFC 5780's tests of the NAT from that socket (``nat_tests``)."""

from __future__ import annotations

import asyncio

from aioice import stun

from icegather.shared import protocol
from icegather.shared.config.gather_options import RetransmissionSchedule
from icegather.shared.net.endpoints import Address
from icegather.shared.structs import NatTestInfo
from icegather.transport_proc.gathering.attempts import Attempt
from icegather.transport_proc.gathering.context import AttemptContext
from icegather.transport_proc.stun import failures, nat_tests
from icegather.transport_proc.stun.binding import binding_request
from icegather.transport_proc.stun.channels import Channel
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.stun.mapped_address import MappedAddressProblem, choose_mapped_address
from icegather.transport_proc.stun.parser import ServerMessage
from icegather.transport_proc.stun.transaction import transact
from icegather.transport_proc.turn.lifecycle import side_schedule


def _mapped_address(response: ServerMessage, server: Address) -> Address | MappedAddressProblem | None:
    """A Binding success's mapped address as a browser takes it (None for an error response)."""
    if response.message_class == stun.Class.ERROR:
        return None
    return choose_mapped_address(
        response.attributes.get("XOR-MAPPED-ADDRESS"), response.attributes.get("MAPPED-ADDRESS"), server
    )


async def bind(context: AttemptContext, attempt: Attempt) -> None:
    """STUN Binding: learn the server-reflexive address of the local socket."""
    attempt.channel = channel = await context.open_channel(attempt)
    response, rtt = await transact(
        channel, binding_request(), attempt.server_address, context.schedule, trace=context.reports.tracer(attempt)
    )
    mapped = _mapped_address(response, attempt.server_address)
    context.reports.answered(attempt, response, rtt, nat_tests.well_formed(mapped))
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
    context.reports.srflx(mapped, channel.local_address, attempt)
    other = nat_tests.usable_other_address(response.attributes.get("OTHER-ADDRESS"), attempt.server_address)
    if context.options.nat_behaviour and other is not None:
        await _test_nat(context, attempt, channel, mapped, other)


async def _test_nat(
    context: AttemptContext, attempt: Attempt, channel: Channel, mapped: Address, other: Address
) -> None:
    """RFC 5780's tests of the NAT from the host socket (``nat_tests``), each one transaction
    on a short schedule, within the attempt and so within the gathering."""
    schedule = side_schedule(context.schedule, attempt.rtt)
    # Both at once: their answers come from addresses the socket has not sent to, whatever
    # the other's, and a NAT that lets neither in costs one schedule, not two.
    filtering = nat_tests.filtering_tests(attempt.server_address, other)
    await asyncio.gather(*(_nat_test(context, attempt, channel, test, schedule) for test in filtering))
    to_other_ip, to_other_ip_and_port = nat_tests.mapping_tests(attempt.server_address, other)
    mapped_there = await _nat_test(context, attempt, channel, to_other_ip, schedule)
    if mapped_there is not None and mapped_there != mapped:
        await _nat_test(context, attempt, channel, to_other_ip_and_port, schedule)


async def _nat_test(
    context: AttemptContext, attempt: Attempt, channel: Channel, test: nat_tests.NatTest,
    schedule: RetransmissionSchedule,
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
    context.reports.send(protocol.NatTest(context.reports.pc_id, NatTestInfo(
        *channel.local_address, attempt.url.url, test.name, *test.destination, source is not None,
        *(source or ("", 0)), *(mapped or ("", 0)), attempt.server_index,
    )))
    return mapped
