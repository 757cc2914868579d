"""NAT behaviour (RFC 4787 terms, RFC 5780 tests): the classifier on hand-made records, which tests
the transport plans, the real command line against coturn with RFC 5780 on loopback (no NAT) and
against scripted servers, and behind a real NAT in network namespaces (``nat_namespaces``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from aioice import stun
from commands import ICEGATHER
from local_coturn import Coturn, local_coturn
from nat_namespaces import CLIENT, PUBLIC, SERVERS, nat
from stun_servers import ScriptedStunServer, response

from icegather.main_proc.diagnosis.addresses.nat_behaviour import nat_behaviour
from icegather.transport_proc.stun import nat_tests

# Hand-made records of the socket behind the namespaces' NAT, to its internet's servers.
HOST = (CLIENT, 40000)
PRIMARY, OTHER = (SERVERS[0], 3478), (SERVERS[1], 3479)


def answer(server: tuple[str, int], mapped: tuple[str, int] | None, host: tuple[str, int] = HOST) -> dict[str, Any]:
    return {
        "type": "iceserveranswer", "url": f"stun:{server[0]}:{server[1]}", "serverIndex": 0,
        "address": host[0], "port": host[1], "rttMs": 1.0, "serverAddress": server[0], "serverPort": server[1],
        "mappedAddress": mapped[0] if mapped else None, "mappedPort": mapped[1] if mapped else None,
        "otherAddress": OTHER[0], "otherPort": OTHER[1], "timeMs": 1.0,
    }


def nat_test(test: str, server: tuple[str, int], source: tuple[str, int] | None,
             mapped: tuple[str, int] = (PUBLIC, 50000), host: tuple[str, int] = HOST) -> dict[str, Any]:
    return {
        "type": "icenattest", "url": f"stun:{PRIMARY[0]}:{PRIMARY[1]}", "serverIndex": 0,
        "address": host[0], "port": host[1], "test": test, "serverAddress": server[0], "serverPort": server[1],
        "answered": source is not None, "sourceAddress": source[0] if source else None,
        "sourcePort": source[1] if source else None, "mappedAddress": mapped[0] if source else None,
        "mappedPort": mapped[1] if source else None, "timeMs": 2.0,
    }


def mapping_of(*records: dict[str, Any]) -> str:
    return nat_behaviour(records).mapping


def test_a_mapped_address_equal_to_the_socket_is_no_nat() -> None:
    assert mapping_of(answer(PRIMARY, HOST)) == "none"


def test_one_answer_through_a_nat_does_not_tell_its_mapping() -> None:
    judged = nat_behaviour([answer(PRIMARY, (PUBLIC, 50000))])
    assert judged.mapping == "unknown"
    assert "no two answers from different server IP addresses" in judged.evidence


def test_the_same_mapping_towards_two_server_addresses_is_endpoint_independent() -> None:
    judged = nat_behaviour([answer(PRIMARY, (PUBLIC, 50000)), answer(("203.0.113.20", 3478), (PUBLIC, 50000))])
    assert judged.mapping == "endpoint-independent"
    assert "203.0.113.10:3478 and 203.0.113.20:3478" in judged.evidence


def test_the_same_mapping_towards_two_ports_of_one_address_does_not_rule_out_address_dependence() -> None:
    assert mapping_of(answer(PRIMARY, (PUBLIC, 50000)), answer((PRIMARY[0], 3479), (PUBLIC, 50000))) == "unknown"


def test_a_new_mapping_towards_another_address_is_address_dependent() -> None:
    judged = nat_behaviour([answer(PRIMARY, (PUBLIC, 50000)), answer(("203.0.113.20", 3478), (PUBLIC, 50001))])
    assert judged.mapping == "address-dependent"
    assert "whether it also depends on the port was not tested" in judged.evidence


def test_rfc5780_mapping_tests_tell_address_dependent_from_address_and_port_dependent() -> None:
    first = answer(PRIMARY, (PUBLIC, 50000))
    to_other_ip = nat_test("mapping_other_address", (OTHER[0], PRIMARY[1]), (OTHER[0], PRIMARY[1]), (PUBLIC, 50001))
    same_again = nat_test("mapping_other_address_port", OTHER, OTHER, (PUBLIC, 50001))
    new_again = nat_test("mapping_other_address_port", OTHER, OTHER, (PUBLIC, 50002))
    assert mapping_of(first, to_other_ip, same_again) == "address-dependent"
    assert mapping_of(first, to_other_ip, new_again) == "address-and-port-dependent"
    assert mapping_of(first, nat_test("mapping_other_address", (OTHER[0], PRIMARY[1]), (OTHER[0], PRIMARY[1]),
                                      (PUBLIC, 50000))) == "endpoint-independent"


def test_answers_without_a_mapped_address_and_other_records_are_not_evidence() -> None:
    allocate = answer(("203.0.113.20", 3478), None)
    unanswered = nat_test("mapping_other_address", (OTHER[0], PRIMARY[1]), None)
    judged = nat_behaviour([{"type": "icegatheringstatechange", "state": "gathering", "timeMs": 0.0},
                            answer(PRIMARY, (PUBLIC, 50000)), allocate, unanswered])
    assert (judged.mapping, judged.filtering) == ("unknown", "unknown")


def test_no_records_tell_nothing() -> None:
    judged = nat_behaviour([])
    assert (judged.mapping, judged.filtering) == ("unknown", "unknown")
    assert "nothing to judge it from" in judged.evidence


def test_sockets_that_disagree_report_the_most_dependent_and_say_so() -> None:
    v6_host = ("2001:db8::2", 40000)
    judged = nat_behaviour([
        answer(PRIMARY, (PUBLIC, 50000)), answer(("203.0.113.20", 3478), (PUBLIC, 50001)),
        answer(("2001:db8::10", 3478), v6_host, host=v6_host),
    ])
    assert judged.mapping == "address-dependent"
    assert "the sockets disagree" in judged.evidence
    assert "[2001:db8::2]:40000 none" in judged.evidence


def test_a_nat_of_unknown_kind_beside_a_socket_without_one_is_not_reported_as_none() -> None:
    v6_host = ("2001:db8::2", 40000)
    assert mapping_of(answer(PRIMARY, (PUBLIC, 50000)), answer(("2001:db8::10", 3478), v6_host, host=v6_host)) \
        == "unknown"


CHANGE_BOTH, CHANGE_PORT = "filtering_change_address_port", "filtering_change_port"


@pytest.mark.parametrize(("both_source", "port_source", "filtering"), [
    (OTHER, None, "endpoint-independent"),
    (None, (PRIMARY[0], OTHER[1]), "address-dependent"),
    (None, None, "address-and-port-dependent"),
    # A server that ignored CHANGE-REQUEST answers from where the request went: that proves nothing.
    (PRIMARY, PRIMARY, "unknown"),
    (PRIMARY, None, "unknown"),
])
def test_filtering_is_judged_by_where_the_change_request_answers_came_from(
        both_source: tuple[str, int] | None, port_source: tuple[str, int] | None, filtering: str) -> None:
    judged = nat_behaviour([answer(PRIMARY, (PUBLIC, 50000)), nat_test(CHANGE_BOTH, PRIMARY, both_source),
                            nat_test(CHANGE_PORT, PRIMARY, port_source)])
    assert judged.filtering == filtering


def test_silence_from_the_other_address_proves_no_filtering_nat_where_no_nat_maps_the_socket() -> None:
    judged = nat_behaviour([answer(PRIMARY, HOST), nat_test(CHANGE_BOTH, PRIMARY, None),
                            nat_test(CHANGE_PORT, PRIMARY, None)])
    assert (judged.mapping, judged.filtering) == ("none", "unknown")
    assert "a firewall here, or an other address that does not answer" in judged.evidence


def test_one_unanswered_change_request_test_alone_does_not_tell_the_filtering() -> None:
    assert nat_behaviour([nat_test(CHANGE_BOTH, PRIMARY, None)]).filtering == "unknown"


def test_filtering_of_sockets_that_disagree_is_the_most_dependent() -> None:
    other_host = ("198.51.100.3", 40001)
    judged = nat_behaviour([
        nat_test(CHANGE_BOTH, PRIMARY, OTHER),
        nat_test(CHANGE_BOTH, PRIMARY, None, host=other_host), nat_test(CHANGE_PORT, PRIMARY, None, host=other_host),
    ])
    assert judged.filtering == "address-and-port-dependent"
    assert "the sockets disagree" in judged.evidence


# --- which tests the transport sends (sans-IO) ----------------------------------------------

@pytest.mark.parametrize(("other", "usable"), [
    (("127.0.0.2", 3479), True),
    (("127.0.0.1", 3479), False),  # the server's own IP: it cannot change address
    (("127.0.0.2", 3478), False),  # the server's own port: it cannot change port
    (("127.0.0.2", 0), False),
    (("::2", 3479), False),  # not the socket's family
    (("10.0.0.1", 3479), False),  # private, from a loopback server: another network
    (None, False),
])
def test_the_tests_go_only_to_an_other_address_in_the_servers_scope_and_family(other: Any, usable: bool) -> None:
    assert (nat_tests.usable_other_address(other, ("127.0.0.1", 3478)) is not None) == usable


def test_change_request_asks_for_another_address_and_port_in_rfc5780s_bits() -> None:
    change_both, change_port = nat_tests.filtering_tests(("203.0.113.10", 3478), ("203.0.113.11", 3479))
    assert b"\x00\x03\x00\x04\x00\x00\x00\x06" in bytes(nat_tests.request(change_both))
    assert b"\x00\x03\x00\x04\x00\x00\x00\x02" in bytes(nat_tests.request(change_port))
    assert change_port.answer_from == ("203.0.113.10", 3479)
    mapping = nat_tests.mapping_tests(("203.0.113.10", 3478), ("203.0.113.11", 3479))
    assert [(test.destination, test.change) for test in mapping] == [
        (("203.0.113.11", 3478), 0), (("203.0.113.11", 3479), 0),
    ]
    assert "CHANGE-REQUEST" not in stun.parse_message(bytes(nat_tests.request(mapping[0]))).attributes


def test_aioice_knows_rfc5780s_attributes_by_their_numbers() -> None:
    # The parser decodes OTHER-ADDRESS, and requests encode CHANGE-REQUEST, with aioice's table.
    assert stun.ATTRIBUTES_BY_TYPE[0x802C][1] == "OTHER-ADDRESS"
    assert stun.ATTRIBUTES_BY_TYPE[0x802C][3] is stun.unpack_address
    assert stun.ATTRIBUTES_BY_TYPE[0x0003][1] == "CHANGE-REQUEST"


# --- the command line, on loopback -----------------------------------------------------------

FAST = ("--json", "--rto", "0.05", "--max-sends", "2", "--final-wait", "2")


def cli_records(*argv: str, command: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    result = subprocess.run([*command, ICEGATHER, *FAST, *argv], capture_output=True, text=True, timeout=60)
    assert result.stderr == ""
    return [json.loads(line) for line in result.stdout.splitlines()]


def of_type(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [record for record in records if record["type"] == kind]


@pytest.fixture(scope="module")
def rfc5780_coturn() -> Iterator[Coturn]:
    with local_coturn(other_host="127.0.0.2") as turn:
        yield turn


def test_coturn_on_two_addresses_answers_the_tests_and_loopback_has_no_nat(rfc5780_coturn: Coturn) -> None:
    port = rfc5780_coturn.port
    records = cli_records("--server", rfc5780_coturn.url("stun"), "--local-address", "127.0.0.1")
    [answer] = of_type(records, "iceserveranswer")
    host = (answer["address"], answer["port"])
    assert (answer["serverPort"], answer["mappedAddress"], answer["mappedPort"]) == (port, *host)
    assert (answer["otherAddress"], answer["otherPort"]) == ("127.0.0.2", port + 1)
    # The other address mapped as the first did, so its other port was not needed.
    assert sorted((t["test"], t["serverAddress"], t["serverPort"], t["sourceAddress"], t["sourcePort"],
                   (t["mappedAddress"], t["mappedPort"])) for t in of_type(records, "icenattest")) == [
        ("filtering_change_address_port", "127.0.0.1", port, "127.0.0.2", port + 1, host),
        ("filtering_change_port", "127.0.0.1", port, "127.0.0.1", port + 1, host),
        ("mapping_other_address", "127.0.0.2", port, "127.0.0.2", port, host),
    ]
    judged = nat_behaviour(records)
    assert (judged.mapping, judged.filtering) == ("none", "endpoint-independent")
    [summary] = of_type(records, "summary")
    assert (summary["natMapping"], summary["natFiltering"]) == ("none", "endpoint-independent")


def test_without_the_option_nothing_beyond_the_browsers_binding_is_sent(rfc5780_coturn: Coturn) -> None:
    records = cli_records("--server", rfc5780_coturn.url("stun"), "--local-address", "127.0.0.1",
                          "--no-nat-behaviour")
    assert of_type(records, "iceserveranswer")[0]["otherAddress"] == "127.0.0.2"
    assert of_type(records, "icenattest") == []
    assert of_type(records, "summary")[0]["natFiltering"] == "unknown"


def test_coturn_without_rfc5780_names_no_other_address_and_gets_no_test() -> None:
    with local_coturn(other_host="127.0.0.2", extra_args=("--no-rfc5780",)) as turn:
        records = cli_records("--server", turn.url("stun"), "--local-address", "127.0.0.1")
    assert of_type(records, "iceserveranswer")[0]["otherAddress"] is None
    assert of_type(records, "icenattest") == []


def names_other_address(other: tuple[str, int]) -> Any:
    """A Binding server that answers every request from its own address, CHANGE-REQUEST or not,
    and names ``other`` as its OTHER-ADDRESS."""
    def script(request: stun.Message, source: tuple[str, int]) -> bytes:
        return bytes(response(request, stun.Class.RESPONSE, **{"XOR-MAPPED-ADDRESS": source, "OTHER-ADDRESS": other}))
    return script


def test_an_other_address_in_another_network_is_reported_but_never_sent_to() -> None:
    with ScriptedStunServer(names_other_address(("10.0.0.1", 3479))) as server:
        records = cli_records("--server", server.url(), "--local-address", "127.0.0.1")
    assert of_type(records, "iceserveranswer")[0]["otherAddress"] == "10.0.0.1"
    assert of_type(records, "icenattest") == []
    assert len(server.received) == 1


def test_answers_to_change_request_from_the_address_asked_prove_no_filtering(closed_udp_port: int) -> None:
    with ScriptedStunServer(names_other_address(("127.0.0.2", closed_udp_port))) as server:
        records = cli_records("--server", server.url(), "--local-address", "127.0.0.1")
    assert sorted(r.request.attributes.get("CHANGE-REQUEST", 0) for r in server.received) == [0, 2, 6]
    tests = of_type(records, "icenattest")
    assert sorted((t["test"], t["answered"], t["sourceAddress"]) for t in tests) == [
        ("filtering_change_address_port", True, "127.0.0.1"),
        ("filtering_change_port", True, "127.0.0.1"),
        ("mapping_other_address", False, None),  # nothing listens at the other address
    ]
    assert of_type(records, "summary")[0]["natFiltering"] == "unknown"


# --- behind a real NAT -------------------------------------------------------------------------

needs_namespaces = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None,
                                      reason="a NAT in network namespaces needs root and nftables")
# Two STUN URLs and no RFC 5780 test, or one URL and RFC 5780's tests.
TWO_URLS = ("--no-nat-behaviour", "--server", f"stun:{SERVERS[0]}:{{port}}", "--server", f"stun:{SERVERS[1]}:{{port}}")
RFC5780 = ("--server", f"stun:{SERVERS[0]}:{{port}}")


def behind_nat(fully_random: bool, how: tuple[str, ...]) -> list[dict[str, Any]]:
    """The command line's records, run in the client namespace of a fresh NAT."""
    with nat(fully_random) as made:
        argv = [arg.format(port=made.turn.port) for arg in how]
        return cli_records("--local-address", CLIENT, *argv, command=tuple(made.command()))


@needs_namespaces
@pytest.mark.parametrize("how", [TWO_URLS, RFC5780], ids=["two-urls", "rfc5780"])
def test_plain_masquerade_maps_endpoint_independently_to_the_routers_address(how: tuple[str, ...]) -> None:
    records = behind_nat(False, how)
    srflx = [c for c in of_type(records, "icecandidate") if c.get("candidateType") == "srflx"]
    assert len(srflx) == 1 and srflx[0]["address"] == PUBLIC
    [summary] = of_type(records, "summary")
    assert summary["natMapping"] == nat_behaviour(records).mapping == "endpoint-independent"
    assert summary["natFiltering"] == ("address-and-port-dependent" if how == RFC5780 else "unknown")
    assert summary["diagnosis"]["findings"] == []


@needs_namespaces
@pytest.mark.parametrize(("how", "mapping"), [(TWO_URLS, "address-dependent"), (RFC5780, "address-and-port-dependent")],
                         ids=["two-urls", "rfc5780"])
def test_fully_random_masquerade_is_a_symmetric_nat(how: tuple[str, ...], mapping: str) -> None:
    records = behind_nat(True, how)
    mapped = {(r["mappedAddress"], r["mappedPort"]) for r in records if r.get("mappedAddress")}
    assert {address for address, _ in mapped} == {PUBLIC} and len(mapped) >= 2
    [summary] = of_type(records, "summary")
    assert summary["natMapping"] == nat_behaviour(records).mapping == mapping
    [finding] = summary["diagnosis"]["findings"]
    assert finding["cause"] == "symmetric nat"
    assert f"{mapping} mapping" in finding["finding"]
