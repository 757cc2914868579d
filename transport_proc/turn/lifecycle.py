"""An allocation's life, the same for a gathering and an audit: the Allocate exchange up to an
allocation or a redirect, the allocations a job holds, and their release when it closes."""

from __future__ import annotations

from collections.abc import Callable

from aioice import stun

from icegather.shared.config.gather_options import RetransmissionSchedule
from icegather.shared.net.endpoints import Address
from icegather.transport_proc.concurrently import all_at_once
from icegather.transport_proc.stun.channels import Channel
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.stun.parser import ServerMessage
from icegather.transport_proc.stun.transaction import Tracer, transact, transact_signed
from icegather.transport_proc.turn.allocation import Allocated, AllocateSession, Redirect, SendRequest

# Releasing an allocation is a courtesy to the server (it expires anyway): try briefly.
RELEASE_SCHEDULE = RetransmissionSchedule(initial_rto=0.1, max_sends=2, final_wait=2)


def side_schedule(schedule: RetransmissionSchedule, rtt: float) -> RetransmissionSchedule:
    """The schedule of a request beside the browser's, to a server that answered the browser's
    in ``rtt`` seconds: short, since silence much longer than that is the server's choice."""
    return RetransmissionSchedule(initial_rto=min(schedule.initial_rto, max(0.05, 4 * rtt)), max_sends=3, final_wait=4)


async def allocate(
    channel: Channel,
    session: AllocateSession,
    server: Address,
    request: stun.Message,
    schedule: RetransmissionSchedule,
    trace: Tracer | None = None,
    answered: Callable[[ServerMessage, float], None] = lambda response, rtt: None,
) -> Allocated | Redirect:
    """Send ``request`` and what each answer asks for next (the 401's signed retry, a retry
    with a fresh nonce), until the server allocates or redirects; ``answered`` hears each
    response and its round-trip time. Raises ``AttemptFailed`` for an error response or no
    usable answer."""
    while True:
        response, rtt = await transact(channel, request, server, schedule, accept=session.accepts, trace=trace)
        answered(response, rtt)
        step = session.on_response(response, server)
        if not isinstance(step, SendRequest):
            return step
        request = step.request


async def release(channel: Channel, session: AllocateSession, server: Address) -> None:
    """Release an allocation (a Refresh with LIFETIME 0, RFC 8656 section 7.3), then close its
    socket."""
    try:
        await transact_signed(channel, session.refresh_to_zero, session, server, RELEASE_SCHEDULE)
    except AttemptFailed:
        pass  # The server frees it when its lifetime ends.
    finally:
        channel.close()


class Allocations:
    """The allocations one job holds, each on its own client socket."""

    def __init__(self) -> None:
        self._held: list[tuple[Channel, AllocateSession, Address]] = []

    def keep(self, channel: Channel, session: AllocateSession, server: Address) -> None:
        self._held.append((channel, session, server))

    async def release_all(self) -> None:
        held, self._held = self._held, []
        await all_at_once([release(*allocation) for allocation in held])
