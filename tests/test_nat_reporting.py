"""The NAT on the main process's side: the facts of a STUN answer and of an RFC 5780 test as
events and records, the summary's mapping and filtering, the symmetric-NAT finding said once,
and the command line's tests on by default (the API's off, as browsers do)."""

from __future__ import annotations

import dataclasses
import json

from icegather.main_proc.commands.cli_options import gather_options
from icegather.main_proc.commands.cli_parser import build_parser
from icegather.main_proc.diagnosis.addresses.address_rules import address_findings
from icegather.main_proc.diagnosis.servers.outcomes import server_outcomes
from icegather.main_proc.diagnosis.verdicts import diagnose
from icegather.main_proc.dom.icegather_events import IceNatTestEvent, IceServerAnswerEvent
from icegather.main_proc.dom.peerconnection import answer_event_init, nat_test_event_init
from icegather.main_proc.views.report import RECORD_FIELDS, Tally, answer_record, nat_test_record, summary_record
from icegather.main_proc.views.text_lines import format_line
from icegather.shared.config.gather_options import GatherOptions
from icegather.shared.config.ice_url import parse_ice_url
from icegather.shared.structs import NatTestInfo, ServerAnswerInfo

HOST = ("10.0.0.2", 40000)


def answer(url: str, entry: int, server: tuple[str, int], mapped: tuple[str, int]) -> dict:
    info = ServerAnswerInfo(HOST[0], HOST[1], url, 0.4, server[0], entry, server_port=server[1],
                            mapped_address=mapped[0], mapped_port=mapped[1])
    return answer_record(IceServerAnswerEvent("iceserveranswer", answer_event_init(info)), 5.0)


def srflx(url: str, entry: int, mapped: tuple[str, int]) -> dict:
    return {"type": "icecandidate", "candidate": "candidate:1 1 udp 1 x 1 typ srflx", "candidateType": "srflx",
            "url": url, "serverIndex": entry, "address": mapped[0], "port": mapped[1], "relatedAddress": HOST[0],
            "relatedPort": HOST[1]}


def symmetric_run() -> list[dict]:
    """Two STUN servers on two addresses, each seeing the socket from another port of the NAT."""
    return [
        answer("stun:198.51.100.1", 0, ("198.51.100.1", 3478), ("203.0.113.9", 1001)),
        srflx("stun:198.51.100.1", 0, ("203.0.113.9", 1001)),
        answer("stun:198.51.100.2", 1, ("198.51.100.2", 3478), ("203.0.113.9", 1002)),
        srflx("stun:198.51.100.2", 1, ("203.0.113.9", 1002)),
    ]


def outcomes_of(records: list[dict], mapping: str):
    urls = [(0, parse_ice_url("stun:198.51.100.1")), (1, parse_ice_url("stun:198.51.100.2"))]
    return server_outcomes(urls, records, nat_mapping=mapping)


def test_a_stun_answer_record_carries_the_server_port_mapped_and_other_address_null_where_absent():
    info = ServerAnswerInfo("10.0.0.2", 40000, "stun:198.51.100.1", 0.4, "198.51.100.1", 0, 3478, "203.0.113.9",
                            1001, "198.51.100.2", 3479)
    allocate = dataclasses.replace(info, mapped_address="", mapped_port=0, other_address="", other_port=0)

    record = answer_record(IceServerAnswerEvent("iceserveranswer", answer_event_init(info)), 5.0)
    bare = answer_record(IceServerAnswerEvent("iceserveranswer", answer_event_init(allocate)), 5.0)

    assert tuple(record) == RECORD_FIELDS["iceserveranswer"]
    assert [record[k] for k in ("serverPort", "mappedAddress", "mappedPort", "otherAddress", "otherPort")] == [
        3478, "203.0.113.9", 1001, "198.51.100.2", 3479]
    assert [bare[k] for k in ("mappedAddress", "mappedPort", "otherAddress", "otherPort")] == [None] * 4


def test_an_unanswered_nat_test_is_a_record_with_nulls_and_a_line_that_says_so():
    info = NatTestInfo("10.0.0.2", 40000, "stun:198.51.100.1", "filtering_change_port", "198.51.100.1", 3478,
                       False, "", 0, "", 0)

    record = nat_test_record(IceNatTestEvent("icenattest", nat_test_event_init(info)), 7.0)

    assert tuple(record) == RECORD_FIELDS["icenattest"]
    assert (record["answered"], record["sourceAddress"], record["mappedPort"]) == (False, None, None)
    assert "nat test filtering_change_port to 198.51.100.1:3478: no answer  stun:198.51.100.1" in format_line(record)


def test_a_dependent_mapping_is_one_symmetric_nat_finding_in_rfc_4787_words_on_the_first_url_with_a_srflx():
    outcomes = outcomes_of(symmetric_run(), "address-dependent")

    findings = [f for o in outcomes for f in address_findings(o)]

    [finding] = findings
    assert (finding.url, finding.cause) == ("stun:198.51.100.1", "symmetric nat")
    assert "address-dependent mapping (RFC 4787: a symmetric NAT)" in finding.finding
    assert "direct connections to peers behind other NATs fail: TURN is needed" in finding.finding
    assert "203.0.113.9" in finding.finding
    assert diagnose(outcomes, finished=True).verdict == "unusable address"


def test_an_endpoint_independent_mapping_is_no_finding():
    outcomes = outcomes_of(symmetric_run(), "endpoint-independent")

    assert [f for o in outcomes for f in address_findings(o)] == []


def test_the_summary_gives_the_mapping_and_filtering_and_its_text_says_them_when_known():
    tally = Tally()
    for record in symmetric_run():
        tally.add(record)
    outcomes = outcomes_of(tally.records, "address-dependent")

    summary = summary_record(1, "now", tally, outcomes, diagnose(outcomes, finished=True), 1, None, 9.0)

    assert tuple(summary) == RECORD_FIELDS["summary"]
    assert (summary["natMapping"], summary["natFiltering"]) == ("address-dependent", "unknown")
    assert "nat: mapping address-dependent, filtering unknown (RFC 4787)" in format_line(json.loads(
        json.dumps(summary)))


def test_the_command_line_runs_the_nat_tests_unless_told_not_to_and_the_api_does_not():
    parser = build_parser()

    assert gather_options(parser.parse_args(["-s", "stun:x.invalid"])).nat_behaviour is True
    assert gather_options(parser.parse_args(["-s", "stun:x.invalid", "--no-nat-behaviour"])).nat_behaviour is False
    assert GatherOptions().nat_behaviour is False
