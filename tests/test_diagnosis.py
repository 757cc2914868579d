"""Every row of the cause and verdict tables, triggered by a real scenario and checked in the
CLI's summary record: real coturn instances, real STUN servers, a real transport process. The
relay causes and address rules: tests/test_diagnosis_relays.py; causes on outcomes built by
hand: tests/test_diagnosis_units.py; which of a URL's errors the diagnosis follows:
tests/test_error_precedence.py."""

from __future__ import annotations

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

from icegather.main_proc.commands.cli import run
from icegather.main_proc.credentials.rest_credentials import mint
from icegather.main_proc.diagnosis.servers.causes import CAUSES
from icegather.main_proc.diagnosis.verdicts import VERDICTS
from icegather.main_proc.views.text_lines import format_line

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


def expired_credential(servers: Servers) -> Scenario:
    """Right secret, right algorithm, but minted to expire an hour ago."""
    username, credential = mint(REST_SECRET.encode(), "alice", -3600, time.time())
    return Scenario([{"urls": servers.rest_coturn().url("turn"), "username": username, "credential": credential}])


def wrong_secret(servers: Servers) -> Scenario:
    flags = ["--auth-secret-file", servers.secret_file("not-the-servers-secret"), *LOOPBACK]
    return Scenario([], [*flags, "--server", servers.rest_coturn().url("turn")])


# Cause -> the scenario that triggers it. Four rows have unit tests instead: "tcp dropped"
# (SYNs dropped silently need firewall rules: tests/test_diagnosis_units.py), "packet too big" (a
# STUN request is far below any MTU), "icmp" (other ICMP errors, such as a routing loop's time
# exceeded) and "internal error" (a bug, injected in-process in tests/test_transport_rules.py).
UNIT_TESTED_CAUSES = {"tcp dropped", "packet too big", "icmp", "internal error"}
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


# The relay and address tables' scenarios are in tests/test_diagnosis_relays.py; two of them
# give their verdicts here.
VERDICT_SCENARIOS: dict[str, Callable[[Servers], Scenario]] = {
    "unusable address": lambda s: Scenario([{"urls": s.scripted(mapped_to(("10.0.0.7", 40000))).url()}]),
    "relay broken": lambda s: scripted_relay(s, relay_out=False, relay_back=False),
    "no server answered": lambda s: Scenario([{"urls": "stun:stun1.invalid:3478"}]),
    # Each server was reached though none answered: a certificate icegather does not trust, a
    # closed port, a hang-up after the connection.
    "tls failed": CAUSE_SCENARIOS["tls"],
    "nothing listens": CAUSE_SCENARIOS["tcp port closed"],
    "connected, no answer": CAUSE_SCENARIOS["hang-up"],
    "allocation lost": lambda s: scripted_relay(s, permission=(437, "Allocation Mismatch")),
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


def test_every_cause_and_verdict_has_a_scenario():
    # "redirect not followed" happens to an exporter module's credentials only (tests/test_exporter.py).
    assert {cause.name for cause in CAUSES} | {"other"} == set(CAUSE_SCENARIOS) | UNIT_TESTED_CAUSES | {
        "redirect not followed"
    }
    # "transport failed" comes from a killed transport: test_a_transport_that_dies_mid_gathering...;
    # "timed out" from a probe out of time (tests/test_exporter.py); "relay degraded" from a stream's
    # record (tests/test_quality_reporting.py: coturn on loopback loses nothing).
    assert {verdict.name for verdict in VERDICTS} == set(VERDICT_SCENARIOS) | {"transport failed", "timed out",
                                                                               "relay degraded"}


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



def test_a_certificate_icegather_does_not_trust_is_told_as_a_tls_failure_not_as_silence(tls_coturn, tmp_path):
    # One family, one URL: no other error to tell it by.
    status, summary = summary_of(Scenario([tls_coturn.ice_server("turns")]), tmp_path)

    [row] = summary["servers"]
    assert row["errorCause"] == "tls_failed" and row["failedOver"] == ["IPv4"]
    diagnosis = summary["diagnosis"]
    assert diagnosis["verdict"] == "tls failed"
    assert "the servers are there" in diagnosis["summary"] and "certificate" in diagnosis["nextCheck"]
    assert "DNS" not in diagnosis["nextCheck"] and "firewall" not in diagnosis["nextCheck"]
    assert [finding["cause"] for finding in diagnosis["findings"]] == ["tls"]
    assert "diagnosis: no STUN or TURN server answered, though the servers are there" in format_line(summary)
    assert status == 1
