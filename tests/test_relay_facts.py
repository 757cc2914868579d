"""The relay check's sans-IO parts: where the peer socket is and where it may send, which
probes count where, what the facts mean, that a report always passes its schema, and how it
reads. The check against real servers: tests/test_relay_check.py, tests/test_relay_peers.py."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icegather.main_proc.diagnosis.relays.relay_causes import RELAY_CAUSES, explain_relay
from icegather.main_proc.diagnosis.servers.outcomes import ServerOutcome
from icegather.main_proc.dom.peerconnection import relay_check_event_init
from icegather.main_proc.views.report import RELAY_FIELDS
from icegather.main_proc.views.text_lines import relay_result
from icegather.shared.protocol.schemas import decoder_for
from icegather.shared.structs import RelayCheckInfo
from icegather.shared.vocabulary.relay_outcomes import BROKEN, RELAY_OUTCOMES, relay_outcome
from icegather.transport_proc.relay import check as relay_check
from icegather.transport_proc.relay import probes as relay_probes
from icegather.transport_proc.relay.check import PeerPlan, from_peer_address, plan_peer
from icegather.transport_proc.relay.probes import CheckedAllocation, FailedRequest, NotChecked, Probe, ProbeLog
from icegather.transport_proc.relay.scope import relayed_refusal
from icegather.transport_proc.relay.validation import validated

RELAYED = ("203.0.113.5", 50000)
ALLOCATION = CheckedAllocation(("192.0.2.2", 40000), "turn:t.example", RELAYED)
PEER = ("192.0.2.2", 41000)


def out(index: int, mechanism: str = "indication") -> Probe:
    return Probe("out", mechanism, index)  # type: ignore[arg-type]


def back(index: int, mechanism: str = "indication") -> Probe:
    return Probe("back", mechanism, index)  # type: ignore[arg-type]


# --- the peer socket and where the relay sees it ---------------------------------------------


def test_the_peer_is_the_clients_own_address_when_the_server_sees_it_unchanged():
    assert plan_peer("203.0.113.5", "192.0.2.2", "192.0.2.2", "203.0.113.1", ("192.0.2.2",)) == PeerPlan(
        "192.0.2.2", "192.0.2.2"
    )


def test_behind_a_nat_the_peer_is_seen_at_the_mapped_address():
    plan = plan_peer("203.0.113.5", "10.0.0.2", "198.51.100.7", "203.0.113.1", ("10.0.0.2",))
    assert plan == PeerPlan("10.0.0.2", "198.51.100.7") and plan.behind_nat


def test_no_nat_stands_between_this_machine_and_a_server_on_it():
    # coturn's external-ip rewrites the mapped address too when the client shares the relay's IP.
    assert plan_peer("127.0.0.77", "127.0.0.1", "127.0.0.77", "127.0.0.1", ("127.0.0.1",)) == PeerPlan(
        "127.0.0.1", "127.0.0.1"
    )
    assert plan_peer("192.0.2.9", "192.0.2.2", "198.51.100.7", "192.0.2.2", ("192.0.2.2",)) == PeerPlan(
        "192.0.2.2", "192.0.2.2"
    )


def test_a_relay_of_the_other_family_gets_a_peer_of_its_family_loopback_for_loopback():
    local = ("192.0.2.2", "2001:db8::2", "::1")
    assert plan_peer("::1", "127.0.0.1", "127.0.0.1", "127.0.0.1", local) == PeerPlan("::1", "::1")
    assert plan_peer("2001:db8::9", "192.0.2.2", "192.0.2.2", "192.0.2.9", local) == PeerPlan(
        "2001:db8::2", "2001:db8::2"
    )
    assert plan_peer("2001:db8::9", "192.0.2.2", None, "192.0.2.9", ("192.0.2.2",)) == NotChecked(
        "no_local_address", "no local IPv6 address for a peer socket"
    )


@pytest.mark.parametrize(
    ("relayed", "server", "reason"),
    [
        ("203.0.113.5", "127.0.0.1", "relayed_out_of_scope"),  # a loopback server pointing outwards
        ("127.0.0.1", "198.51.100.10", "relayed_out_of_scope"),  # a public server pointing at our loopback
        ("10.0.0.5", "198.51.100.10", "relayed_out_of_scope"),  # ... or at a private network around us
        ("169.254.169.254", "198.51.100.10", "relayed_out_of_scope"),  # ... or at a cloud metadata service
        ("fe80::1", "2001:db8::1", "relayed_out_of_scope"),
        ("224.0.0.1", "198.51.100.10", "relayed_not_unicast"),
        ("255.255.255.255", "198.51.100.10", "relayed_not_unicast"),
        ("0.0.0.0", "127.0.0.1", "relayed_not_unicast"),
        ("::", "::1", "relayed_not_unicast"),
        ("127.0.0.77", "127.0.0.1", None),  # coturn's external-ip on loopback: checked, and found wrong
        ("::1", "127.0.0.1", None),
        ("192.168.1.5", "10.0.0.1", None),
        ("198.51.100.20", "203.0.113.1", None),
    ],
)
def test_probes_go_only_to_a_unicast_relayed_address_in_the_servers_own_scope(relayed, server, reason):
    refusal = relayed_refusal(relayed, server)
    assert (refusal.reason if refusal else None) == reason
    if refusal is not None:
        assert plan_peer(relayed, "127.0.0.1", None, server, ("127.0.0.1", "::1")) == refusal


def test_relayed_data_is_from_the_peer_only_from_its_address_or_behind_a_nat_its_ip():
    assert from_peer_address(PEER, PEER, PEER[0])
    assert not from_peer_address(("192.0.2.2", 41001), PEER, PEER[0])
    assert not from_peer_address(None, PEER, PEER[0])
    assert from_peer_address(("198.51.100.7", 9), None, "198.51.100.7")  # the port is not known yet
    assert not from_peer_address(("198.51.100.8", 9), None, "198.51.100.7")


# --- probes -------------------------------------------------------------------------------


def test_only_this_checks_own_probes_count_once_each():
    log, other = ProbeLog(), ProbeLog()
    sent = log.send(out(0), at=1.0)
    other.send(out(0), at=1.0)

    assert log.at_peer(other.payload(out(0)), 1.1, RELAYED) is None  # another check's token
    assert log.at_peer(log.payload(out(1)), 1.1, RELAYED) is None  # never sent
    assert log.at_peer(sent + b"x", 1.1, RELAYED) is None
    assert log.at_peer(sent, 1.2, ("127.0.0.1", 5000)) == out(0)
    assert log.at_peer(sent, 1.3, ("127.0.0.9", 5000)) is None  # a duplicate
    assert (log.count("out"), log.out_source, log.stray) == (1, ("127.0.0.1", 5000), set())


def test_a_probe_counts_only_where_it_can_legitimately_arrive():
    log = ProbeLog()
    out_payload, back_payload = log.send(out(0), at=1.0), log.send(back(0), at=1.0)
    channel_back = log.send(back(3, "channel"), at=1.0)

    assert log.at_client(out_payload, 1.1, from_peer=True) is None  # reflected to the client
    assert log.at_peer(back_payload, 1.1, RELAYED) is None  # reflected to the peer
    assert log.at_client(channel_back, 1.1, from_peer=False) is None  # not the way the peer's data comes
    forged = channel_back[:-3] + b"i" + channel_back[-2:]  # its mechanism changed on the way
    assert log.at_client(forged, 1.1, from_peer=True) is None

    assert (log.count("out"), log.count("back"), log.out_source) == (0, 0, None)
    assert log.stray == {("out", 0), ("back", 0), ("back", 3)}
    assert log.at_client(channel_back, 1.2, from_peer=True) == back(3, "channel")  # the real one still counts


def test_the_relay_rtt_is_the_sum_of_the_median_one_way_delays():
    log = ProbeLog()
    for index, (there, again) in enumerate([(0.010, 0.020), (0.030, 0.040), (0.500, 0.060)]):
        log.at_peer(log.send(out(index), at=10.0), 10.0 + there, RELAYED)
        log.at_client(log.send(back(index), at=20.0), 20.0 + again, from_peer=True)

    assert log.rtt_ms() == pytest.approx(30.0 + 40.0)


def test_no_rtt_without_both_directions():
    log = ProbeLog()
    log.at_peer(log.send(out(0), at=1.0), 1.1, RELAYED)
    log.send(back(0), at=1.0)
    assert log.rtt_ms() is None


# Whatever turns up wherever, by whatever route: the report passes its schema as built.
ARRIVALS = st.lists(
    st.tuples(
        st.sampled_from(["out", "back"]), st.integers(0, 7), st.sampled_from(["indication", "channel"]),
        st.sampled_from([RELAYED, ("127.0.0.1", 1), "from the peer", "another way"]),
    ),
    max_size=60,
)


@given(arrivals=ARRIVALS, channels=st.booleans(), failed=st.sampled_from([None, 403, 701]))
def test_a_report_passes_its_schema_whatever_the_relay_sends_wherever(arrivals, channels, failed):
    log = ProbeLog()
    for index in range(6 if channels else 3):
        mechanism = "indication" if index < 3 else "channel"
        log.send(back(index, mechanism), at=1.0)
        log.send(out(index, mechanism), at=1.0)
    for direction, index, mechanism, where in arrivals:
        payload = log.payload(Probe(direction, mechanism, index))
        if isinstance(where, tuple):
            log.at_peer(payload, 2.0, where)
        else:
            log.at_client(payload, 2.0, from_peer=where == "from the peer")
    request = None if failed is None else FailedRequest(
        "ChannelBind", failed, "server_error" if failed < 700 else "answer_unverified", "text"
    )

    info = ALLOCATION.info(log, failed=request)

    assert info.not_checked_reason == ""  # not the fallback
    assert decoder_for(RelayCheckInfo)(dataclasses.asdict(info)) == info


def test_a_report_that_would_break_its_schema_is_replaced_by_an_internal_error_that_does_not():
    # What a reflected probe made before: an out probe received at no source.
    broken = dataclasses.replace(ALLOCATION.info(sent_and_received(6, 6)), out_source_address="", out_source_port=0)

    info = validated(broken)

    assert (info.not_checked_reason, info.probes, info.url, info.relayed_port) == (
        "internal_error", 0, "turn:t.example", RELAYED[1]
    )
    assert relay_outcome(decoder_for(RelayCheckInfo)(dataclasses.asdict(info))) == "not_checked"
    assert validated(ALLOCATION.info(sent_and_received(6, 6))) == ALLOCATION.info(sent_and_received(6, 6))


# --- outcomes -----------------------------------------------------------------------------


def sent_and_received(probes: int, arrived: int) -> ProbeLog:
    """A log with ``probes`` probes each way (indications, then channels) and the first
    ``arrived`` of each direction received, out from the relayed address."""
    log = ProbeLog()
    for index in range(probes):
        mechanism = "indication" if index < 3 else "channel"
        log.send(back(index, mechanism), at=1.0)
        log.send(out(index, mechanism), at=1.0)
    for index in range(arrived):
        mechanism = "indication" if index < 3 else "channel"
        log.at_peer(log.payload(out(index, mechanism)), 1.1, RELAYED)
        log.at_client(log.payload(back(index, mechanism)), 1.1, from_peer=True)
    return log


def facts(indication: tuple[int, int], channel: tuple[int, int], **changes: object) -> RelayCheckInfo:
    """A check's facts from (out, back) received with each mechanism, of 3 each way."""
    info = ALLOCATION.info(sent_and_received(6, 6))
    (io, ib), (co, cb) = indication, channel
    return dataclasses.replace(
        info, out_received=io + co, back_received=ib + cb, indication_out_received=io, indication_back_received=ib,
        channel_out_received=co, channel_back_received=cb, **changes,
    )


NOTHING = {"out_source_address": "", "out_source_port": 0, "rtt_ms": None}
ALL, NONE = (3, 3), (0, 0)


@pytest.mark.parametrize(
    ("info", "outcome"),
    [
        (facts(ALL, ALL), "works"),
        (facts((2, 3), (3, 1)), "works"),  # a probe lost here and there: the path is there
        (facts(ALL, ALL, out_source_address="10.0.0.5"), "wrong_source"),
        (facts((3, 0), (3, 0), rtt_ms=None), "out_only"),
        (facts((0, 3), (0, 3), **NOTHING), "back_only"),
        (facts(NONE, NONE, **NOTHING), "no_data"),
        (facts(NONE, NONE, stray_probes=12, **NOTHING), "reflected"),
        (facts(ALL, (0, 3)), "channel_out_dropped"),  # node-turn
        (facts(ALL, (3, 0)), "channel_back_dropped"),
        (facts((0, 3), ALL), "indication_out_dropped"),
        (facts((3, 0), ALL), "indication_back_dropped"),
        (facts(ALL, (0, 3), failed_request="ChannelBind", error_code=701, error_cause="answer_unverified",
               error_text="unverified"), "channel_out_dropped"),  # the data lost comes first
        (facts(ALL, ALL, failed_request="ChannelBind", error_code=701, error_cause="answer_unverified",
               error_text="unverified"), "channel_bind_failed"),
        (ALLOCATION.info(sent_and_received(3, 3), failed=FailedRequest("ChannelBind", 403, "server_error", "No")),
         "refused"),
        (ALLOCATION.info(sent_and_received(3, 3), failed=FailedRequest("ChannelBind", 701, "no_response", "none")),
         "channel_bind_failed"),
        (ALLOCATION.info(ProbeLog(), failed=FailedRequest("CreatePermission", 403, "server_error", "Forbidden")),
         "refused"),
        (ALLOCATION.info(ProbeLog(), failed=FailedRequest("CreatePermission", 701, "no_response", "none")),
         "request_failed"),
        (ALLOCATION.not_checked(NotChecked("relayed_out_of_scope", "elsewhere")), "not_checked"),
        # The server dropped the allocation: that explains the data lost after it, whatever it was.
        (facts((0, 1), NONE, failed_request="ChannelBind", error_code=438, error_cause="server_error",
               error_text="Wrong nonce, then 400 Bad Request", **NOTHING), "allocation_lost"),
        (ALLOCATION.info(ProbeLog(), failed=FailedRequest("CreatePermission", 437, "server_error", "Mismatch")),
         "allocation_lost"),
        (ALLOCATION.info(sent_and_received(3, 3), failed=FailedRequest("ChannelBind", 400, "server_error", "Bad")),
         "refused"),  # a 400 alone says nothing of the allocation
    ],
)
def test_each_outcome_follows_from_the_facts(info, outcome):
    assert decoder_for(RelayCheckInfo)(dataclasses.asdict(info)) == info  # facts a transport can send
    assert relay_outcome(info) == outcome


def test_the_outcome_table_covers_every_outcome_once_and_each_broken_one_has_a_cause():
    assert len(set(RELAY_OUTCOMES)) == len(RELAY_OUTCOMES) == 15
    assert set().union(*(cause.outcomes for cause in RELAY_CAUSES)) == BROKEN


@pytest.mark.parametrize(
    ("answers", "code", "text"),
    [
        # coturn, once it has closed the session: the old nonce is unknown, and the new one finds no allocation.
        ([(438, "Wrong nonce"), (400, "Bad Request")], 438, "Wrong nonce, then 400 Bad Request"),
        ([(437, "Allocation Mismatch")], 437, "Allocation Mismatch"),
        ([(438, "Stale Nonce"), (437, "Allocation Mismatch")], 437, "Allocation Mismatch (after 438 Stale Nonce)"),
    ],
)
def test_a_request_told_that_the_allocation_is_gone_reports_the_code_that_says_so(answers, code, text):
    failure = FailedRequest("ChannelBind", answers[-1][0], "server_error", answers[-1][1])

    reported = relay_probes.told_allocation_gone(failure, answers)
    assert reported == FailedRequest("ChannelBind", code, "server_error", text)


def test_a_server_that_renews_its_nonce_with_long_reasons_still_gets_a_report_that_passes_its_schema():
    answers = [(438, "n" * 127)] * 5  # the most renewals a session allows, then the last 438
    failed = relay_probes.told_allocation_gone(FailedRequest("ChannelBind", 438, "server_error", "n" * 127), answers)
    info = ALLOCATION.info(sent_and_received(3, 3), failed=failed)

    assert (validated(info), relay_outcome(info)) == (info, "allocation_lost")


@pytest.mark.parametrize(
    ("failure", "answers"),
    [
        (FailedRequest("CreatePermission", 403, "server_error", "Forbidden IP"), [(403, "Forbidden IP")]),
        (FailedRequest("ChannelBind", 400, "server_error", "Bad Request"), [(400, "Bad Request")]),
        # A fresh nonce, then silence: no answer says the allocation is gone.
        (FailedRequest("ChannelBind", 701, "no_response", "no response"), [(438, "Stale Nonce")]),
    ],
)
def test_other_failures_of_a_request_are_reported_as_they_are(failure, answers):
    assert relay_probes.told_allocation_gone(failure, answers) == failure


# --- how many probes -------------------------------------------------------------------------


def test_a_mechanism_that_carried_nothing_one_way_needs_its_second_round_unless_icmp_explains_the_way_back():
    log = sent_and_received(3, 0)
    assert log.carried_none("indication", back_explained=False) and not log.all_arrived("indication", False)
    log.at_peer(log.payload(out(0)), 1.1, RELAYED)
    assert log.carried_none("indication", back_explained=False)  # nothing back yet
    assert not log.carried_none("indication", back_explained=True)  # ICMP: nothing listens there
    log.at_client(log.payload(back(2)), 1.1, from_peer=True)
    assert not log.carried_none("indication", back_explained=False)


def test_behind_a_nat_the_out_probes_wait_for_the_back_probes_sent():
    log = ProbeLog()
    for index in range(3):
        log.send(back(index), at=1.0)
    log.send(out(0), at=1.0)
    assert log.outs_unsent() == [out(1), out(2)]


def test_a_false_dead_path_is_below_1e_4_per_check_at_10_percent_loss_per_crossing():
    # The arithmetic of docs/relay-check.md: each way crosses twice, and a path is called dead
    # when one of its 4 kinds (2 mechanisms, 2 ways) carried none of its probes, both rounds.
    lost_each_way = 1 - 0.9**2
    first_round, second_round = relay_check.PROBES_PER_KIND, relay_check.SECOND_ROUND_PROBES
    assert 1 - (1 - lost_each_way**first_round) ** 4 > 0.027  # one round: 2.7 %
    assert 4 * lost_each_way ** (first_round + second_round) < 2e-6  # 1.3e-6: well below 1e-4


# --- how it reads -------------------------------------------------------------------------


def record(info: RelayCheckInfo) -> dict:
    return relay_check_event_init(info)


def test_each_mechanism_is_shown_when_they_differ_and_the_totals_when_they_agree():
    node_turn = facts(ALL, (0, 3), failed_request="ChannelBind", error_code=701, error_cause="answer_unverified",
                      error_text="answered 2 times, unverified")
    line = relay_result({name: record(node_turn)[name] for name in RELAY_FIELDS})

    assert line.startswith("CHANNELDATA DROPPED: none from the client reached the peer; ChannelBind 701 ")
    assert "(203.0.113.5:50000: Send/Data 3/3 out, 3/3 back; ChannelData 0/3 out, 3/3 back, RTT" in line
    assert "(203.0.113.5:50000: 6/6 out, 6/6 back, RTT" in relay_result(record(facts(ALL, ALL)))
    assert ", 12 stray)" in relay_result(record(facts(NONE, NONE, stray_probes=12, **NOTHING)))


def test_an_allocation_lost_during_the_check_is_explained_with_the_servers_log_timeouts_and_quotas():
    outcome = ServerOutcome("turn:t.example", "turn", "udp", "t.example", True, 1.0, ("relay",), None, None, None)
    lost = facts((0, 1), NONE, failed_request="ChannelBind", error_code=438, error_cause="server_error",
                 error_text="Wrong nonce, then 400 Bad Request", **NOTHING)
    finding = explain_relay(outcome, record(lost))

    assert finding.cause == "relay allocation lost"
    assert "ChannelBind got 438 Wrong nonce, then 400 Bad Request" in finding.finding
    assert finding.next_check.startswith("the server's log")
    assert "timeouts" in finding.next_check and "quotas" in finding.next_check


def test_a_dead_channel_is_explained_without_naming_one_servers_options():
    outcome = ServerOutcome("turn:t.example", "turn", "udp", "t.example", True, 1.0, ("relay",), None, None, None)
    finding = explain_relay(outcome, record(facts(ALL, (0, 3))))

    assert finding.cause == "channel data dropped"
    assert "(0 of 3 out, 3 of 3 back)" in finding.finding and "(3 of 3 out, 3 of 3 back)" in finding.finding
    assert finding.next_check == "the server's ChannelData handling (RFC 8656 section 12)"
