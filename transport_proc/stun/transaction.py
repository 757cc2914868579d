"""One STUN transaction: send a request, retransmit on schedule, return the response.

aioice's ``Transaction`` has a fixed 0.5 s RTO and no notion of ICMP errors; ours takes the
schedule from the configuration and ends early when the channel says the server is
unreachable. The STUN message code itself is aioice's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from aioice import stun

from icegather.shared.config.gather_options import RetransmissionSchedule
from icegather.shared.net.endpoints import Address
from icegather.transport_proc.stun import failures
from icegather.transport_proc.stun.channels import Channel, Waiter
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.stun.parser import ServerMessage


@dataclass(frozen=True)
class Transacted:
    """How one transaction went, for a tracer: its request, when each send went out and when
    it ended (``time.monotonic()``), and the response or the failure."""

    request: stun.Message
    sends: tuple[float, ...]
    ended: float
    response: ServerMessage | None
    failure: AttemptFailed | None
    rtt: float | None


Tracer = Callable[[Transacted], None]


@dataclass
class Discarded:
    """Answers a transaction had to discard (RFC 8489 sections 6.3 and 9.2.5): they say the
    server is there, so a transaction that gets nothing else did not meet silence."""

    unverified: int = 0  # its own ID, but not trusted (MESSAGE-INTEGRITY missing or wrong)
    other_transaction: int = 0  # from its server, with an ID no transaction waits for

    def failure(self, server: Address, sends: int, seconds: float, transport: str) -> AttemptFailed:
        if self.unverified:
            return failures.answer_unverified(server, self.unverified)
        if self.other_transaction:
            return failures.answer_wrong_transaction(server, self.other_transaction)
        return failures.no_response(server, sends, seconds, transport)


async def transact(
    channel: Channel,
    request: stun.Message,
    server: Address,
    schedule: RetransmissionSchedule,
    accept: Callable[[ServerMessage], bool] = lambda response: True,
    trace: Tracer | None = None,
    answer_from: tuple[Address, ...] = (),
) -> tuple[ServerMessage, float]:
    """Run one transaction; return the response and the round-trip time in seconds.

    ``accept`` lets the caller ignore responses it must not trust (for example a success
    response whose MESSAGE-INTEGRITY does not verify); retransmissions then continue as if
    nothing had arrived. Raises ``AttemptFailed`` (701) when no usable response comes.
    ``trace`` hears how it went, however it ended (unless it was cancelled). ``answer_from``: other
    addresses than ``server`` the response may come from (the response's ``source`` says which).
    """
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[ServerMessage] = loop.create_future()
    discarded = Discarded()

    def on_message(response: ServerMessage) -> None:
        if outcome.done():
            return
        if accept(response):
            outcome.set_result(response)
        else:
            discarded.unverified += 1

    def on_stray() -> None:
        discarded.other_transaction += 1

    def on_failure(failure: AttemptFailed) -> None:
        if not outcome.done():
            outcome.set_exception(failure)

    data = bytes(request)
    waits = (schedule.give_up_after,) if channel.reliable else schedule.waits
    sends: list[float] = []
    # Each send is due at its time on the schedule, counted from the first send, not from the
    # previous wake-up: a loop that is late once must not push every later send back. A timer
    # makes the next send (or gives up); the coroutine only waits for the outcome.
    due = loop.time()
    timer: asyncio.TimerHandle | None = None

    def send(attempt: int, again: Callable[..., None]) -> None:
        # ``again`` is this function, passed along rather than named inside: a closure that
        # names itself is a reference cycle, garbage for the cyclic collector at every request.
        nonlocal due, timer
        if outcome.done():
            # Answered (or failed) in this turn of the loop, before the coroutine woke up to
            # cancel this timer: under load the answer is read in the same turn the next send
            # falls due, and resending then doubles the work of a busy transport.
            return
        if attempt == len(waits):
            on_failure(discarded.failure(server, len(waits), schedule.give_up_after, channel.transport_name))
            return
        sends.append(time.monotonic())
        channel.send(data, server)
        due += waits[attempt]
        timer = loop.call_at(due, again, attempt + 1, again)

    channel.register(request.transaction_id, Waiter(server, on_message, on_failure, on_stray, answer_from))
    try:
        send(0, send)
        response = await outcome  # raises the channel's failure (ICMP, connection lost) or no_response
        # The RTT of the send that was answered (RFC 8489 section 6.2.1 Karn's rule would drop
        # it; for a report, the latest send is the best estimate).
        rtt = time.monotonic() - sends[-1]
        if trace is not None:
            trace(Transacted(request, tuple(sends), time.monotonic(), response, None, rtt))
        return response, rtt
    except AttemptFailed as failure:
        if trace is not None:
            trace(Transacted(request, tuple(sends), time.monotonic(), None, failure, None))
        raise
    finally:
        if timer is not None:
            timer.cancel()  # which also lets go of its callback
        channel.unregister(request.transaction_id)
        if outcome.done() and not outcome.cancelled():
            # When we are cancelled just as a failure arrives, nobody reads it: say it was seen.
            outcome.exception()


class SignedSession(Protocol):
    """What ``transact_signed`` needs of a TURN session (``AllocateSession``)."""

    def accepts(self, response: ServerMessage) -> bool: ...

    def took_new_nonce(self, response: ServerMessage) -> bool: ...


async def transact_signed(
    channel: Channel,
    build: Callable[[], stun.Message],
    session: SignedSession,
    server: Address,
    schedule: RetransmissionSchedule,
    trace: Tracer | None = None,
) -> tuple[ServerMessage, float]:
    """A request on a TURN allocation: built by ``build`` (signed with the session's nonce) and
    built and sent again while the server answers 438 Stale Nonce with a new one."""
    while True:
        response, rtt = await transact(channel, build(), server, schedule, accept=session.accepts, trace=trace)
        if not session.took_new_nonce(response):
            return response, rtt
