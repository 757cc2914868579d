"""The reports both processes agree on, as frozen dataclasses (what to gather with is
``shared.config.gather_options``).

``IceCandidateErrorInfo`` has the five fields of Firefox's struct of the same name
(``CandidateInfo.h``), and three of icegather's own: the machine-readable ``cause``, the
server's address and the entry of ``iceServers``. Like there, ``""`` and ``0`` mean "none" on
this side of the process boundary; the main process turns them into ``None`` when it builds the
DOM event.

Every report about a server URL carries ``server_index``, the index in ``iceServers`` of the
entry it came from: the same URL may be configured in several entries (with other credentials),
and each is a server of its own to the diagnosis.
"""

from __future__ import annotations

from dataclasses import dataclass

from icegather.shared.vocabulary.failure_causes import FailureCause

# Error codes 700-799 are produced by the ICE agent, not by a server (W3C webrtc-pc).
SERVER_NOT_REACHABLE = 701


@dataclass(frozen=True)
class UrlReport:
    """What a report about a server URL starts with: the local socket that talked to the server
    (its IP and port) and the URL."""

    address: str
    port: int
    # The server URL exactly as configured.
    url: str


@dataclass(frozen=True)
class IceCandidateErrorInfo(UrlReport):
    """One failure of one STUN/TURN server URL, as the transport reports it. Its ``address`` is
    "" when no socket talked to the server, and its ``port`` 0 exactly then."""

    # The server's STUN error code (300-699), or 7xx when it gave no usable answer.
    error_code: int
    # The server's reason phrase, or for 7xx a text naming the cause. Never empty.
    error_text: str
    # What happened, as data (one of SERVER_ERROR_CAUSES exactly for codes 300-699): see failure_causes.
    cause: FailureCause
    # The index of the URL's entry in iceServers.
    server_index: int = 0
    # The server's IP address the failing attempt was for; "" when there was none (the name
    # lookup failed, or no local address has the family of any of the name's addresses).
    server_address: str = ""


@dataclass(frozen=True)
class CandidateInfo:
    """One gathered candidate: the SDP ``candidate:`` attribute and where it came from."""

    candidate: str
    # The STUN/TURN URL that produced the candidate; "" for host candidates.
    url: str = ""
    # For relay candidates: how we reach the TURN server ("udp", "tcp" or "tls"); else "".
    relay_protocol: str = ""
    # The index in iceServers of the URL's entry; 0 for host candidates.
    server_index: int = 0


@dataclass(frozen=True)
class ServerAnswerInfo(UrlReport):
    """A server URL answered a request from one local socket (the first response, success or
    error). Not in the W3C API: it tells a diagnosis which servers were reachable, and how
    fast, even when they produced no candidate (a srflx equal to its base is not surfaced)."""

    # From sending the request that was answered to the answer.
    rtt_ms: float
    # The server's IP address that answered (the URL's host, looked up).
    server_address: str
    # The index of the URL's entry in iceServers.
    server_index: int = 0
    # The server's port the answered request went to.
    server_port: int = 0
    # A Binding success's mapped address (the one ``choose_mapped_address`` took); "" and 0
    # for an Allocate's answer or an error.
    mapped_address: str = ""
    mapped_port: int = 0
    # RFC 5780's OTHER-ADDRESS in a Binding success: where the server answers from another IP
    # address and port, for the NAT behaviour tests; "" and 0 when absent.
    other_address: str = ""
    other_port: int = 0
    # The SOFTWARE attribute of this first answer as ``sanitize_reason`` leaves it (control
    # characters dropped, spaces collapsed, at most 127 characters); "" if it had none. The
    # main process hears it as the "software" note (an ``iceservernote``) that a later answer's
    # SOFTWARE comes as (``ServerNoteInfo``): one message fewer for most servers.
    software: str = ""


@dataclass(frozen=True)
class NatTestInfo(UrlReport):
    """One RFC 5780 test of the NAT in front of a host socket (``GatherOptions.nat_behaviour``):
    a Binding request to the server's other address, or one that asks the server to answer
    from another address (CHANGE-REQUEST). Facts only: ``nat_behaviour`` in the main process
    says what the mapping and filtering are. Not in the W3C API."""

    # "mapping_other_address" (to OTHER-ADDRESS's IP, the primary port),
    # "mapping_other_address_port" (to OTHER-ADDRESS's IP and port),
    # "filtering_change_address_port" (to the primary address, CHANGE-REQUEST IP and port),
    # "filtering_change_port" (to the primary address, CHANGE-REQUEST port).
    test: str
    # Where the request went.
    server_address: str
    server_port: int
    answered: bool
    # Where the answer came from, and the mapped address in it; "" and 0 when none came.
    source_address: str
    source_port: int
    mapped_address: str
    mapped_port: int
    # The index of the URL's entry in iceServers.
    server_index: int = 0


@dataclass(frozen=True)
class ServerNoteInfo(UrlReport):
    """A fact about a server beyond the browser's events (``shared.vocabulary.server_notes``): what software
    it names, how it took a request icegather makes beyond a browser. Not in the W3C API."""

    # A ServerNote, and its detail (the SOFTWARE text, an address, an error code and reason).
    note: str
    detail: str
    # The index of the URL's entry in iceServers.
    server_index: int = 0


@dataclass(frozen=True)
class RelayCheckInfo(UrlReport):
    """What the relay check found for one allocation: whether data went through the relay to a
    peer socket of icegather's on this machine ("out") and from that socket through the relayed
    address back to the TURN client ("back"). Not in the W3C API. Facts only: what they mean is
    ``shared.vocabulary.relay_outcomes.relay_outcome``. Its socket is the TURN client's."""

    # The relayed transport address the server advertised (the relay candidate's address).
    relayed_address: str
    relayed_port: int
    # Probes sent in each direction; 0 when none could be sent (see not_checked_reason).
    probes: int
    # Of those, how many the peer socket received (out) and the TURN client received (back),
    # each where it could legitimately arrive (see stray_probes).
    out_received: int
    back_received: int
    # The same per mechanism (they add up to the three above): Send/Data indications first,
    # then, once ChannelBind was sent, ChannelData ("back": what the peer sent after it, in
    # whichever form the server relayed it).
    indication_probes: int
    indication_out_received: int
    indication_back_received: int
    channel_probes: int
    channel_out_received: int
    channel_back_received: int
    # Probes of this check that turned up where they cannot legitimately arrive: at the end
    # that sent them (a server that reflects), from another peer, on another channel. Each
    # probe counts once; none of them counts as received.
    stray_probes: int
    # Where the relay's data came from as the peer saw it ("" and 0 when none arrived): the
    # advertised relayed address, unless the server advertises one it does not send from.
    out_source_address: str
    out_source_port: int
    # Median one-way delay out plus median one-way delay back; None unless both arrived.
    rtt_ms: float | None
    # The ICMP error the peer's probes to the relayed address met (a FailureCause), or "".
    back_cause: str
    # The request the server refused or did not answer ("CreatePermission", "ChannelBind"),
    # with its error code (7xx: no usable answer), its cause ("server_error" exactly for codes
    # 300-699, else a FailureCause such as answer_unverified) and text; "", 0, "", "" when none
    # failed.
    failed_request: str
    error_code: int
    error_cause: str
    # The server's reason phrase or the cause, for a failed request; why nothing was probed,
    # when probes is 0 and no request failed; else "".
    error_text: str
    # Why no probe was sent (a NotCheckedReason, shared.vocabulary.relay_outcomes), exactly when probes
    # is 0 and no request failed; else "".
    not_checked_reason: str
    # The index of the URL's entry in iceServers.
    server_index: int = 0


@dataclass(frozen=True)
class RelayQualityInfo(UrlReport):
    """A call-like stream through one relay (``GatherOptions.quality_seconds``): packets of a
    20 ms audio frame's size, numbered and timed, from the TURN client through the relay to the
    far end ("out"), which echoes each at once ("back"). The far end is icegather's peer socket
    on this machine or, relay to relay, a second allocation of its own. Both ends are in one
    process, so one clock times both ways. Facts only; the main process judges them against
    ``shared.vocabulary.quality_thresholds``. Not in the W3C API. Its socket is the TURN
    client's."""

    relayed_address: str
    relayed_port: int
    # Relay to relay: the far allocation's URL, entry and relayed address; "", 0, "", 0 when
    # the far end is the peer socket. A far URL without a relayed address (and ``cause`` set,
    # nothing sent): the far allocation failed, so the stream was never set up.
    far_url: str
    far_server_index: int
    far_relayed_address: str
    far_relayed_port: int
    # "channel" (ChannelData) or "indication" (Send and Data indications): what carried it.
    mechanism: str
    # How the client reaches the server: "udp", "tcp" or "tls".
    transport: str
    # What was asked: how long, packets a second each way, bytes of payload each.
    seconds: float
    rate: int
    payload_bytes: int
    # Sent by the client, and of those arrived at the far end; echoed by the far end, and of
    # those arrived back at the client. Received counts are of distinct packets: a copy counts
    # in ``duplicated`` only.
    packets_out: int
    packets_out_received: int
    packets_back: int
    packets_back_received: int
    # Both ways together: packets that arrived after a later one of their direction, and
    # copies of packets already received.
    reordered: int
    duplicated: int
    # RFC 3550 section 6.4.1 interarrival jitter of each way; None below two arrivals.
    jitter_out_ms: float | None
    jitter_back_ms: float | None
    # Round trips (out packet sent to its echo's arrival) of the packets that came back; None
    # when none did.
    rtt_min_ms: float | None
    rtt_p50_ms: float | None
    rtt_p95_ms: float | None
    rtt_p99_ms: float | None
    # The stream cut into consecutive intervals of ``series_interval_ms`` by send time: packets
    # sent in each, how many of them never came back, and the median round trip of those that
    # did (0 when none did).
    series_interval_ms: float
    series_sent: tuple[int, ...]
    series_lost: tuple[int, ...]
    series_rtt_ms: tuple[float, ...]
    # "" when it ran to its end; else the FailureCause that stopped it, and words for it.
    cause: str
    error_text: str
    # The index of the URL's entry in iceServers.
    server_index: int = 0


@dataclass(frozen=True)
class TransactionTraceInfo:
    """One STUN/TURN transaction of a gathering, as it happened (``GatherOptions.trace``): every
    send and how it ended. Not in the W3C API: it is what a timeline of the gathering draws."""

    # The server URL exactly as configured, the local socket and the server's address.
    url: str
    address: str
    port: int
    server_address: str
    server_port: int
    # The request's method: Binding, Allocate, Refresh, CreatePermission or ChannelBind; or
    # Connect (a TCP or TLS connection that failed), ProbeOut or ProbeBack (a relay check's
    # probe: an answer when it arrived, its RTT the one-way delay).
    method: str
    # When each send went out (the first is attempt 1), in ms since the gathering started.
    sends_ms: tuple[float, ...]
    # When it ended, in ms since the gathering started.
    ended_ms: float
    # "answer" (a success response), "error" (an error response: error_code) or "failed" (no
    # usable answer: error_code 7xx and the cause, a FailureCause).
    outcome: str
    error_code: int
    cause: str
    # From the last send to the response; None when none came.
    rtt_ms: float | None
    # The index of the URL's entry in iceServers.
    server_index: int = 0


@dataclass(frozen=True)
class AuditResultInfo:
    """What one check of ``icegather audit`` saw on one server URL: facts only; the main
    process's audit table says what they mean (severity, fix). Not in the W3C API."""

    # The server URL exactly as configured.
    url: str
    # Which check (``shared.vocabulary.audit_plan.AuditCheck``).
    check: str
    # What was tried: a peer address, a TLS version, the SOFTWARE text; "" otherwise.
    subject: str
    # "accepted", "refused" or "failed" (no usable answer).
    outcome: str
    # The server's error code, the OpenSSL verification code for a certificate, or 7xx when
    # nothing usable came back; 0 when none.
    error_code: int
    # The reason phrase, verification message or cause; "" when none.
    error_text: str
    # For a certificate: the end of its validity, Unix time (negative before 1970; 0 when not
    # known); else 0.
    expires: int
    # For a peer check: the relayed IP address of the allocation it was asked on (whose address
    # family says whether the peer can be reached through it); "" otherwise.
    relay: str = ""


@dataclass(frozen=True)
class SandboxInfo:
    """The confinement a transport process runs under, as its kernel reports it (the transport's
    ``/proc/self/status`` and limits) and as it set it up: what ``icegather sandbox`` shows.
    The defaults describe a transport that has no sandbox."""

    # False when the sandbox was turned off (``--no-sandbox``), or the transport is embedded.
    enabled: bool = False
    no_new_privs: bool = False
    # 0 none, 1 strict, 2 filter; and how many filters are stacked.
    seccomp_mode: int = 0
    seccomp_filters: int = 0
    # The kernel's Landlock ABI (0: it has none), and whether a ruleset confines the transport.
    landlock_abi: int = 0
    landlock_enforced: bool = False
    # The effective capabilities (a bit per capability; 0 none; -1 not known).
    capabilities: int = -1
    # Hard limits; -1 is unlimited.
    max_file_size: int = -1
    max_core_size: int = -1
    max_open_files: int = -1
