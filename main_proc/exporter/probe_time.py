"""The time a probe has, and a retransmission schedule that fits in it (pure).

The rule: a probe has the module's ``timeout``, or Prometheus's scrape timeout (the
``X-Prometheus-Scrape-Timeout-Seconds`` header) less ``SCRAPE_TIMEOUT_MARGIN``, whichever is
shorter. Its schedule gives up on a silent server by ``GIVE_UP_SHARE`` of that time, so that
the server is named (``silent``, ``udp blocked``) instead of being cut off (``timed out``); the
rest is left for what follows an answer (the relay check) and for the answer itself. A
module's schedule that would give up later is shortened for that probe: the same sends and
final wait with a shorter RTO, or, when even the shortest RTO is too long, fewer sends. A probe
that waited for a free slot fits its schedule to the time it has left.

Under Prometheus's default 10 s: the probe has 9.5 s, and the default schedule (RTO 0.5 s,
5 sends, giving up after 9.5 s) becomes RTO 0.4 s, giving up after 7.6 s.

A module's quality stream (``quality_seconds``) runs after the relay check, and then waits
``QUALITY_DRAIN_SECONDS`` for its last packets. The attempts' streams (one per URL and local
address) run at once, but one attempt's relays stream in turn: with ``ipv6_relay`` (on in the
exporter), a server that gives an IPv4 relay is asked for an IPv6 one after it, and that relay's
stream follows the first (``STREAMS_IN_TURN``, as ``GatherOptions.gathering_deadline`` counts).
The time of the streams in turn is set aside first, and the schedule is fitted to what is left.
A stream is never shortened to fit: its length sets how finely it measures loss (at 50 packets
a second, one packet lost of a 1 s stream is 2 %, over the 1 % that flags a relay), so a
shortened stream would raise alerts that a full one would not. A probe whose time cannot hold
its streams and ``MIN_TIMEOUT`` to reach the relay is refused with the reason (at load for the
module's own timeout, at the scrape for a shorter scrape timeout). Relay to relay, a second
allocation (the far relay) follows the first, with the same schedule: the time the streams
leave is shared by the two, and the streams need ``MIN_TIMEOUT`` for each.
"""

from __future__ import annotations

import math

from icegather.shared.config.gather_limits import QUALITY_DRAIN_SECONDS, RTO_RANGE, STREAMS_IN_TURN
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule

# What the probe leaves Prometheus to receive and store the answer in.
SCRAPE_TIMEOUT_MARGIN = 0.5
MIN_TIMEOUT = 0.5
GIVE_UP_SHARE = 0.8
RTO_STEP = 0.001  # RTOs are whole milliseconds, rounded down so that the schedule fits


class BadScrapeTimeout(ValueError):
    """The scrape timeout header is not a number."""


def probe_time(module_timeout: float, scrape_timeout: str | None) -> float:
    """The module's timeout, or less to answer within Prometheus's scrape timeout."""
    timeout = module_timeout
    if scrape_timeout is not None:
        try:
            scrape = float(scrape_timeout)
        except ValueError:
            raise BadScrapeTimeout("X-Prometheus-Scrape-Timeout-Seconds must be a number") from None
        if scrape == scrape:  # not NaN
            timeout = min(timeout, scrape - SCRAPE_TIMEOUT_MARGIN)
    return max(MIN_TIMEOUT, timeout)


def streams_in_turn(options: GatherOptions) -> int:
    """How many quality streams one attempt runs one after another: with ``ipv6_relay``, the
    IPv4 relay's and then the IPv6 relay's (``STREAMS_IN_TURN``); else one."""
    return STREAMS_IN_TURN if options.ipv6_relay else 1


def stream_seconds(options: GatherOptions) -> float:
    """The time set aside for the quality streams: those of one attempt in turn, each the stream
    and the wait for its last packets (other attempts' run beside them); 0 without one."""
    if not options.quality_seconds:
        return 0.0
    return streams_in_turn(options) * (options.quality_seconds + QUALITY_DRAIN_SECONDS)


def allocations(options: GatherOptions) -> int:
    """How many allocations a relay's probe makes one after another: relay to relay, two."""
    return 2 if options.quality_seconds and options.relay_to_relay else 1


def schedule_seconds(options: GatherOptions, seconds: float) -> float:
    """The time that each allocation's schedule is fitted to, of a probe's ``seconds``."""
    return (seconds - stream_seconds(options)) / allocations(options)


def stream_needs(options: GatherOptions) -> float:
    """The least time a probe with the module's streams needs: the streams in turn, and
    ``MIN_TIMEOUT`` for each allocation before them."""
    return stream_seconds(options) + MIN_TIMEOUT * allocations(options)


def stream_does_not_fit(options: GatherOptions, seconds: float) -> str | None:
    """None when a probe of ``seconds`` holds the streams in turn and ``MIN_TIMEOUT`` to reach
    each relay before them; else the words of what they need."""
    if not options.quality_seconds or seconds >= stream_needs(options):
        return None
    needs, reach = stream_needs(options), "the relay and the far relay" if allocations(options) == 2 else "the relay"
    one = f"{options.quality_seconds:g} s, {QUALITY_DRAIN_SECONDS:g} s for its last packets to come back"
    streams = (f"its quality stream needs {needs:g} s ({one}" if streams_in_turn(options) == 1 else
               f"its quality streams need {needs:g} s (the IPv4 relay's and then the IPv6 relay's, each {one}")
    return f"{streams}, and {needs - stream_seconds(options):g} s to reach {reach} first), more than"


def stream_remedies(options: GatherOptions, more_time: str) -> str:
    """``more_time``, or what the module can change so that its streams fit."""
    if options.ipv6_relay:
        return f"{more_time}, lower quality_seconds or set ipv6_relay: false"
    return f"{more_time} or lower quality_seconds"


def fitted_schedule(schedule: RetransmissionSchedule, seconds: float) -> RetransmissionSchedule:
    """``schedule``, or a shorter one that gives up on a silent server by ``GIVE_UP_SHARE`` of
    ``seconds``."""
    limit = seconds * GIVE_UP_SHARE
    if schedule.give_up_after <= limit:
        return schedule
    for sends in range(schedule.max_sends, 0, -1):
        # The waits in units of the RTO: 1, 2, 4, ... between sends, then the final wait.
        rtos = 2 ** (sends - 1) - 1 + schedule.final_wait
        rto = math.floor(limit / rtos / RTO_STEP + 1e-9) * RTO_STEP  # 7.6 / 19 is 0.39999999999999997
        if rto >= RTO_RANGE[0]:
            return RetransmissionSchedule(round(rto, 3), sends, schedule.final_wait)
    # Unreachable while MIN_TIMEOUT * GIVE_UP_SHARE allows one send and the longest final wait.
    raise ValueError(f"no schedule gives up within {limit:g} s")
