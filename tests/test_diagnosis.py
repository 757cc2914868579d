"""Every row of the diagnosis tables, triggered by a real scenario and checked in the CLI's
summary record: real coturn instances, real STUN servers, a real transport process."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aioice import stun
from commands import ICEGATHER
from local_coturn import Coturn, free_port, local_coturn
from network_namespaces import RoutedNamespaces
from process_stats import transport_processes_of
from stun_servers import (
    ScriptedStunServer,
    ScriptedTcpServer,
    ScriptedTurnServer,
    another_transaction_id,
    error_to_every_request,
    hang_up,
    mapped_to,
    mapped_two_ways,
    never_answer,
    response,
    try_alternate,
)
from test_relay_check import SCRIPTED_RELAY_CAUSES

from icegather.main_proc.commands.cli import run
from icegather.main_proc.credentials.rest_credentials import mint
from icegather.main_proc.diagnosis.address_rules import ADDRESS_RULES, address_findings
from icegather.main_proc.diagnosis.causes import CAUSES, explain_failure
from icegather.main_proc.diagnosis.outcomes import ServerOutcome
from icegather.main_proc.diagnosis.relay_causes import RELAY_CAUSES
from icegather.main_proc.diagnosis.verdicts import VERDICTS, diagnose
from icegather.main_proc.views.text_lines import format_line
from icegather.shared.net.address_scopes import scope_of
from icegather.shared.vocabulary.relay_outcomes import BROKEN

FAST = ["--rto", "0.05", "--max-sends", "2", "--final-wait", "2"]
LOOPBACK = ["--local-address", "127.0.0.1"]
DUAL_STACK = [*LOOPBACK, "--local-address", "::1"]
TURN_USER = {"username": "u", "credential": "p"}
REST_SECRET = "the-shared-secret"


@dataclass
class Scenario:
    servers: list[dict]
    flags: list[str] = field(default_factory=lambda: list(LOOPBACK))
    # Run inside these network namespaces' client (a separate icegather process) instead.
    namespaces: RoutedNamespaces | None = None


class Servers:
    """Starts what a scenario needs and stops it afterwards."""

    def __init__(self, stack: ExitStack, coturn: Coturn, tls_coturn: Coturn, request: pytest.FixtureRequest) -> None:
        self.stack, self.coturn, self.tls_coturn = stack, coturn, tls_coturn
        self._request = request

    def secret_file(self, secret: str) -> str:
        directory = Path(self.stack.enter_context(tempfile.TemporaryDirectory()))
        (directory / "secret").write_text(secret)
        return str(directory / "secret")

    def rest_coturn(self) -> Coturn:
        """A coturn that takes time-limited credentials minted from REST_SECRET."""
        return self.coturn_with("--use-auth-secret", f"--static-auth-secret={REST_SECRET}")

    def behind_router(self, address: str) -> Scenario:
        """A STUN server at ``address`` of the routed namespaces, from their client."""
        routed: RoutedNamespaces = self._request.getfixturevalue("routed")
        return Scenario([{"urls": f"stun:{getattr(routed, address)}:3478"}],
                        ["--local-address", routed.client_address], routed)

    def coturn_with(self, *options: str) -> Coturn:
        return self.stack.enter_context(local_coturn(extra_args=list(options)))

    def coturn_relaying_on(self, *relay_ips: str) -> Coturn:
        return self.stack.enter_context(local_coturn(relay_ips=relay_ips))

    def scripted(self, script, host: str = "127.0.0.1", port: int = 0) -> ScriptedStunServer:
        return self.stack.enter_context(ScriptedStunServer(script, host, port))

    def both_turn_transports(self, turn: Coturn) -> list[dict]:
        return [turn.ice_server("turn"), turn.ice_server("turn", transport="tcp")]


def scripted_turn(servers: Servers, script) -> Scenario:
    return Scenario([{"urls": servers.scripted(script).url("turn"), **TURN_USER}])


def redirect_to_ipv6(servers: Servers) -> Scenario:
    """A 300 to [::1], which the only local address, 127.0.0.1, cannot reach."""
    return Scenario([{"urls": servers.scripted(try_alternate(("::1", free_port()))).url("turn"), **TURN_USER}])


def redirect_to_itself(servers: Servers) -> Scenario:
    server = servers.scripted(never_answer)
    server.script = try_alternate(("127.0.0.1", server.port))
    return Scenario([{"urls": server.url("turn"), **TURN_USER}])


def binding_success_without_address(request: stun.Message, source) -> bytes:
    return bytes(response(request, stun.Class.RESPONSE))


def udp_dropped_where_tcp_works(servers: Servers) -> Scenario:
    """coturn over TCP only, its port's UDP taken by a socket that never answers: UDP to the
    server is dropped while TCP to the same host and port works."""
    turn = servers.stack.enter_context(local_coturn(udp=False))
    return Scenario([{"urls": servers.scripted(never_answer, port=turn.port).url()},
                     turn.ice_server("turn", transport="tcp")])


def silent_over_ipv6(servers: Servers) -> Scenario:
    """stun:localhost: coturn answers on 127.0.0.1; on [::1], the same port drops everything."""
    servers.scripted(never_answer, "::1", servers.coturn.port)
    return Scenario([{"urls": f"stun:localhost:{servers.coturn.port}"}], DUAL_STACK)


def one_relay_port(servers: Servers) -> Scenario:
    port = free_port()
    return Scenario(servers.both_turn_transports(servers.coturn_with(f"--min-port={port}", f"--max-port={port}")))


# Cause -> the scenario that triggers it. Four rows have unit tests instead: "tcp dropped"
# (SYNs dropped silently need firewall rules), "packet too big" (a STUN request is far below
# any MTU), "icmp" (other ICMP errors, such as a routing loop's time exceeded) and "internal
# error" (a bug, injected in-process in tests/test_transport_rules.py).
UNIT_TESTED_CAUSES = {"tcp dropped", "packet too big", "icmp", "internal error"}
def expired_credential(servers: Servers) -> Scenario:
    """Right secret, right algorithm, but minted to expire an hour ago."""
    username, credential = mint(REST_SECRET.encode(), "alice", -3600, time.time())
    return Scenario([{"urls": servers.rest_coturn().url("turn"), "username": username, "credential": credential}])


def wrong_secret(servers: Servers) -> Scenario:
    flags = ["--auth-secret-file", servers.secret_file("not-the-servers-secret"), *LOOPBACK]
    return Scenario([], [*flags, "--server", servers.rest_coturn().url("turn")])


CAUSE_SCENARIOS: dict[str, Callable[[Servers], Scenario]] = {
    "credential expired": expired_credential,
    "shared secret": wrong_secret,
    "credentials": lambda s: Scenario([s.coturn.ice_server("turn", password="wrong")]),
    "quota": lambda s: Scenario(s.both_turn_transports(s.coturn_with("--user-quota=1"))),
    "capacity": one_relay_port,
    "relay transport": lambda s: Scenario(s.both_turn_transports(s.coturn_with("--no-udp-relay"))),
    "relay address family": lambda s: scripted_turn(s, error_to_every_request(440, "Address Family not Supported")),
    "forbidden": lambda s: scripted_turn(s, error_to_every_request(403, "Forbidden")),
    "redirect": redirect_to_itself,
    "protocol": lambda s: scripted_turn(s, error_to_every_request(400, "Bad Request")),
    "server error": lambda s: scripted_turn(s, error_to_every_request(500, "Server Error")),
    # Its answers to the signed Allocate are signed with another password.
    "answers unverified": lambda s: scripted_relay(s, password="not-" + TURN_USER["credential"]),
    "answers wrong transaction": lambda s: Scenario([{"urls": s.scripted(another_transaction_id).url()}]),
    "mapped address wrong": lambda s: Scenario([{"urls": s.scripted(mapped_two_ways).url()}]),
    # coturn listens on 127.0.0.1 only; localhost is 127.0.0.1 and ::1.
    "family closed": lambda s: Scenario([{"urls": f"stun:localhost:{s.coturn.port}"}], DUAL_STACK),
    "family silent": silent_over_ipv6,
    "dns": lambda s: Scenario([{"urls": "stun:stun1.invalid:3478"}]),
    "udp port closed": lambda s: Scenario([{"urls": f"stun:127.0.0.1:{free_port()}"}]),
    "host unreachable": lambda s: s.behind_router("host_unreachable"),
    "network unreachable": lambda s: s.behind_router("network_unreachable"),
    "firewall rejects": lambda s: s.behind_router("prohibited"),
    "cannot send": lambda s: s.behind_router("refused_locally"),
    "redirect unreachable": redirect_to_ipv6,
    "tcp port closed": lambda s: Scenario([{"urls": f"turn:127.0.0.1:{free_port()}?transport=tcp", **TURN_USER}]),
    "tls": lambda s: Scenario([s.tls_coturn.ice_server("turns")]),
    "udp blocked": udp_dropped_where_tcp_works,
    "silent": lambda s: Scenario([{"urls": s.scripted(never_answer).url()}]),
    "hang-up": lambda s: Scenario(
        [{"urls": f"turn:127.0.0.1:{s.stack.enter_context(ScriptedTcpServer(hang_up(reset=True))).port}?transport=tcp",
          **TURN_USER}]
    ),
    "not stun": lambda s: Scenario([{"urls": s.scripted(binding_success_without_address).url()}]),
    "address family": lambda s: Scenario([{"urls": "stun:[::1]:3478"}]),
    "local socket": lambda s: Scenario([{"urls": "stun:127.0.0.1:3478"}], ["--local-address", "203.0.113.254"]),
    "other": lambda s: scripted_turn(s, error_to_every_request(437, "Allocation Mismatch")),
}

def scripted_relay(servers: Servers, password: str = TURN_USER["credential"], **behaviour) -> Scenario:
    turn = servers.stack.enter_context(ScriptedTurnServer(password, **behaviour))
    return Scenario([{"urls": turn.url(), **TURN_USER}])


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

VERDICT_SCENARIOS: dict[str, Callable[[Servers], Scenario]] = {
    "unusable address": ADDRESS_SCENARIOS["srflx address private"],
    "relay broken": RELAY_CAUSE_SCENARIOS["relay carries nothing"],
    "no server answered": lambda s: Scenario([{"urls": "stun:stun1.invalid:3478"}]),
    "turn failed": lambda s: Scenario([s.coturn.ice_server("turn", password="wrong")]),
    "no usable answer": CAUSE_SCENARIOS["answers wrong transaction"],
    "partly working": lambda s: Scenario([s.coturn.ice_server("turn"), {"urls": "stun:stun1.invalid:3478"}]),
    "no turn": lambda s: Scenario([{"urls": s.scripted(mapped_to(("203.0.113.7", 40000))).url()}]),
    "healthy": lambda s: Scenario([s.coturn.ice_server("turn"), s.coturn.ice_server("turn", transport="tcp")]),
}


def summary_of(scenario: Scenario, tmp_path) -> tuple[int, dict]:
    argv = ["--json", *FAST, *scenario.flags]
    if scenario.servers:
        config = tmp_path / "ice.json"
        config.write_text(json.dumps({"iceServers": scenario.servers}))
        argv += ["--config", str(config)]
    if scenario.namespaces is None:
        out, err = io.StringIO(), io.StringIO()
        status = run(argv, out, err)
        stdout, stderr = out.getvalue(), err.getvalue()
    else:
        result = subprocess.run(scenario.namespaces.command(ICEGATHER, *argv), capture_output=True, text=True,
                                timeout=60)
        status, stdout, stderr = result.returncode, result.stdout, result.stderr
    assert stderr == ""
    records = [json.loads(line) for line in stdout.splitlines()]
    assert records[-1]["type"] == "summary"
    return status, records[-1]


@pytest.mark.parametrize("cause", list(CAUSE_SCENARIOS))
def test_each_cause_is_diagnosed_from_the_scenario_that_produces_it(cause, coturn, tls_coturn, tmp_path, request):
    with ExitStack() as stack:
        status, summary = summary_of(CAUSE_SCENARIOS[cause](Servers(stack, coturn, tls_coturn, request)), tmp_path)

    findings = summary["diagnosis"]["findings"]
    assert findings, summary
    assert {finding["cause"] for finding in findings} == {cause}
    failed = {row["url"] for row in summary["servers"] if row["errorCode"] is not None}
    assert {finding["url"] for finding in findings} == failed
    assert status == 1


@pytest.mark.parametrize("verdict", list(VERDICT_SCENARIOS))
def test_each_verdict_is_reached_from_the_scenario_that_produces_it(verdict, coturn, tls_coturn, tmp_path, request):
    with ExitStack() as stack:
        status, summary = summary_of(VERDICT_SCENARIOS[verdict](Servers(stack, coturn, tls_coturn, request)), tmp_path)

    assert summary["diagnosis"]["verdict"] == verdict
    assert status == (1 if summary["diagnosis"]["findings"] else 0)


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


def test_every_row_of_both_tables_has_a_scenario():
    assert {rule.name for rule in ADDRESS_RULES} == set(ADDRESS_SCENARIOS) | UNIT_TESTED_ADDRESS_RULES
    # "redirect not followed" happens to an exporter module's credentials only (tests/test_exporter.py).
    assert {cause.name for cause in CAUSES} | {"other"} == set(CAUSE_SCENARIOS) | UNIT_TESTED_CAUSES | {
        "redirect not followed"
    }
    # The causes of relays coturn cannot be made into are scripted: tests/test_relay_check.py.
    assert {cause.name for cause in RELAY_CAUSES} == set(RELAY_CAUSE_SCENARIOS) | set(SCRIPTED_RELAY_CAUSES)
    # "transport failed" comes from a killed transport: test_a_transport_that_dies_mid_gathering...;
    # "timed out" from a probe out of time (tests/test_exporter.py); "relay degraded" from a stream's
    # record (tests/test_quality_reporting.py: coturn on loopback loses nothing).
    assert {verdict.name for verdict in VERDICTS} == set(VERDICT_SCENARIOS) | {"transport failed", "timed out",
                                                                               "relay degraded"}


def outcome(
    url: str, code: int | None, text: str | None, cause: str | None, transport: str = "udp", answered: bool = False
) -> ServerOutcome:
    return ServerOutcome(
        url, "turn", transport, "turn.example.org", answered, 1.0 if answered else None, (), code, text, cause
    )


def test_a_tcp_connection_that_never_completes_is_diagnosed_as_dropped_packets():
    failed = outcome(
        "turn:turn.example.org?transport=tcp", 701, "TCP connection to 192.0.2.9:3478 not established in 9.5 s",
        "connect_timeout", "tcp",
    )
    assert explain_failure(failed, [failed]).cause == "tcp dropped"


def test_a_udp_timeout_is_blamed_on_udp_only_when_the_same_host_answered_over_tcp():
    silent = outcome(
        "turn:turn.example.org", 701, "no response from 192.0.2.9:3478 after 5 attempts in 9.5 s", "no_response"
    )
    tcp_ok = outcome("turn:turn.example.org?transport=tcp", None, None, None, "tcp", answered=True)
    other_host = ServerOutcome(
        "turn:other.example.org?transport=tcp", "turn", "tcp", "other.example.org", True, 1.0, ("relay",), None, None,
        None,
    )

    assert explain_failure(silent, [silent, tcp_ok]).cause == "udp blocked"
    assert explain_failure(silent, [silent, other_host]).cause == "silent"
    assert diagnose([silent, tcp_ok], finished=True).verdict == "turn failed"


def test_a_transport_that_dies_mid_gathering_exits_3_and_its_summary_says_nothing_finished(silent_udp_server):
    def kill_the_transport() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            children = transport_processes_of(os.getpid())
            if children and silent_udp_server.received:  # it is gathering
                os.kill(children[0], signal.SIGKILL)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_the_transport)
    killer.start()
    out, err = io.StringIO(), io.StringIO()
    status = run(["--json", "--server", silent_udp_server.url(), "--rto", "0.5", *LOOPBACK], out, err)
    killer.join()

    summary = json.loads(out.getvalue().splitlines()[-1])
    assert status == 3 == summary["exitStatus"]
    assert summary["complete"] is False
    assert "killed by SIGKILL" in summary["failure"]
    [row] = summary["servers"]
    assert row["finished"] is False and row["errorCode"] is None  # not "ok": it never finished
    assert summary["diagnosis"]["verdict"] == "transport failed"
    text = format_line(summary)
    assert f"{silent_udp_server.url()}  NOT FINISHED (no answer before gathering ended)" in text
    assert "diagnosis: gathering did not finish: the transport failed" in text


def test_the_diagnosis_reads_the_cause_not_the_wording_of_the_error_text():
    reworded = outcome("turn:turn.example.org", 701, "the name could not be found", "dns")
    misleading = outcome("turn:turn.example.org", 701, "host lookup failed, or so it seems", "no_response")
    assert explain_failure(reworded, [reworded]).cause == "dns"
    assert explain_failure(misleading, [misleading]).cause == "silent"
