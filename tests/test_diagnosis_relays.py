"""The relay causes and the address rules of the diagnosis: each relay cause and address rule
from a real scenario (coturn told the wrong relayed address or denying the peer, the scripted
TURN server for relays coturn cannot be made to break, servers that hand out addresses peers
cannot use), and the address rules that need a public server, on outcomes built here."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import ExitStack

import pytest
from stun_servers import mapped_to
from test_diagnosis import LOOPBACK, Scenario, Servers, scripted_relay, summary_of
from test_relay_check import SCRIPTED_RELAY_CAUSES

from icegather.main_proc.diagnosis.addresses.address_rules import ADDRESS_RULES, address_findings
from icegather.main_proc.diagnosis.relays.relay_causes import RELAY_CAUSES
from icegather.main_proc.diagnosis.servers.outcomes import ServerOutcome
from icegather.shared.net.address_scopes import scope_of
from icegather.shared.vocabulary.relay_outcomes import BROKEN

# Relay cause -> the scenario that triggers it: coturn told the wrong relayed address or
# denying the peer, and the scripted TURN server for relays coturn cannot be made to break.
RELAY_CAUSE_SCENARIOS: dict[str, Callable[[Servers], Scenario]] = {
    "relay wrong address": lambda s: Scenario([s.coturn_with("--external-ip=127.0.0.77/127.0.0.1").ice_server()]),
    "relay not back": lambda s: scripted_relay(s, relay_back=False),
    "relay not out": lambda s: scripted_relay(s, relay_out=False),
    "relay carries nothing": lambda s: scripted_relay(s, relay_out=False, relay_back=False),
    "peer forbidden": lambda s: Scenario([s.coturn_with("--denied-peer-ip=127.0.0.1").ice_server()]),
    "relay request refused": lambda s: scripted_relay(s, permission=(500, "Server Error")),
    "relay request unanswered": lambda s: scripted_relay(s, permission="silent"),
}

# Address rule -> the scenario that triggers it. "relay address private" needs a server with a
# public address, which loopback is not: a unit test below has it.
ADDRESS_SCENARIOS: dict[str, Callable[[Servers], Scenario]] = {
    "srflx address private": lambda s: Scenario([{"urls": s.scripted(mapped_to(("10.0.0.7", 40000))).url()}]),
    # Reached at 127.0.0.1, relaying on ::1 only; the check's peer socket needs a local ::1.
    "relay family": lambda s: Scenario(
        [s.coturn_relaying_on("::1").ice_server()], [*LOOPBACK, "--local-address", "::1"]
    ),
}
UNIT_TESTED_ADDRESS_RULES = {"relay address private", "symmetric nat"}  # the NAT: test_nat_reporting


@pytest.mark.parametrize("cause", list(RELAY_CAUSE_SCENARIOS))
def test_each_relay_cause_is_diagnosed_from_the_scenario_that_produces_it(cause, coturn, tls_coturn, tmp_path,
                                                                           request):
    with ExitStack() as stack:
        scenario = RELAY_CAUSE_SCENARIOS[cause](Servers(stack, coturn, tls_coturn, request))
        status, summary = summary_of(scenario, tmp_path)

    [row] = summary["servers"]
    assert row["errorCode"] is None and row["gained"] == ["relay"]  # the allocation itself worked
    assert [relay["outcome"] in BROKEN for relay in row["relays"]] == [True]
    assert [finding["cause"] for finding in summary["diagnosis"]["findings"]] == [cause]
    assert summary["diagnosis"]["verdict"] == "relay broken"
    assert status == 1


@pytest.mark.parametrize("rule", list(ADDRESS_SCENARIOS))
def test_each_address_rule_is_found_from_the_scenario_that_produces_it(rule, coturn, tls_coturn, tmp_path, request):
    with ExitStack() as stack:
        status, summary = summary_of(ADDRESS_SCENARIOS[rule](Servers(stack, coturn, tls_coturn, request)), tmp_path)

    assert [finding["cause"] for finding in summary["diagnosis"]["findings"]] == [rule]
    assert summary["errors"] == 0
    assert summary["diagnosis"]["verdict"] == "unusable address"
    assert status == 1


def test_a_public_servers_relayed_address_in_private_space_means_external_ip_is_missing():
    outcome = dataclasses.replace(
        healthy_turn("turn:turn.example.org"), server_address="198.51.100.10", relayed=("10.0.0.5",),
        software="Coturn-4.6.1 'Gorst'",
    )
    [finding] = address_findings(outcome)
    assert finding.cause == "relay address private"
    assert "10.0.0.5 is in private address space" in finding.finding and "external-ip" in finding.next_check


@pytest.mark.parametrize(
    ("server", "relayed"),
    [
        ("127.0.0.1", "127.0.0.1"),  # a test server on this machine
        ("10.0.0.1", "10.0.0.5"),  # a server inside the private network
        ("198.51.100.10", "198.51.100.10"),  # configured right
    ],
)
def test_no_address_finding_where_peers_can_reach_the_relay(server, relayed):
    outcome = dataclasses.replace(healthy_turn("turn:t.example"), server_address=server, relayed=(relayed,))
    assert address_findings(outcome) == ()


@pytest.mark.parametrize(
    ("address", "scope"),
    [
        ("100.64.1.1", "shared"), ("169.254.169.254", "link-local"), ("fd00::1", "private"),
        ("::ffff:10.1.2.3", "private"), ("192.0.2.1", "public"), ("::1", "loopback"),
        # IPv6 forms of an IPv4 address: 6to4 (2002:0a01:0203::) and NAT64's prefix.
        ("2002:a01:203::1", "private"), ("64:ff9b::a01:203", "private"), ("64:ff9b::c633:640a", "public"),
        ("2002:c633:640a::1", "public"),
    ],
)
def test_address_scopes_follow_the_reachability_of_each_range(address, scope):
    assert scope_of(address) == scope


def healthy_turn(url: str) -> ServerOutcome:
    return ServerOutcome(url, "turn", "udp", "t.example", True, 1.0, ("relay",), None, None, None)



def test_every_relay_cause_and_address_rule_has_a_scenario():
    assert {rule.name for rule in ADDRESS_RULES} == set(ADDRESS_SCENARIOS) | UNIT_TESTED_ADDRESS_RULES
    # The causes of relays coturn cannot be made into are scripted: tests/test_relay_check.py; an
    # allocation lost mid-check comes from loss on a real path (tests/test_real_networks.py).
    assert {cause.name for cause in RELAY_CAUSES} == set(RELAY_CAUSE_SCENARIOS) | set(SCRIPTED_RELAY_CAUSES) | {
        "relay allocation lost"
    }
