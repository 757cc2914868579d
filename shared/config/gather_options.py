"""How the transport gathers, beyond the W3C configuration: the retransmission schedule and the
gathering options, with their limits. The main process makes them (the API, the command line,
the exporter) and the transport runs them; each is validated where it is made, and the
protocol's schema checks them again on the wire (``shared.protocol.schemas``).

Kept apart from the reports (``shared.structs``): the command line validates its options
before it spawns the transport, and loads no report to do so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from icegather.shared.net.endpoints import parse_ip

# An upper bound of the schedules one URL's attempt can take in turn (tests/test_transport_rules
# checks it against the transport's own retry limits), and a margin for the two processes.
GATHERING_DEADLINE_SCHEDULES = 64
GATHERING_DEADLINE_MARGIN = 2.0

# The limits of a retransmission schedule: what the protocol's schema takes, and what every
# time a gathering reports (an RTT, a send's time since the gathering started) fits in.
RTO_RANGE = (0.001, 60.0)
MAX_SENDS_RANGE = (1, 16)
FINAL_WAIT_RANGE = (1, 64)
MAX_GIVE_UP_AFTER = 600.0
MAX_GATHERING_DEADLINE = GATHERING_DEADLINE_SCHEDULES * MAX_GIVE_UP_AFTER + GATHERING_DEADLINE_MARGIN
MAX_LOCAL_ADDRESSES = 64
# A relay's quality stream: how long it may run, and packets a second each way.
MAX_QUALITY_SECONDS = 600.0
QUALITY_RATE_RANGE = (1, 1000)
QUALITY_DEFAULT_RATE = 50
QUALITY_PAYLOAD_BYTES = 160  # a 20 ms frame of G.711 audio
# The most intervals a stream's series is cut into, and their length for streams up to 60 s.
MAX_QUALITY_INTERVALS = 600
QUALITY_INTERVAL_MS = 100.0
# After its last packet, how long a stream waits for stragglers.
QUALITY_DRAIN_SECONDS = 2.0
# One attempt's streams run in turn: at most two (see GatherOptions.gathering_deadline).
STREAMS_IN_TURN = 2
MAX_GATHERING_DEADLINE_WITH_QUALITY = 2 * MAX_GATHERING_DEADLINE + STREAMS_IN_TURN * (
    MAX_QUALITY_SECONDS + QUALITY_DRAIN_SECONDS)
# The most packets one stream sends each way: its facts are kept per packet (about 330 bytes
# each way), and a gathering may run one per TURN URL.
MAX_STREAM_PACKETS = 30_000


@dataclass(frozen=True)
class RetransmissionSchedule:
    """When STUN requests are sent and when a silent server is given up (RFC 8489 section 6.2.1).

    Requests go out at 0, RTO, 3*RTO, 7*RTO, ... (the wait doubles each time) until
    ``max_sends`` (Rc) requests are out; after the last one the client waits ``final_wait``
    (Rm) times the initial RTO. RFC 8489's Rc=7, Rm=16 takes 39.5 s, which is what Chromium
    waits. The default here, 5 sends and a final wait of 4 RTO, gives up after 9.5 s
    (Firefox: 11 s). Over TCP and TLS nothing is retransmitted; the same total applies.
    """

    initial_rto: float = 0.5
    max_sends: int = 5
    final_wait: int = 4

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

    def waits(self) -> tuple[float, ...]:
        """How long to wait after each send before the next one (or giving up)."""
        doubling = tuple(self.initial_rto * 2**i for i in range(self.max_sends - 1))
        return (*doubling, self.initial_rto * self.final_wait)

    @property
    def give_up_after(self) -> float:
        return sum(self.waits())

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
