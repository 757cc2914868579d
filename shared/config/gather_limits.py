"""The limits and defaults of what the transport may be asked to gather with: the ranges a
``RetransmissionSchedule`` and ``GatherOptions`` (``gather_options``) accept, which the command
line's options and the protocol's schema check too.

Plain numbers, in a module that loads nothing: the command line reads its defaults and ranges
before it spawns the transport, and the dataclasses are loaded only after that.
"""

# RFC 8489's Rc=7, Rm=16 waits 39.5 s for a silent server; 5 sends and a final wait of 4 RTO
# give up after 9.5 s (Firefox: 11 s). See RetransmissionSchedule.
DEFAULT_INITIAL_RTO = 0.5
DEFAULT_MAX_SENDS = 5
DEFAULT_FINAL_WAIT = 4

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
