"""A URL that fails over both address families is told by the error that says most about its
server, not by whichever came first, and its other family's error is still shown: on records
built here for every pair of tiers and for ties, and end to end against a real coturn whose
certificate icegather does not trust, on 127.0.0.1 only, asked for by ``localhost``."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import pytest
from test_diagnosis import DUAL_STACK, Scenario, summary_of
from test_server_rows import text_of

from icegather.main_proc.diagnosis.servers.causes import explain_failure
from icegather.main_proc.diagnosis.servers.error_precedence import PRECEDENCE, rank
from icegather.main_proc.diagnosis.servers.outcomes import ServerOutcome, server_outcomes
from icegather.main_proc.views.report import server_row
from icegather.main_proc.views.text_lines import server_result
from icegather.shared.config.ice_url import parse_ice_url
from icegather.shared.vocabulary.failure_causes import FAILURE_CAUSES

URL = "turns:turn.example.org:5349"
IPV4, IPV6 = "192.0.2.9", "2001:db8::9"
# An error of each tier, most telling first: (code, text, cause).
EXAMPLES = {
    "server_response": (401, "Unauthorized", "server_error"),
    "unusable_answer": (701, "TLS handshake failed: CERTIFICATE_VERIFY_FAILED", "tls_failed"),
    "hung_up": (701, "the server reset the connection", "connection_reset"),
    "refused_at_host": (701, "connection refused (TCP)", "connection_refused"),
    "silence": (701, "no response after 5 attempts in 9.5 s", "no_response"),
    "not_reached": (701, "network unreachable", "network_unreachable"),
}
TIERS = [name for name, _ in PRECEDENCE]


def error(tier: str, server_address: str) -> dict[str, Any]:
    code, text, cause = EXAMPLES[tier]
    return {"type": "icecandidateerror", "url": URL, "serverIndex": 0, "errorCode": code, "errorText": text,
            "errorCause": cause, "address": None, "port": None, "serverAddress": server_address}


def outcome_of(*errors: dict[str, Any]) -> ServerOutcome:
    [outcome] = server_outcomes([(0, parse_ice_url(URL))], errors)
    return outcome


def told(outcome: ServerOutcome) -> tuple[object, ...]:
    """The error a URL is told by, and the other families' errors beside it."""
    return (outcome.error_cause, outcome.error_server_address,
            [(other.family, other.cause, other.server_address) for other in outcome.other_errors])


def test_every_failure_cause_has_exactly_one_tier():
    tiers = [cause for _, causes in PRECEDENCE for cause in causes]
    assert sorted(tiers) == sorted(FAILURE_CAUSES)
    assert set(TIERS) == set(EXAMPLES) and all(rank(EXAMPLES[t][2]) > 0 for t in TIERS)


@pytest.mark.parametrize(("telling", "lesser"), list(combinations(TIERS, 2)))
def test_the_more_telling_error_names_the_url_whichever_family_failed_first(telling, lesser):
    expected = (EXAMPLES[telling][2], IPV4, [("IPv6", EXAMPLES[lesser][2], IPV6)])

    assert told(outcome_of(error(lesser, IPV6), error(telling, IPV4))) == expected
    assert told(outcome_of(error(telling, IPV4), error(lesser, IPV6))) == expected


def test_of_equally_telling_errors_the_first_seen_names_the_url():
    first, second = error("refused_at_host", IPV6), {**error("refused_at_host", IPV4), "errorText": "refused too"}

    outcome = outcome_of(first, second)

    assert (outcome.error_text, outcome.error_server_address) == (EXAMPLES["refused_at_host"][1], IPV6)
    assert [(other.family, other.text) for other in outcome.other_errors] == [("IPv4", "refused too")]


def test_each_other_family_is_told_by_its_own_most_telling_error():
    outcome = outcome_of(error("silence", IPV6), error("not_reached", IPV4), error("refused_at_host", IPV6),
                         error("unusable_answer", IPV4), error("server_response", "192.0.2.10"))

    assert told(outcome) == ("server_error", "192.0.2.10", [("IPv6", "connection_refused", IPV6)])


def test_a_url_that_failed_over_one_family_only_has_no_other_errors():
    outcome = outcome_of(error("silence", IPV4), error("unusable_answer", IPV4))

    assert told(outcome) == ("tls_failed", IPV4, [])
    assert outcome.failed_over == ("IPv4",)


FORBIDDEN_OVER_IPV6 = {**error("server_response", IPV6), "errorCode": 403, "errorText": "Forbidden"}


@pytest.mark.parametrize(
    ("first", "then", "cause", "beside"),
    [
        (error("refused_at_host", IPV6), error("unusable_answer", IPV4), "tls", "connection_refused"),
        (error("silence", IPV6), error("server_response", IPV4), "credentials", "no_response"),
        (error("not_reached", IPV6), error("unusable_answer", IPV4), "tls", "network_unreachable"),
        (error("server_response", IPV4), FORBIDDEN_OVER_IPV6, "credentials", "403 Forbidden"),  # a tie
    ],
)
def test_the_diagnosis_follows_the_chosen_error_and_the_row_tells_the_other_family(first, then, cause, beside):
    outcome = outcome_of(first, then)
    row = server_row(outcome, [])
    chosen, other = (first, then) if first["serverAddress"] == IPV4 else (then, first)

    assert explain_failure(outcome, [outcome]).cause == cause
    said = f"{chosen['errorCode']} {chosen['errorText']}"
    assert server_result(row) == f"FAILED {said} (no answer); IPv6 ([{IPV6}]): {beside}"
    assert row["otherErrors"] == [{"family": "IPv6", "errorCode": other["errorCode"], "errorText": other["errorText"],
                                   "errorCause": other["errorCause"], "errorServerAddress": IPV6}]


def test_a_certificate_icegather_does_not_trust_over_ipv4_is_told_before_a_refusal_over_ipv6(tls_coturn, tmp_path):
    # coturn listens on 127.0.0.1 only; localhost is 127.0.0.1 and ::1, so over IPv6 the TCP
    # connection is refused (usually first), and over IPv4 the certificate does not verify.
    url = f"turns:localhost:{tls_coturn.tls_port}"
    scenario = Scenario([{**tls_coturn.ice_server("turns"), "urls": url}], DUAL_STACK)

    status, summary = summary_of(scenario, tmp_path)
    _, text = text_of(scenario, tmp_path)

    [row] = summary["servers"]
    assert sorted(row["failedOver"]) == ["IPv4", "IPv6"]
    assert (row["errorCode"], row["errorCause"], row["errorServerAddress"]) == (701, "tls_failed", "127.0.0.1")
    assert [(other["family"], other["errorCause"], other["errorServerAddress"]) for other in row["otherErrors"]] == [
        ("IPv6", "connection_refused", "::1")
    ]
    [finding] = summary["diagnosis"]["findings"]
    assert finding["cause"] == "tls" and "certificate" in finding["nextCheck"]
    assert status == 1
    assert f"{url}  FAILED 701 TLS handshake with 127.0.0.1:{tls_coturn.tls_port} failed: " in text
    assert "(no answer); IPv6 ([::1]): connection_refused\n" in text
    assert f"{url}: the TLS handshake failed; check the server certificate" in text
