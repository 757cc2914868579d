"""The cause rows no real setup here can produce, and the rules that read more than one URL, on
outcomes built here: a TCP connection that never completes, UDP blamed only where TCP to the
same host answered, causes read from the machine-readable cause, never the wording, and the
verdicts of what was reached but did not answer, and of an allocation lost mid-check."""

from __future__ import annotations

import dataclasses

import pytest
from test_relay_facts import ALL, NONE, NOTHING, facts, record

from icegather.main_proc.diagnosis.servers.causes import TLS_CAUSES, explain_failure
from icegather.main_proc.diagnosis.servers.error_precedence import PRECEDENCE
from icegather.main_proc.diagnosis.servers.outcomes import ServerOutcome
from icegather.main_proc.diagnosis.verdicts import diagnose
from icegather.shared.structs import RelayCheckInfo
from icegather.shared.vocabulary.failure_causes import DISCARDED_ANSWER_CAUSES, FAILURE_CAUSES, SERVER_ERROR_CAUSES

PRECEDENCE_TIER = dict(PRECEDENCE)


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


def test_the_diagnosis_reads_the_cause_not_the_wording_of_the_error_text():
    reworded = outcome("turn:turn.example.org", 701, "the name could not be found", "dns")
    misleading = outcome("turn:turn.example.org", 701, "host lookup failed, or so it seems", "no_response")
    assert explain_failure(reworded, [reworded]).cause == "dns"
    assert explain_failure(misleading, [misleading]).cause == "silent"


# What a server's error shows of its address, by tier: the verdict says "no server answered"
# only when nothing there was reached.
@pytest.mark.parametrize("cause", FAILURE_CAUSES)
def test_no_server_answered_is_the_verdict_only_when_nothing_at_the_servers_address_was_reached(cause):
    answered = cause in SERVER_ERROR_CAUSES | DISCARDED_ANSWER_CAUSES  # their errors came as answers
    failed = outcome("turns:turn.example.org", 701, "failed", cause, "tls", answered=answered)

    verdict = diagnose([failed], finished=True).verdict

    assert (verdict == "no server answered") == (cause in PRECEDENCE_TIER["silence"] | PRECEDENCE_TIER["not_reached"])
    assert (verdict == "nothing listens") == (cause in PRECEDENCE_TIER["refused_at_host"])
    assert (verdict == "tls failed") == (cause in TLS_CAUSES)


def test_a_tls_failure_beside_a_silent_url_is_a_connection_that_did_not_answer():
    tls = outcome("turns:turn.example.org", 701, "TLS handshake failed: CERTIFICATE_VERIFY_FAILED", "tls_failed",
                  "tls")
    silent = outcome("turn:turn.example.org", 701, "no response after 5 attempts in 9.5 s", "no_response")
    refused = outcome("turn:turn.example.org?transport=tcp", 701, "connection refused (TCP)", "connection_refused",
                      "tcp")
    unresolved = outcome("turn:turn.invalid", 701, "host lookup failed", "dns")

    assert diagnose([tls, silent], finished=True).verdict == "connected, no answer"
    assert diagnose([refused, unresolved], finished=True).verdict == "nothing listens"
    assert diagnose([silent, unresolved], finished=True).verdict == "no server answered"


def relay_with_checks(*checks: RelayCheckInfo) -> ServerOutcome:
    return dataclasses.replace(
        outcome("turn:turn.example.org", None, None, None, answered=True), gained=("relay",),
        relay_checks=tuple(record(check) for check in checks),
    )


def test_a_lost_allocation_has_its_own_verdict_unless_another_relay_does_not_carry_data():
    lost = facts((0, 1), NONE, failed_request="ChannelBind", error_code=437, error_cause="server_error",
                 error_text="Allocation Mismatch", **NOTHING)
    dead = facts(NONE, NONE, **NOTHING)

    diagnosis = diagnose([relay_with_checks(facts(ALL, ALL), lost)], finished=True)
    assert diagnosis.verdict == "allocation lost"
    assert "its relay may carry data" in diagnosis.summary and "does not carry data" not in diagnosis.summary
    assert all(word in diagnosis.next_check for word in ("log", "timeouts", "quotas"))
    assert [finding.cause for finding in diagnosis.findings] == ["relay allocation lost"]

    assert diagnose([relay_with_checks(lost, dead)], finished=True).verdict == "relay broken"
