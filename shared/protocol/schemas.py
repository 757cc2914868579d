"""The schema of every struct the messages carry: its fields in wire order, each with its check,
and the rules that involve more than one field. (A message declares its own: ``messages.Wire``.)"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from icegather.shared.config.gather_limits import (
    FINAL_WAIT_RANGE,
    MAX_GATHERING_DEADLINE_WITH_QUALITY,
    MAX_GIVE_UP_AFTER,
    MAX_LOCAL_ADDRESSES,
    MAX_QUALITY_INTERVALS,
    MAX_QUALITY_SECONDS,
    MAX_SENDS_RANGE,
    MAX_STREAM_PACKETS,
    QUALITY_RATE_RANGE,
    RTO_RANGE,
)
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule
from icegather.shared.config.ice_config import MAX_URLS
from icegather.shared.config.ice_url import MAX_URL_LENGTH
from icegather.shared.protocol.checks import (
    MAX_TEXT,
    Check,
    ProtocolError,
    boolean,
    candidate_line,
    integer,
    ip_address,
    list_of,
    number,
    one_of,
    optional,
    text,
)
from icegather.shared.structs import (
    AuditResultInfo,
    CandidateInfo,
    IceCandidateErrorInfo,
    NatTestInfo,
    RelayCheckInfo,
    RelayQualityInfo,
    SandboxInfo,
    ServerAnswerInfo,
    ServerNoteInfo,
    TransactionTraceInfo,
)
from icegather.shared.vocabulary.audit_plan import AUDIT_CHECKS, AUDIT_OUTCOMES, subject_fits
from icegather.shared.vocabulary.failure_causes import FAILURE_CAUSES, SERVER_ERROR_CAUSES
from icegather.shared.vocabulary.relay_outcomes import MECHANISMS, NOT_CHECKED_REASONS
from icegather.shared.vocabulary.server_notes import SERVER_NOTES

MAX_RTT_MS = MAX_GIVE_UP_AFTER * 1000  # an answer comes before its transaction gives up
# A time since the gathering started: a gathering ends by its deadline.
MAX_ELAPSED_MS = MAX_GATHERING_DEADLINE_WITH_QUALITY * 1000
MAX_PROBES = 64
NAT_TESTS = (
    "mapping_other_address", "mapping_other_address_port", "filtering_change_address_port", "filtering_change_port",
)


@dataclass(frozen=True)
class Nested:
    """The check of a nested struct: its own schema's decoder. It names the struct, so that a
    sender can check one it made without making it again (``checker_for``)."""

    cls: type

    def __call__(self, value: Any) -> Any:
        return decoder_for(self.cls)(value)


def struct(cls: type) -> Check:
    return Nested(cls)


SEQ = integer(0, 2**63)
SERVER_INDEX = integer(0, MAX_URLS - 1)  # an entry of iceServers, which has at most MAX_URLS

SCHEMAS: dict[type, Mapping[str, Check]] = {
    IceCandidateErrorInfo: {
        "address": ip_address(empty=True),
        "port": integer(0, 65535),
        "url": text(MAX_URL_LENGTH, empty=False),
        "error_code": integer(300, 799),
        "error_text": text(MAX_TEXT, empty=False),
        "cause": one_of(*FAILURE_CAUSES),
        "server_index": SERVER_INDEX,
        "server_address": ip_address(empty=True),
    },
    CandidateInfo: {
        "candidate": candidate_line,
        "url": text(MAX_URL_LENGTH),
        "relay_protocol": one_of("", "udp", "tcp", "tls"),
        "server_index": SERVER_INDEX,
    },
    ServerAnswerInfo: {
        "address": ip_address(empty=False),
        "port": integer(1, 65535),
        "url": text(MAX_URL_LENGTH, empty=False),
        "rtt_ms": number(0.0, MAX_RTT_MS),
        "server_address": ip_address(empty=False),
        "server_index": SERVER_INDEX,
        "server_port": integer(0, 65535),
        "mapped_address": ip_address(empty=True),
        "mapped_port": integer(0, 65535),
        "other_address": ip_address(empty=True),
        "other_port": integer(0, 65535),
        "software": text(MAX_TEXT),
    },
    NatTestInfo: {
        "address": ip_address(empty=False),
        "port": integer(1, 65535),
        "url": text(MAX_URL_LENGTH, empty=False),
        "test": one_of(*NAT_TESTS),
        "server_address": ip_address(empty=False),
        "server_port": integer(1, 65535),
        "answered": boolean,
        "source_address": ip_address(empty=True),
        "source_port": integer(0, 65535),
        "mapped_address": ip_address(empty=True),
        "mapped_port": integer(0, 65535),
        "server_index": SERVER_INDEX,
    },
    ServerNoteInfo: {
        "address": ip_address(empty=False),
        "port": integer(1, 65535),
        "url": text(MAX_URL_LENGTH, empty=False),
        "note": one_of(*SERVER_NOTES),
        "detail": text(MAX_TEXT),
        "server_index": SERVER_INDEX,
    },
    RelayCheckInfo: {
        "address": ip_address(empty=False),
        "port": integer(1, 65535),
        "url": text(MAX_URL_LENGTH, empty=False),
        "relayed_address": ip_address(empty=False),
        "relayed_port": integer(0, 65535),
        "probes": integer(0, MAX_PROBES),
        "out_received": integer(0, MAX_PROBES),
        "back_received": integer(0, MAX_PROBES),
        "indication_probes": integer(0, MAX_PROBES),
        "indication_out_received": integer(0, MAX_PROBES),
        "indication_back_received": integer(0, MAX_PROBES),
        "channel_probes": integer(0, MAX_PROBES),
        "channel_out_received": integer(0, MAX_PROBES),
        "channel_back_received": integer(0, MAX_PROBES),
        "stray_probes": integer(0, 2 * MAX_PROBES),
        "out_source_address": ip_address(empty=True),
        "out_source_port": integer(0, 65535),
        "rtt_ms": optional(number(0.0, MAX_RTT_MS)),
        "back_cause": one_of("", *FAILURE_CAUSES),
        "failed_request": one_of("", "CreatePermission", "ChannelBind"),
        "error_code": integer(0, 799),
        "error_cause": one_of("", *FAILURE_CAUSES),
        "error_text": text(MAX_TEXT),
        "not_checked_reason": one_of("", *NOT_CHECKED_REASONS),
        "server_index": SERVER_INDEX,
    },
    RelayQualityInfo: {
        "address": ip_address(empty=False),
        "port": integer(1, 65535),
        "url": text(MAX_URL_LENGTH, empty=False),
        "relayed_address": ip_address(empty=False),
        "relayed_port": integer(1, 65535),
        "far_url": text(MAX_URL_LENGTH),
        "far_server_index": SERVER_INDEX,
        "far_relayed_address": ip_address(empty=True),
        "far_relayed_port": integer(0, 65535),
        "mechanism": one_of(*MECHANISMS),
        "transport": one_of("udp", "tcp", "tls"),
        "seconds": number(0.001, MAX_QUALITY_SECONDS),
        "rate": integer(*QUALITY_RATE_RANGE),
        "payload_bytes": integer(1, 1400),
        "packets_out": integer(0, MAX_STREAM_PACKETS),
        "packets_out_received": integer(0, MAX_STREAM_PACKETS),
        "packets_back": integer(0, MAX_STREAM_PACKETS),
        "packets_back_received": integer(0, MAX_STREAM_PACKETS),
        "reordered": integer(0, 2 * MAX_STREAM_PACKETS),
        "duplicated": integer(0, 2**32),
        "jitter_out_ms": optional(number(0.0, MAX_RTT_MS)),
        "jitter_back_ms": optional(number(0.0, MAX_RTT_MS)),
        "rtt_min_ms": optional(number(0.0, MAX_RTT_MS)),
        "rtt_p50_ms": optional(number(0.0, MAX_RTT_MS)),
        "rtt_p95_ms": optional(number(0.0, MAX_RTT_MS)),
        "rtt_p99_ms": optional(number(0.0, MAX_RTT_MS)),
        "series_interval_ms": number(1.0, MAX_QUALITY_SECONDS * 1000),
        "series_sent": list_of(integer(0, MAX_STREAM_PACKETS), MAX_QUALITY_INTERVALS),
        "series_lost": list_of(integer(0, MAX_STREAM_PACKETS), MAX_QUALITY_INTERVALS),
        "series_rtt_ms": list_of(number(0.0, MAX_RTT_MS), MAX_QUALITY_INTERVALS),
        "cause": one_of("", *FAILURE_CAUSES),
        "error_text": text(MAX_TEXT),
        "server_index": SERVER_INDEX,
    },
    TransactionTraceInfo: {
        "url": text(MAX_URL_LENGTH, empty=False),
        "address": ip_address(empty=False),
        "port": integer(1, 65535),
        "server_address": ip_address(empty=False),
        "server_port": integer(1, 65535),
        "method": one_of(
            "Binding", "Allocate", "Refresh", "CreatePermission", "ChannelBind", "Connect", "ProbeOut", "ProbeBack"
        ),
        "sends_ms": list_of(number(0.0, MAX_ELAPSED_MS), MAX_SENDS_RANGE[1]),
        "ended_ms": number(0.0, MAX_ELAPSED_MS),
        "outcome": one_of("answer", "error", "failed"),
        "error_code": integer(0, 799),
        "cause": one_of("", *FAILURE_CAUSES),
        "rtt_ms": optional(number(0.0, MAX_RTT_MS)),
        "server_index": SERVER_INDEX,
    },
    AuditResultInfo: {
        "url": text(MAX_URL_LENGTH, empty=False),
        "check": one_of(*AUDIT_CHECKS),
        "subject": text(MAX_TEXT),
        "outcome": one_of(*AUDIT_OUTCOMES),
        "error_code": integer(0, 799),
        "error_text": text(MAX_TEXT),
        "expires": integer(-(2**40), 2**40),
        "relay": ip_address(empty=True),
    },
    SandboxInfo: {
        "enabled": boolean,
        "no_new_privs": boolean,
        "seccomp_mode": integer(0, 2),
        "seccomp_filters": integer(0, 2**16),
        "landlock_abi": integer(0, 2**16),
        "landlock_enforced": boolean,
        "capabilities": integer(-1, 2**64 - 1),
        "max_file_size": integer(-1, 2**63 - 1),
        "max_core_size": integer(-1, 2**63 - 1),
        "max_open_files": integer(-1, 2**63 - 1),
    },
    RetransmissionSchedule: {
        "initial_rto": number(*RTO_RANGE),
        "max_sends": integer(*MAX_SENDS_RANGE),
        "final_wait": integer(*FINAL_WAIT_RANGE),
    },
    GatherOptions: {
        "schedule": struct(RetransmissionSchedule),
        "local_addresses": list_of(ip_address(empty=False), MAX_LOCAL_ADDRESSES),
        "verify_tls": boolean,
        "relay_check": boolean,
        "trace": boolean,
        "ipv6_relay": boolean,
        "follow_redirects": boolean,
        "quality_seconds": number(0.0, MAX_QUALITY_SECONDS),
        "quality_rate": integer(*QUALITY_RATE_RANGE),
        "relay_to_relay": boolean,
        "nat_behaviour": boolean,
    },
}

# Rules that involve more than one field.
INVARIANTS: dict[type, tuple[tuple[Callable[[Any], bool], str], ...]] = {
    IceCandidateErrorInfo: (
        (lambda e: (e.address == "") == (e.port == 0), "address and port must be both set or both empty"),
        (lambda e: (e.cause in SERVER_ERROR_CAUSES) == (e.error_code < 700), "server errors are codes 300-699"),
    ),
    CandidateInfo: ((lambda c: c.url != "" or c.server_index == 0, "a host candidate is of no server's entry"),),
    TransactionTraceInfo: (
        (lambda t: len(t.sends_ms) > 0 or t.outcome == "failed", "a transaction that sent nothing can only fail"),
        (lambda t: list(t.sends_ms) == sorted(t.sends_ms), "sends come in order"),
        (lambda t: all(sent <= t.ended_ms for sent in t.sends_ms), "it ends after its last send"),
        (lambda t: (t.outcome == "answer") == (t.error_code == 0), "only an answer has no error code"),
        (lambda t: (t.outcome == "failed") == (t.cause != ""), "a cause exactly when it failed"),
        (lambda t: (t.rtt_ms is None) == (t.outcome == "failed"), "an RTT exactly when something answered"),
    ),
    AuditResultInfo: (
        (lambda a: a.check == "certificate" or a.expires == 0, "only a certificate expires"),
        (lambda a: a.outcome != "failed" or a.error_code >= 700, "a failed check has its 7xx code"),
        (lambda a: subject_fits(a.check, a.outcome, a.subject), "a subject its check cannot have"),
    ),
    ServerAnswerInfo: (
        (lambda a: (a.mapped_address == "") == (a.mapped_port == 0), "mapped address and port go together"),
        (lambda a: (a.other_address == "") == (a.other_port == 0), "other address and port go together"),
    ),
    NatTestInfo: (
        (lambda n: n.answered == (n.source_address != ""), "an answer exactly when it came from somewhere"),
        (lambda n: (n.source_address == "") == (n.source_port == 0), "source address and port go together"),
        (lambda n: (n.mapped_address == "") == (n.mapped_port == 0), "mapped address and port go together"),
        (lambda n: n.answered or n.mapped_address == "", "a mapped address needs an answer"),
    ),
    RelayQualityInfo: (
        (lambda q: q.packets_out_received <= q.packets_out, "more packets arrived out than were sent"),
        (lambda q: q.packets_back <= q.packets_out_received, "more echoes than packets arrived"),
        (lambda q: q.packets_back_received <= q.packets_back, "more packets arrived back than were sent"),
        (lambda q: q.far_url != "" or q.far_relayed_address == "", "a far relay goes with its URL"),
        (
            lambda q: q.far_url == "" or q.far_relayed_address != "" or (q.cause != "" and q.packets_out == 0),
            "a far URL without its relay is a stream that was never set up",
        ),
        (lambda q: (q.far_relayed_address == "") == (q.far_relayed_port == 0), "far address and port go together"),
        (lambda q: q.far_url != "" or q.far_server_index == 0, "a far entry needs a far URL"),
        (lambda q: (q.jitter_out_ms is None) == (q.packets_out_received < 2), "out jitter from two arrivals"),
        (lambda q: (q.jitter_back_ms is None) == (q.packets_back_received < 2), "back jitter from two arrivals"),
        (
            lambda q: len({q.rtt_min_ms is None, q.rtt_p50_ms is None, q.rtt_p95_ms is None, q.rtt_p99_ms is None,
                           q.packets_back_received == 0}) == 1,
            "round trips exactly when packets came back",
        ),
        (
            lambda q: q.rtt_min_ms is None or q.rtt_min_ms <= (q.rtt_p50_ms or 0) <= (q.rtt_p95_ms or 0)
            <= (q.rtt_p99_ms or 0),
            "round-trip percentiles in order",
        ),
        (
            lambda q: len(q.series_sent) == len(q.series_lost) == len(q.series_rtt_ms),
            "the series have one value per interval each",
        ),
        (lambda q: sum(q.series_sent) == q.packets_out, "the series adds up to the packets sent"),
        (
            lambda q: all(lost <= sent for sent, lost in zip(q.series_sent, q.series_lost, strict=True)),
            "more lost than sent in an interval",
        ),
        (
            lambda q: sum(q.series_sent) - sum(q.series_lost) == q.packets_back_received,
            "the series' packets that came back are those received back",
        ),
        (lambda q: (q.cause == "") == (q.error_text == ""), "a cause goes with its words"),
    ),
    RelayCheckInfo: (
        (lambda r: r.out_received <= r.probes and r.back_received <= r.probes, "more probes received than sent"),
        (lambda r: (r.out_source_address == "") == (r.out_received == 0), "a source goes with out probes received"),
        (lambda r: (r.out_source_address == "") == (r.out_source_port == 0), "source address and port go together"),
        (lambda r: (r.rtt_ms is None) == (r.out_received == 0 or r.back_received == 0), "an RTT needs both ways"),
        (lambda r: (r.failed_request == "") == (r.error_code == 0), "a failed request goes with its error code"),
        (lambda r: r.error_code == 0 or r.error_code >= 300, "error codes are 300-799"),
        (lambda r: r.probes > 0 or r.error_text != "", "a check without probes says why"),
        (
            lambda r: (r.indication_probes + r.channel_probes, r.indication_out_received + r.channel_out_received,
                       r.indication_back_received + r.channel_back_received)
            == (r.probes, r.out_received, r.back_received),
            "the mechanisms add up to the totals",
        ),
        (
            lambda r: max(r.indication_out_received, r.indication_back_received) <= r.indication_probes
            and max(r.channel_out_received, r.channel_back_received) <= r.channel_probes,
            "more probes received than sent with a mechanism",
        ),
        (lambda r: r.channel_probes == 0 or r.indication_probes > 0, "ChannelData comes after indications"),
        (lambda r: r.stray_probes <= 2 * r.probes, "more stray probes than were sent"),
        (lambda r: (r.failed_request == "") == (r.error_cause == ""), "a failed request goes with its cause"),
        (
            lambda r: r.failed_request == "" or (r.error_cause in SERVER_ERROR_CAUSES) == (r.error_code < 700),
            "a server's error cause goes with codes 300-699",
        ),
        (
            lambda r: (r.not_checked_reason != "") == (r.probes == 0 and r.failed_request == ""),
            "a reason exactly when nothing was probed and no request failed",
        ),
    ),
}

def fields_of(cls: type) -> Mapping[str, Check]:
    """The schema of a struct, or of a message (which declares its own, as ``WIRE``)."""
    wire = getattr(cls, "WIRE", None)
    return SCHEMAS[cls] if wire is None else wire.fields


@functools.cache
def decoder_for(cls: type) -> Callable[[Any], Any]:
    """The decoder of one struct or message, built once from its schema and invariants (the
    codec's hot path: every event passes here)."""
    schema = fields_of(cls)
    checks = tuple(schema.items())
    names = schema.keys()
    invariants = INVARIANTS.get(cls, ())
    where = cls.__name__

    def decode(value: Any) -> Any:
        if value.__class__ is not dict:
            raise ProtocolError(f"{where}: expected a map, got {type(value).__name__}")
        if value.keys() != names:
            unknown = set(value) - set(names)
            if unknown:
                raise ProtocolError(f"{where}: unknown field {str(sorted(map(str, unknown))[0])[:40]!r}")
            missing = next(name for name in names if name not in value)
            raise ProtocolError(f"{where}: missing field {missing!r}")
        kwargs = {}
        name = ""
        try:
            for name, check in checks:
                kwargs[name] = check(value[name])
        except ProtocolError as exc:
            raise ProtocolError(f"{where}.{name}: {exc}") from None
        try:
            result = cls(**kwargs)
        except (TypeError, ValueError) as exc:  # its own rules (RetransmissionSchedule's limits)
            raise ProtocolError(f"{where}: {exc}") from None
        for holds, rule in invariants:
            if not holds(result):
                raise ProtocolError(f"{where}: {rule}")
        return result

    return decode


@functools.cache
def checker_for(cls: type) -> Callable[[Any, Any], None]:
    """What the receiver's decoder checks, for a message or struct the sender made: each field's
    wire value against its check, and the rules between fields on the object itself (made, its
    own ``__post_init__`` has run). Raises ``ProtocolError`` as the decoder would, without making
    the object a second time: the sender checks every message it sends."""
    fields = tuple(
        (name, check, check.cls if isinstance(check, Nested) else None) for name, check in fields_of(cls).items()
    )
    invariants = INVARIANTS.get(cls, ())
    where = cls.__name__

    def check_sent(made: Any, wire: Any) -> None:
        name = ""
        try:
            for name, check, nested in fields:
                if nested is None:
                    check(wire[name])
                else:
                    checker_for(nested)(getattr(made, name), wire[name])
        except ProtocolError as exc:
            raise ProtocolError(f"{where}.{name}: {exc}") from None
        for holds, rule in invariants:
            if not holds(made):
                raise ProtocolError(f"{where}: {rule}")

    return check_sent
