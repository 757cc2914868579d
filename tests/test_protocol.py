"""The wire protocol: what round-trips, and everything the decoder must refuse."""

from __future__ import annotations

import contextlib
import dataclasses

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icegather.shared import protocol, structs
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule
from icegather.shared.config.ice_config import parse_configuration
from icegather.shared.protocol import (
    ProtocolError,
    SequenceChecker,
    decode_to_main,
    decode_to_transport,
    encode,
    messages,
)

ERROR = structs.IceCandidateErrorInfo("192.0.2.2", 50000, "turn:turn.example.org", 401, "Unauthorized", "server_error")
CANDIDATE = structs.CandidateInfo("candidate:1 1 udp 2122260223 192.0.2.2 50000 typ host")
CONFIGURATION = parse_configuration(
    {"iceServers": [{"urls": ["turn:turn.example.org?transport=tcp"], "username": "u", "credential": "p"}]}
)

RELAY_CHECK = structs.RelayCheckInfo(
    address="192.0.2.2", port=50000, url="turn:turn.example.org", relayed_address="203.0.113.9",
    relayed_port=61000, probes=6, out_received=6, back_received=0, indication_probes=3, indication_out_received=3,
    indication_back_received=0, channel_probes=3, channel_out_received=3, channel_back_received=0, stray_probes=1,
    out_source_address="10.0.0.9", out_source_port=61000, rtt_ms=None, back_cause="port_unreachable",
    failed_request="", error_code=0, error_cause="", error_text="", not_checked_reason="",
)

QUALITY = structs.RelayQualityInfo(
    address="192.0.2.2", port=50000, url="turn:turn.example.org", relayed_address="203.0.113.9", relayed_port=61000,
    far_url="", far_server_index=0, far_relayed_address="", far_relayed_port=0, mechanism="indication",
    transport="tcp", seconds=0.2, rate=20, payload_bytes=160, packets_out=4, packets_out_received=3, packets_back=3,
    packets_back_received=2, reordered=1, duplicated=2, jitter_out_ms=1.5, jitter_back_ms=2.5, rtt_min_ms=30.0,
    rtt_p50_ms=31.0, rtt_p95_ms=40.0, rtt_p99_ms=41.0, series_interval_ms=100.0, series_sent=(2, 2),
    series_lost=(1, 1), series_rtt_ms=(30.0, 41.0), cause="connection_reset", error_text="the server closed it",
)

TO_MAIN = [
    protocol.ServerHello(pid=1234),
    protocol.Heartbeat(),
    protocol.Draining("resolver_files_replaced", ("/etc/hosts", "/run/systemd/resolve/stub-resolv.conf")),
    protocol.Draining("certificate_files_replaced", ("/etc/ssl/certs/ca-certificates.crt",)),
    protocol.Candidate(7, CANDIDATE),
    protocol.Candidate(
        7,
        structs.CandidateInfo(
            "candidate:2 1 udp 16777215 203.0.113.9 61000 typ relay raddr 192.0.2.2 rport 50000",
            "turn:turn.example.org",
            "tcp",
        ),
    ),
    protocol.CandidateError(7, ERROR),
    protocol.CandidateError(
        7, structs.IceCandidateErrorInfo("", 0, "stun:stun1.invalid:3478", 701, "host lookup failed", "dns")
    ),
    protocol.ServerAnswer(7, structs.ServerAnswerInfo("::1", 40000, "stun:[::1]:3478", 0.412, "::1")),
    protocol.RelayCheck(7, RELAY_CHECK),
    protocol.RelayQuality(7, QUALITY),
    protocol.NatTest(7, structs.NatTestInfo(
        address="192.0.2.2", port=50000, url="stun:stun.example.org", test="mapping_other_address",
        server_address="203.0.113.7", server_port=3478, answered=False, source_address="", source_port=0,
        mapped_address="", mapped_port=0,
    )),
    protocol.RelayCheck(
        7,
        dataclasses.replace(
            RELAY_CHECK, probes=0, out_received=0, indication_probes=0, indication_out_received=0, channel_probes=0,
            channel_out_received=0, stray_probes=0, out_source_address="", out_source_port=0, back_cause="",
            failed_request="CreatePermission", error_code=403, error_cause="server_error", error_text="Forbidden",
        ),
    ),
    protocol.GatheringState(7, "complete"),
    protocol.GatherRejected(7, "internal error"),
    protocol.AuditResult(
        8, structs.AuditResultInfo("turn:t.example", "peer_permission", "127.0.0.1", "refused", 403, "Forbidden", 0)
    ),
    protocol.AuditState(8, "auditing"),
    protocol.AuditRejected(8, "this id is already in use"),
]
TO_TRANSPORT = [
    protocol.ClientHello(),
    protocol.ClientHello(heartbeat_interval=0.5),
    protocol.Gather(
        3, CONFIGURATION, GatherOptions(RetransmissionSchedule(0.1, 3, 2), ("127.0.0.1", "::1"), False)
    ),
    protocol.Close(3),
    protocol.Audit(
        4, CONFIGURATION, GatherOptions(RetransmissionSchedule(0.1, 3, 2), ("127.0.0.1",), False)
    ),
    protocol.CloseAudit(4),
]


@pytest.mark.parametrize("message", TO_MAIN, ids=lambda m: type(m).__name__)
def test_messages_to_the_main_process_round_trip(message):
    assert list(decode_to_main(encode(message, 5))) == [(5, message)]


@pytest.mark.parametrize("message", TO_TRANSPORT, ids=lambda m: type(m).__name__)
def test_messages_to_the_transport_round_trip(message):
    assert list(decode_to_transport(encode(message, 0))) == [(0, message)]


def raw(**fields) -> bytes:
    return msgpack.packb(fields)


def error_fields(**changes) -> dict:
    fields = {
        "address": "192.0.2.2",
        "port": 50000,
        "url": "turn:t.example",
        "error_code": 401,
        "error_text": "Unauthorized",
        "cause": "server_error",
    }
    fields.update(changes)
    return fields


def relay_fields(**changes) -> dict:
    fields = dataclasses.asdict(RELAY_CHECK)
    fields.update(changes)
    return fields


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",  # a byte msgpack never uses
        b"\x92\x01\x02",  # a list, not a map
        raw(type="candidate_error", seq=0, pc_id=1, info=error_fields(), extra=1),
        raw(type="no_such_type", seq=0),
        raw(type="gather", seq=0, pc_id=1, configuration={}, options={}),  # wrong direction
        raw(type="candidate_error", pc_id=1, info=error_fields()),  # no seq
        raw(type="candidate_error", seq=-1, pc_id=1, info=error_fields()),
        raw(type="candidate_error", seq=0, pc_id="1", info=error_fields()),
        raw(type="candidate_error", seq=0, pc_id=True, info=error_fields()),
        raw(type="candidate_error", seq=0, pc_id=1, info=error_fields(port=70000)),
        raw(type="candidate_error", seq=0, pc_id=1, info=error_fields(error_code=299)),
        raw(type="candidate_error", seq=0, pc_id=1, info=error_fields(error_code=800)),
        raw(type="candidate_error", seq=0, pc_id=1, info=error_fields(error_text="")),
        raw(type="candidate_error", seq=0, pc_id=1, info=error_fields(error_text="x" * 10_000)),
        raw(type="candidate_error", seq=0, pc_id=1, info=error_fields(address="not an address")),
        raw(type="candidate_error", seq=0, pc_id=1, info=error_fields(address="", port=50000)),
        raw(type="candidate_error", seq=0, pc_id=1, info=error_fields(port=0)),
        raw(type="candidate_error", seq=0, pc_id=1, info=error_fields(cause="the server is evil")),
        raw(type="candidate_error", seq=0, pc_id=1, info=error_fields(cause="dns")),  # 401 is a server's
        raw(type="candidate_error", seq=0, pc_id=1, info=error_fields(error_code=701)),  # 701 is not
        raw(type="candidate_error", seq=0, pc_id=1, info={k: v for k, v in error_fields().items() if k != "url"}),
        raw(type="candidate", seq=0, pc_id=1, info={"candidate": "candidate:garbage", "url": "", "relay_protocol": ""}),
        raw(type="gathering_state", seq=0, pc_id=1, state="new"),
        raw(type="draining", seq=0, cause="the server is evil", paths=["/etc/hosts"]),
        raw(type="draining", seq=0, cause="resolver_files_replaced", paths=[""]),
        raw(type="draining", seq=0, cause="resolver_files_replaced", paths=["/etc/hosts"] * 17),
        raw(type="draining", seq=0, cause="resolver_files_replaced", paths="/etc/hosts"),
        raw(
            type="server_answer",
            seq=0,
            pc_id=1,
            info={"address": "::1", "port": 1, "url": "stun:x", "rtt_ms": float("nan")},
        ),
        raw(type="server_answer", seq=0, pc_id=1, info={"address": "", "port": 0, "url": "stun:x", "rtt_ms": 1.0}),
        raw(type="relay_check", seq=0, pc_id=1, info=relay_fields(out_received=7)),  # more than sent
        raw(type="relay_check", seq=0, pc_id=1, info=relay_fields(out_source_address="")),  # received from nowhere
        raw(type="relay_check", seq=0, pc_id=1, info=relay_fields(rtt_ms=0.5)),  # nothing came back to time
        raw(type="relay_check", seq=0, pc_id=1, info=relay_fields(error_code=403)),  # refused which request?
        raw(type="relay_check", seq=0, pc_id=1, info=relay_fields(failed_request="Allocate", error_code=403)),
        raw(type="relay_check", seq=0, pc_id=1, info=relay_fields(back_cause="the relay is evil")),
        raw(type="relay_check", seq=0, pc_id=1, info=relay_fields(probes=0, out_received=0, out_source_address="",
                                                                  out_source_port=0)),  # no probe, no reason
        raw(type="relay_check", seq=0, pc_id=1, info=relay_fields(relayed_address="")),
        raw(type="relay_check", seq=0, pc_id=1, info=relay_fields(channel_out_received=2)),  # not the total
        raw(type="relay_check", seq=0, pc_id=1, info=relay_fields(stray_probes=13)),  # more strays than probes
        raw(type="relay_check", seq=0, pc_id=1, info=relay_fields(not_checked_reason="relayed_out_of_scope")),
        raw(type="relay_check", seq=0, pc_id=1, info=relay_fields(failed_request="ChannelBind", error_code=701,
                                                                  error_cause="server_error")),  # which way?
        b"\x82" + b"\x00" * 100,  # a map whose keys are integers
        msgpack.packb({"type": "gathering_state", "seq": 0, "pc_id": 1, "state": "complete", "pad": b"x" * 300_000}),
    ],
)
def test_the_main_process_refuses_malformed_messages(data):
    with pytest.raises(ProtocolError):
        list(decode_to_main(data))


@pytest.mark.parametrize(
    "configuration",
    [
        {"iceServers": [{"urls": "http://x"}]},
        {"iceServers": [{"urls": "turn:t.example"}]},  # no credentials
        {"iceServers": "stun:x"},
    ],
)
def test_the_transport_refuses_a_gather_request_with_an_invalid_configuration(configuration):
    options = {
        "schedule": {"initial_rto": 0.5, "max_sends": 5, "final_wait": 4},
        "local_addresses": [],
        "verify_tls": True,
    }
    with pytest.raises(ProtocolError):
        list(decode_to_transport(raw(type="gather", seq=0, pc_id=1, configuration=configuration, options=options)))


def test_a_refused_credential_never_appears_in_the_protocol_error():
    bad = {"iceServers": [{"urls": "turn:alice:hunter2@t.example", "username": "alice", "credential": "hunter2"}]}
    options = {
        "schedule": {"initial_rto": 0.5, "max_sends": 5, "final_wait": 4},
        "local_addresses": [],
        "verify_tls": True,
    }
    with pytest.raises(ProtocolError) as caught:
        list(decode_to_transport(raw(type="gather", seq=0, pc_id=1, configuration=bad, options=options)))
    assert "hunter2" not in str(caught.value)


def test_sequence_checker_refuses_replays_and_reports_each_gap_once():
    checker = SequenceChecker()
    outcomes = []
    for seq in (0, 1, 1, 0, 4, 5, 3):
        try:
            checker.check(seq)
            outcomes.append("ok")
        except ProtocolError as exc:
            outcomes.append(str(exc))
    assert outcomes == [
        "ok",
        "ok",
        "sequence number 1 was already used",
        "sequence number 0 was already used",
        "2 message(s) lost before sequence number 4",
        "ok",
        "sequence number 3 was already used",
    ]
    assert checker.lost == 2  # 2 and 3 never arrived in order


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_escape_the_decoder_as_anything_but_protocol_error(data):
    for decode in (decode_to_main, decode_to_transport):
        with contextlib.suppress(ProtocolError):
            list(decode(data))


json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=40)
    | st.binary(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(messages.TO_MAIN) + sorted(messages.TO_TRANSPORT)),
    st.dictionaries(
        st.sampled_from(
            [
                "pc_id",
                "info",
                "state",
                "reason",
                "pid",
                "protocol_version",
                "configuration",
                "options",
                "address",
                "port",
                "url",
                "error_code",
                "error_text",
                "candidate",
            ]
        ),
        json_like,
        max_size=6,
    ),
)
def test_well_framed_messages_with_random_fields_are_decoded_or_refused_cleanly(kind, fields):
    data = msgpack.packb({"type": kind, "seq": 0, **fields})
    for decode in (decode_to_main, decode_to_transport):
        with contextlib.suppress(ProtocolError):
            list(decode(data))




# A value nested as deep as msgpack unpacks (1,023 levels) but deeper than the stack frames a
# process has (Python's limit is 1,000): scripts/fuzz_protocol.py found that error messages
# quoting such a value (str, repr) raised RecursionError instead of ProtocolError.
DEEP = "deep: a list of a list of ... 1,015 levels deep"


def with_deep_value(message: dict) -> bytes:
    return msgpack.packb(message).replace(msgpack.packb(DEEP), b"\x91" * 1015 + b"\xc0")


def on_the_wire(message: messages.Message, **changes) -> dict:
    return {**msgpack.unpackb(encode(message, 0)), **changes}


def info_with(**changes) -> dict:
    message = on_the_wire(protocol.CandidateError(7, ERROR))
    return {**message, "info": {**message["info"], **changes}}


def gather_with(**configuration) -> dict:
    gather = next(message for message in TO_TRANSPORT if isinstance(message, protocol.Gather))
    return on_the_wire(gather, configuration=configuration)


@pytest.mark.parametrize(
    ("decode", "message"),
    [
        pytest.param(decode_to_main, {"type": DEEP, "seq": 0}, id="type, to the main process"),
        pytest.param(decode_to_transport, {"type": DEEP, "seq": 0}, id="type, to the transport"),
        pytest.param(decode_to_main, on_the_wire(protocol.Heartbeat(), seq=DEEP), id="seq"),
        pytest.param(decode_to_main, on_the_wire(protocol.GatheringState(7, "complete"), pc_id=DEEP), id="pc_id"),
        pytest.param(decode_to_main, on_the_wire(protocol.GatheringState(7, "complete"), state=DEEP), id="state"),
        pytest.param(decode_to_main, info_with(cause=DEEP), id="info.cause"),
        pytest.param(decode_to_main, info_with(url=DEEP), id="info.url"),
        pytest.param(decode_to_transport, gather_with(iceServers=[], iceTransportPolicy=DEEP), id="policy"),
        pytest.param(decode_to_transport, gather_with(iceServers=[], iceCandidatePoolSize=DEEP), id="pool size"),
        pytest.param(decode_to_transport, gather_with(iceServers=[{"urls": DEEP}]), id="urls"),
        pytest.param(
            decode_to_transport, gather_with(iceServers=[{"urls": "stun:s.example", "username": DEEP}]), id="username"
        ),
    ],
)
def test_a_value_nested_as_deep_as_msgpack_allows_is_refused_as_a_protocol_error(decode, message):
    data = with_deep_value(message)
    assert DEEP.encode() not in data  # the value is nested, not the marker text

    with pytest.raises(ProtocolError):
        list(decode(data))
