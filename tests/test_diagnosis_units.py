"""The cause rows no real setup here can produce, and the rules that read more than one URL, on
outcomes built here: a TCP connection that never completes, UDP blamed only where TCP to the
same host answered, and causes read from the machine-readable cause, never the wording."""

from __future__ import annotations

from icegather.main_proc.diagnosis.causes import explain_failure
from icegather.main_proc.diagnosis.outcomes import ServerOutcome
from icegather.main_proc.diagnosis.verdicts import diagnose


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
