"""How the transport gathers, beyond the W3C configuration: the retransmission schedule and the
gathering options. The main process makes them (the API, the command line, the exporter) and
the transport runs them; each is validated where it is made, against the limits in
``gather_limits``, and the protocol's schema checks them again on the wire
(``shared.protocol.schemas``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from icegather.shared.config.gather_limits import (
    DEFAULT_FINAL_WAIT,
    DEFAULT_INITIAL_RTO,
    DEFAULT_MAX_SENDS,
    FINAL_WAIT_RANGE,
    GATHERING_DEADLINE_MARGIN,
    GATHERING_DEADLINE_SCHEDULES,
    MAX_GIVE_UP_AFTER,
    MAX_LOCAL_ADDRESSES,
    MAX_QUALITY_SECONDS,
    MAX_SENDS_RANGE,
    MAX_STREAM_PACKETS,
    QUALITY_DEFAULT_RATE,
    QUALITY_DRAIN_SECONDS,
    QUALITY_RATE_RANGE,
    RTO_RANGE,
    STREAMS_IN_TURN,
)
from icegather.shared.net.endpoints import parse_ip


@dataclass(frozen=True)
class RetransmissionSchedule:
    """When STUN requests are sent and when a silent server is given up (RFC 8489 section 6.2.1).

    Requests go out at 0, RTO, 3*RTO, 7*RTO, ... (the wait doubles each time) until
    ``max_sends`` (Rc) requests are out; after the last one the client waits ``final_wait``
    (Rm) times the initial RTO. RFC 8489's Rc=7, Rm=16 takes 39.5 s, which is what Chromium
    waits. The default here, 5 sends and a final wait of 4 RTO, gives up after 9.5 s
    (Firefox: 11 s). Over TCP and TLS nothing is retransmitted; the same total applies.
    """

    initial_rto: float = DEFAULT_INITIAL_RTO
    max_sends: int = DEFAULT_MAX_SENDS
    final_wait: int = DEFAULT_FINAL_WAIT

    def __post_init__(self) -> None:
        # Refused here rather than by the transport: a schedule it refuses would leave the
        # caller waiting out a deadline.
        for name, value, (low, high) in (
            ("initial_rto", self.initial_rto, RTO_RANGE),
            ("max_sends", self.max_sends, MAX_SENDS_RANGE),
            ("final_wait", self.final_wait, FINAL_WAIT_RANGE),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ValueError(f"{name} must be a number from {low:g} to {high:g}, not {value!r}")
        if self.give_up_after > MAX_GIVE_UP_AFTER:
            raise ValueError(
                f"this schedule gives up on a silent server after {self.give_up_after:g} s; "
                f"at most {MAX_GIVE_UP_AFTER:g} s is allowed"
            )

    # Cached: every transaction reads them (frozen, so they never change).
    @functools.cached_property
    def waits(self) -> tuple[float, ...]:
        """How long to wait after each send before the next one (or giving up)."""
        doubling = tuple(self.initial_rto * 2**i for i in range(self.max_sends - 1))
        return (*doubling, self.initial_rto * self.final_wait)

    @functools.cached_property
    def give_up_after(self) -> float:
        return sum(self.waits)

    @property
    def gathering_deadline(self) -> float:
        """How long a gathering may take at the most with this schedule: every step of the
        slowest attempt (name lookup, TCP connect, TLS handshake, the Allocate transactions with
        their stale-nonce retries, once more after a redirect, and again from new ports after
        437) gives up after one schedule; past this, something is wrong with the transport."""
        return GATHERING_DEADLINE_SCHEDULES * self.give_up_after + GATHERING_DEADLINE_MARGIN


@dataclass(frozen=True)
class GatherOptions:
    """How the transport gathers, beyond the W3C configuration."""

    schedule: RetransmissionSchedule = field(default_factory=RetransmissionSchedule)
    # Local IP addresses to gather from; empty means every usable interface address.
    local_addresses: tuple[str, ...] = ()
    # Verify TLS certificates of stuns:/turns: servers. Off only for servers the user trusts.
    verify_tls: bool = True
    # After each allocation, send data through the relay and back (RelayCheckInfo). Off by
    # default, as browsers do not; the command line turns it on.
    relay_check: bool = False
    # Report every STUN/TURN transaction (TransactionTraceInfo).
    trace: bool = False
    # Ask a TURN server that gave an IPv4 relay for an IPv6 one too, on a socket of its own; how
    # it took the ask is a ServerNoteInfo. Off by default, as browsers do not ask; the command
    # line and the exporter turn it on.
    ipv6_relay: bool = False
    # Follow a TURN server's 300 Try Alternate to its ALTERNATE-SERVER, with the same
    # credentials, as browsers do. The exporter turns it off for a module with credentials,
    # which may go only to its allowed targets.
    follow_redirects: bool = True
    # After each relay check that saw data cross both ways, a call-like stream through the
    # relay for this many seconds (RelayQualityInfo); 0: none.
    quality_seconds: float = 0.0
    # The stream's packets a second each way (50: a 20 ms audio frame each).
    quality_rate: int = QUALITY_DEFAULT_RATE
    # The stream's far end is a second allocation (on the next TURN URL, or the same one)
    # instead of icegather's peer socket: the path of a call where both users need TURN.
    relay_to_relay: bool = False
    # RFC 5780 tests of the NAT where a Binding success names the server's OTHER-ADDRESS
    # (NatTestInfo). Off by default, as browsers do not; the command line turns it on.
    nat_behaviour: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, RetransmissionSchedule):
            raise TypeError("schedule must be a RetransmissionSchedule")
        for name in ("verify_tls", "relay_check", "trace", "ipv6_relay", "follow_redirects", "relay_to_relay",
                     "nat_behaviour"):
            if type(getattr(self, name)) is not bool:
                raise TypeError(f"{name} must be True or False")
        seconds = self.quality_seconds
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (
            0 <= seconds <= MAX_QUALITY_SECONDS
        ):
            raise ValueError(f"quality_seconds must be a number from 0 to {MAX_QUALITY_SECONDS:g}")
        rate = self.quality_rate
        if type(rate) is not int or not QUALITY_RATE_RANGE[0] <= rate <= QUALITY_RATE_RANGE[1]:
            raise ValueError(f"quality_rate must be a whole number from {QUALITY_RATE_RANGE[0]} to "
                             f"{QUALITY_RATE_RANGE[1]} packets a second")
        if seconds * rate > MAX_STREAM_PACKETS:
            raise ValueError(f"quality_seconds x quality_rate must be at most {MAX_STREAM_PACKETS:,} packets a "
                             "stream")
        if not isinstance(self.local_addresses, tuple) or len(self.local_addresses) > MAX_LOCAL_ADDRESSES:
            raise ValueError(f"local_addresses must be a tuple of at most {MAX_LOCAL_ADDRESSES} IP addresses")
        for address in self.local_addresses:
            if not isinstance(address, str) or parse_ip(address) is None:
                raise ValueError(f"{str(address)[:60]!r} in local_addresses is not an IP address")

    @property
    def gathering_deadline(self) -> float:
        """The schedule's deadline, and the quality streams' time: the attempts' streams run
        at once, each after its allocation and relay check, but one attempt's run in turn, at
        most two (the relays of a dual allocation, or an IPv4 relay and the IPv6 one asked
        after it); relay to relay, after a second allocation of their own, which may take as
        long as the first."""
        deadline = self.schedule.gathering_deadline
        if not self.quality_seconds:
            return deadline
        far_allocation = deadline if self.relay_to_relay else 0.0
        return deadline + far_allocation + STREAMS_IN_TURN * (self.quality_seconds + QUALITY_DRAIN_SECONDS)
