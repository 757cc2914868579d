"""The summary tells the truth about each server: a row per configured URL of each iceServers
entry, per address family where a name's families differ, with what the server told of itself
(its software, how it took the IPv6 ask); UDP is blamed only where UDP alone fails; and what to
check is said in the server product's words, or in words that name no product. Real servers,
the real command line."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest
from local_coturn import local_coturn
from stun_servers import ScriptedStunServer, ScriptedTurnServer, another_transaction_id, never_answer
from test_diagnosis import DUAL_STACK, FAST, LOOPBACK, TURN_USER, Scenario, summary_of

from icegather.main_proc.commands.cli import run
from icegather.main_proc.diagnosis.addresses.address_rules import ADDRESS_RULES
from icegather.main_proc.diagnosis.relays.relay_causes import RELAY_CAUSES
from icegather.main_proc.diagnosis.server_products import PRODUCTS
from icegather.main_proc.diagnosis.servers.causes import CAUSES, explain_failure
from icegather.main_proc.diagnosis.servers.outcomes import ServerOutcome
from icegather.main_proc.diagnosis.verdicts import diagnose
from icegather.main_proc.exporter.probe_metrics import ProbeCollector
from icegather.main_proc.observed_round import RoundResult
from icegather.main_proc.views.report import Tally
from icegather.main_proc.views.text_lines import NOTE_WORDS
from icegather.shared.vocabulary.server_notes import SERVER_NOTES

COTURN_SOFTWARE = "Coturn-4.6.1 'Gorst'"


def text_of(scenario: Scenario, tmp_path) -> tuple[int, str]:
    """The command's output for a person."""
    config = tmp_path / "ice.json"
    config.write_text(json.dumps({"iceServers": scenario.servers}))
    out, err = io.StringIO(), io.StringIO()
    status = run([*FAST, *scenario.flags, "--config", str(config)], out, err)
    assert err.getvalue() == ""
    return status, out.getvalue()


# --- a row per entry ---------------------------------------------------------------------


def test_the_same_url_in_two_entries_is_two_rows_one_relaying_and_one_refused(coturn, tmp_path):
    scenario = Scenario([coturn.ice_server("turn"), coturn.ice_server("turn", password="wrong")])

    status, summary = summary_of(scenario, tmp_path)
    _, text = text_of(scenario, tmp_path)

    good, refused = summary["servers"]
    assert (good["entry"], good["errorCode"], good["gained"]) == (0, None, ["relay"])
    assert [relay["outcome"] for relay in good["relays"]] == ["works"]
    assert (refused["entry"], refused["errorCode"], refused["gained"]) == (1, 401, [])
    [finding] = summary["diagnosis"]["findings"]
    assert (finding["url"], finding["entry"], finding["cause"]) == (coturn.url(), 1, "credentials")
    assert status == 1
    # The entry is shown because the URL repeats.
    assert f"  {coturn.url()} (iceServers[0])  ok, answered in " in text
    assert f"  {coturn.url()} (iceServers[1])  FAILED 401 Unauthorized (answered in " in text
    assert f"  {coturn.url()} (iceServers[1]): the TURN server refused the username or credential" in text


def test_the_exporter_gives_each_entry_of_a_repeated_url_a_series_of_its_own():
    good = ServerOutcome("turn:t.example", "turn", "udp", "t.example", True, 1.0, ("relay",), None, None, None)
    refused = dataclasses.replace(good, gained=(), error_code=401, error_text="Unauthorized",
                                  error_cause="signed_request_refused", entry=1)
    result = RoundResult(Tally(), (good, refused), diagnose((good, refused), finished=True), None, 1.0)

    samples = [(sample.name, sample.labels) for metric in ProbeCollector(result, 0.1, per_url=True).collect()
               for sample in metric.samples if sample.name.startswith("icegather_server")]

    assert len({(name, tuple(sorted(labels.items()))) for name, labels in samples}) == len(samples)
    assert ("icegather_server_up", {"url": "turn:t.example (iceServers[0])"}) in samples
    assert ("icegather_server_failure", {"url": "turn:t.example (iceServers[1])", "cause": "credentials"}) in samples


def test_what_the_transport_reports_names_the_entry_of_its_url(coturn, tmp_path):
    _, text = text_of(Scenario([coturn.ice_server("turn"), coturn.ice_server("turn", password="wrong")],
                               [*LOOPBACK, "--json", "--trace"]), tmp_path)
    records = [json.loads(line) for line in text.splitlines()]

    entries = {(r["type"], r.get("candidateType"), r["serverIndex"]) for r in records if r.get("url")}
    assert {("icecandidate", "relay", 0), ("icerelaycheck", None, 0), ("icecandidateerror", None, 1)} <= entries
    assert {("iceserveranswer", None, 0), ("iceserveranswer", None, 1), ("icetransaction", None, 1)} <= entries
    [error] = [r for r in records if r["type"] == "icecandidateerror"]
    assert error["serverAddress"] == "127.0.0.1"
    [host] = [r for r in records if r["type"] == "icecandidate" and r.get("candidateType") == "host"]
    assert (host["url"], host["serverIndex"]) == (None, None)


# --- per address family ------------------------------------------------------------------


def test_a_name_whose_server_listens_on_ipv4_only_answers_over_ipv4_and_is_closed_over_ipv6(coturn, tmp_path):
    # coturn listens on 127.0.0.1 only; localhost is 127.0.0.1 and ::1, both local addresses here.
    scenario = Scenario([{"urls": f"stun:localhost:{coturn.port}"}], DUAL_STACK)

    status, summary = summary_of(scenario, tmp_path)
    _, text = text_of(scenario, tmp_path)

    [row] = summary["servers"]
    assert (row["reachable"], row["answeredOver"], row["failedOver"], row["errorServerAddress"]) == (
        True, ["IPv4"], ["IPv6"], "::1"
    )
    [finding] = summary["diagnosis"]["findings"]
    assert finding["cause"] == "family closed"
    assert finding["finding"] == "answers over IPv4; nothing listens over IPv6 ([::1])"
    # coturn names itself in its answers: the fix is in coturn's words.
    assert finding["nextCheck"] == (
        "the name's IPv6 address (its AAAA record, or the hosts file): remove it, or have coturn listen on IPv6 "
        "too (listening-ip; with none, it listens on every address)"
    )
    assert summary["diagnosis"]["verdict"] == "partly working"
    assert status == 1
    assert (f"stun:localhost:{coturn.port}  ok over IPv4, answered in " in text
            and f" ms ({COTURN_SOFTWARE}); FAILED over IPv6 ([::1]): 701 port unreachable: " in text)


@pytest.mark.peers
def test_node_turn_on_ipv4_only_gets_the_ipv6_fix_in_its_own_options(nodeturn, tmp_path):
    server = {**nodeturn.ice_server("turn"), "urls": f"turn:localhost:{nodeturn.port}"}

    _, summary = summary_of(Scenario([server], DUAL_STACK), tmp_path)

    [finding] = [f for f in summary["diagnosis"]["findings"] if f["cause"] == "family closed"]
    assert "have node-turn listen on IPv6 too (listeningIps;" in finding["nextCheck"]
    assert "coturn" not in finding["nextCheck"]


def test_a_url_that_failed_over_both_families_is_not_told_per_family():
    both = ServerOutcome("turn:localhost", "turn", "udp", "localhost", True, 1.0, (), 701, "port unreachable",
                         "port_unreachable", answered_over=("IPv4",), failed_over=("IPv6", "IPv4"),
                         error_server_address="::1")

    assert both.answered_over_other_family is None
    assert explain_failure(both, [both]).cause == "udp port closed"


# --- UDP blocked only where UDP alone fails ----------------------------------------------


@pytest.mark.parametrize("turn_over_udp", [True, False], ids=["TURN over UDP answered too", "TCP only"])
def test_a_silent_stun_port_beside_a_working_turn_server_on_the_same_host_is_silent(coturn, tmp_path, turn_over_udp):
    with ScriptedStunServer(never_answer) as silent:
        servers = [{"urls": silent.url()}, coturn.ice_server("turn", transport="tcp")]
        _, summary = summary_of(Scenario(servers + [coturn.ice_server("turn")] * turn_over_udp), tmp_path)

    assert [(f["url"], f["cause"]) for f in summary["diagnosis"]["findings"]] == [(silent.url(), "silent")]


def outcome(url: str, port: int, transport: str, answered: bool, failed: bool = False) -> ServerOutcome:
    return ServerOutcome(
        url, "turn", transport, "turn.example.org", answered, 1.0 if answered else None, (),
        701 if failed else None, "no response" if failed else None, "no_response" if failed else None, port=port,
    )


def test_udp_is_blocked_only_where_tcp_to_the_same_port_works_and_nothing_of_the_host_answered_over_udp():
    silent = outcome("stun:turn.example.org:3478", 3478, "udp", False, failed=True)
    tcp_here = outcome("turn:turn.example.org:3478?transport=tcp", 3478, "tcp", True)
    tcp_elsewhere = outcome("turn:turn.example.org:443?transport=tcp", 443, "tcp", True)
    udp_elsewhere = outcome("stun:turn.example.org:19302", 19302, "udp", True)

    assert explain_failure(silent, [silent, tcp_here]).cause == "udp blocked"
    assert explain_failure(silent, [silent, tcp_elsewhere]).cause == "silent"
    assert explain_failure(silent, [silent, tcp_here, udp_elsewhere]).cause == "silent"


# --- answers that had to be discarded ------------------------------------------------------


def test_a_server_whose_answers_were_all_discarded_answered(tmp_path):
    with ScriptedStunServer(another_transaction_id) as server:
        scenario = Scenario([{"urls": server.url()}])
        status, summary = summary_of(scenario, tmp_path)
        _, text = text_of(scenario, tmp_path)

    [row] = summary["servers"]
    assert (row["reachable"], row["rttMs"], row["errorCause"]) == (True, None, "answer_wrong_transaction")
    assert summary["diagnosis"]["verdict"] == "no usable answer"
    [line] = [line for line in text.splitlines() if line.startswith(f"  {server.url()}  ")]
    assert line.startswith(f"  {server.url()}  FAILED 701 ") and line.endswith(" (answers discarded)")
    assert status == 1


# --- what the server told of itself ----------------------------------------------------------


def test_notes_are_told_in_the_summary_row_and_kept_as_records_not_printed_as_lines(coturn, tmp_path):
    _, text = text_of(Scenario([coturn.ice_server("turn")]), tmp_path)
    _, ndjson = text_of(Scenario([coturn.ice_server("turn")], [*LOOPBACK, "--json"]), tmp_path)

    assert " note " not in text and "iceservernote" not in text
    told = f"({COTURN_SOFTWARE}; no IPv6 relay: 440 Unsupported address family)"
    assert f"{coturn.url()}  ok, answered in " in text and f" ms, gave relay {told}; relay works (" in text
    notes = {r["note"] for r in map(json.loads, ndjson.splitlines()) if r["type"] == "iceservernote"}
    assert notes == {"software", "ipv6_relay_refused"}


def test_every_note_but_the_software_has_its_words_in_a_row():
    assert set(NOTE_WORDS) == set(SERVER_NOTES) - {"software"}


# --- next checks in the product's words, never another's ---------------------------------------

# What names each product, or an option or API of its own.
MARKS = {
    "coturn": ("coturn", "external-ip", "relay-ip", "min-port", "static-auth-secret", "listening-ip", "peer-ip",
               "alternate-server", "user-quota", "no-udp-relay"),
    "pion": ("Pion", "RelayAddress", "PacketConnConfig", "PermissionHandler", "NewLongTermAuthHandler"),
    "node-turn": ("node-turn", "externalIps", "relayIps", "listeningIps", "minPort"),
}
WORDINGS = [(row.name, row.next_check) for table in (CAUSES, RELAY_CAUSES, ADDRESS_RULES) for row in table]


@pytest.mark.parametrize(("name", "wording"), WORDINGS, ids=[f"{name} {i}" for i, (name, _) in enumerate(WORDINGS)])
def test_every_next_check_names_no_product_in_generic_words_and_no_other_product_in_a_products(name, wording):
    for product, marks in MARKS.items():
        assert not [mark for mark in marks if mark in wording.generic], (name, product)
        for other in PRODUCTS:
            if other.name != product and other.name in wording.words:
                assert not [mark for mark in marks if mark in wording.words[other.name]], (name, other.name)


def test_a_relay_that_sends_nothing_back_from_a_server_that_names_no_product_is_fixed_in_generic_words(tmp_path):
    with ScriptedTurnServer(TURN_USER["credential"], relay_back=False) as turn:
        _, summary = summary_of(Scenario([{"urls": turn.url(), **TURN_USER}]), tmp_path)

    [finding] = summary["diagnosis"]["findings"]
    assert finding["cause"] == "relay not back"
    assert finding["nextCheck"].startswith("that 127.0.0.1:")
    assert finding["nextCheck"].endswith(
        " is this server's public address (the relayed address the server advertises (behind a NAT, it must be "
        "told the public one)), and firewalls for UDP to and from the server's relay port range"
    )


def test_coturn_told_a_wrong_external_ip_is_still_told_so_in_coturns_words(tmp_path):
    with local_coturn(extra_args=["--external-ip=127.0.0.77/127.0.0.1"]) as turn:
        _, summary = summary_of(Scenario([turn.ice_server()]), tmp_path)

    [finding] = summary["diagnosis"]["findings"]
    assert finding["cause"] == "relay wrong address"
    assert finding["nextCheck"] == (
        "coturn's external-ip (the public address, as public/private, when the relay-ip is behind a NAT)"
    )


def test_the_fix_of_a_finding_follows_the_software_the_server_named():
    silent = dataclasses.replace(outcome("turn:turn.example.org", 3478, "udp", True, failed=True),
                                 error_cause="port_unreachable", answered_over=("IPv4",), failed_over=("IPv6",),
                                 error_server_address="::1")
    named = {software: explain_failure(dataclasses.replace(silent, software=software), [silent]).next_check
             for software in (COTURN_SOFTWARE, "node-turn", "pion-turn 2.1.0", "Nameless 1.0", "")}

    assert "listening-ip" in named[COTURN_SOFTWARE] and "listeningIps" in named["node-turn"]
    assert "PacketConnConfig" in named["pion-turn 2.1.0"]
    assert named["Nameless 1.0"] == named[""] == (
        "the name's IPv6 address (its AAAA record, or the hosts file): remove it, or have the server listen on "
        "IPv6 too"
    )


# --- refused credentials, as each real server refuses them -----------------------------------


@pytest.mark.peers
@pytest.mark.parametrize(("server", "transport", "code"), [
    ("pion", None, "400 Bad Request (the server sent no reason phrase)"),
    ("pion", "tcp", "400 Bad Request (the server sent no reason phrase)"),
    ("nodeturn", None, "401 Unauthorized"),
])
def test_a_wrong_password_reads_as_refused_credentials_on_every_server(server, transport, code, tmp_path, request):
    peer = request.getfixturevalue(server)
    scenario = Scenario([peer.ice_server("turn", transport=transport, password="wrong")])

    status, summary = summary_of(scenario, tmp_path)
    _, text = text_of(scenario, tmp_path)

    [finding] = summary["diagnosis"]["findings"]
    assert (finding["cause"], summary["diagnosis"]["verdict"], status) == ("credentials", "turn failed", 1)
    assert f"{peer.url('turn', transport)}  FAILED {code} (answered in " in text

