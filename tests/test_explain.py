"""``icegather explain``: one vocabulary. Every word a table prints is explained, exactly as
printed, with its kind, the table's own meaning and what to do; no word means two things."""

from __future__ import annotations

import io
import os
import re
import shlex
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from icegather.main_proc.commands.audit_command import (
    LABEL_WIDTH,
    finding_record,
    summary_record,
    write_text,
)
from icegather.main_proc.commands.cli import run
from icegather.main_proc.diagnosis.addresses.address_rules import ADDRESS_RULES
from icegather.main_proc.diagnosis.audit.audit_findings import (
    COUNT_KEYS,
    FINDINGS,
    SEVERITIES,
    SEVERITY_MEANINGS,
    AuditFinding,
)
from icegather.main_proc.diagnosis.explain import TRANSPORT_END_MEANINGS, vocabulary
from icegather.main_proc.diagnosis.relays.quality_causes import QUALITY_CAUSES
from icegather.main_proc.diagnosis.relays.relay_causes import RELAY_CAUSES
from icegather.main_proc.diagnosis.servers.causes import CAUSES, explain_failure
from icegather.main_proc.diagnosis.servers.outcomes import ServerOutcome
from icegather.main_proc.diagnosis.verdicts import VERDICTS
from icegather.main_proc.link.transport_process import describe_exit
from icegather.shared.vocabulary.failure_causes import FAILURE_CAUSE_MEANINGS, FAILURE_CAUSES
from icegather.shared.vocabulary.quality_thresholds import QUALITY_THRESHOLDS
from icegather.shared.vocabulary.relay_outcomes import (
    NOT_CHECKED_REASON_MEANINGS,
    NOT_CHECKED_REASONS,
    RELAY_OUTCOME_MEANINGS,
    RELAY_OUTCOMES,
)
from icegather.shared.vocabulary.server_notes import SERVER_NOTE_MEANINGS, SERVER_NOTES
from icegather.shared.vocabulary.stun_codes import REGISTRY

PROMETHEUS = Path(__file__).resolve().parent.parent / "docs" / "prometheus"
# Words that two tables print for one thing: an error cause and the diagnosis cause it leads
# to (dns), or an error cause and the relay check's reason for the same local failure.
ONE_THING_IN_TWO_TABLES = {"dns", "internal_error", "no_local_address", "socket_failed"}


def explained(*words: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run(["explain", *words], out, err)
    return status, out.getvalue(), err.getvalue()


def entries_of(text: str) -> list[str]:
    """The entries of explain's output: each begins with an unindented heading."""
    return re.split(r"\n(?=\S)", text.strip())


def before_placeholder(text: str) -> str:
    """The words of a table's text up to its first placeholder, as explain prints them."""
    return text.split("{")[0]


def table_words() -> Iterator[tuple[str, str, str]]:
    """(word, kind, the table's own words about it) for every word of every table."""
    for code in REGISTRY.values():
        yield str(code.code), "error code", code.meaning
    for cause in FAILURE_CAUSES:
        yield cause, "error cause", FAILURE_CAUSE_MEANINGS[cause].says
    first_rows = {}
    for row in CAUSES:
        first_rows.setdefault(row.name, row)  # a name of several rows is told by its first
    for name, row in first_rows.items():
        yield name, "diagnosis cause", before_placeholder(row.finding)
    for relay in RELAY_CAUSES:
        yield relay.name, "diagnosis cause", before_placeholder(relay.finding)
    for rule in ADDRESS_RULES:
        yield rule.name, "diagnosis cause", before_placeholder(rule.finding)
    for quality in QUALITY_CAUSES:
        yield quality.name, "diagnosis cause", before_placeholder(quality.finding)
    for threshold in QUALITY_THRESHOLDS:
        yield threshold.name, "quality degradation", threshold.unit
    for verdict in VERDICTS:
        yield verdict.name, "verdict", verdict.summary
    for outcome in RELAY_OUTCOMES:
        yield outcome, "relay outcome", RELAY_OUTCOME_MEANINGS[outcome].says
    for reason in NOT_CHECKED_REASONS:
        yield reason, "relay not-checked reason", NOT_CHECKED_REASON_MEANINGS[reason].says
    for note in SERVER_NOTES:
        yield note, "server note", SERVER_NOTE_MEANINGS[note].says
    for finding in FINDINGS:
        yield finding.name, "audit finding", finding.meaning
    for severity, count_key in COUNT_KEYS.items():
        yield severity, "audit severity", SEVERITY_MEANINGS[severity].says
        yield count_key, "audit severity", SEVERITY_MEANINGS[severity].says
    for end, meaning in TRANSPORT_END_MEANINGS.items():
        yield end, "transport end", meaning.says


@pytest.mark.parametrize(("word", "kind", "meaning"), list(table_words()), ids=lambda value: str(value)[:40])
def test_explain_knows_every_word_of_every_table_with_its_kind_meaning_and_what_to_do(word, kind, meaning):
    status, out, err = explained(word)

    assert (status, err) == (0, "")
    [entry] = [entry for entry in entries_of(out) if f"  ({kind}: " in entry.splitlines()[0]]
    heading, said, *rest = entry.splitlines()
    assert heading.startswith(f"{word} ") and said.startswith(f"  meaning: {meaning}")
    [advice] = [line for line in rest if line.startswith("  what to do: ")]
    assert len(advice) > len("  what to do: ") + 3


def the_kinds_explain_gives(word: str) -> list[str]:
    status, out, _ = explained(word)
    assert status == 0, word
    return [entry.splitlines()[0].split("  (")[1].split(":")[0] for entry in entries_of(out)]


def test_every_word_the_audit_prints_for_a_severity_is_explained():
    """The label before each finding, the summary line, and the NDJSON's severity, count keys and verdict."""
    findings = [AuditFinding("turn:t.example", "open relay", severity, "seen", "fix") for severity in SEVERITIES]
    summary = summary_record(findings, None, None, 1)
    text = io.StringIO()
    write_text(findings, summary, text)
    labels = [line[2:2 + LABEL_WIDTH].strip() for line in text.getvalue().splitlines()[1:] if
              line.startswith("  ") and not line.strip().startswith("fix:")]
    counted = re.fullmatch(r"audit: (.+) \((.+)\)", text.getvalue().splitlines()[-1])
    assert counted is not None
    said = {*labels, counted[1], *(count.split(" ", 1)[1] for count in counted[2].split(", "))}
    in_json = {*(finding_record(finding)["severity"] for finding in findings), summary["verdict"],
               *(name for name in summary if name in COUNT_KEYS.values())}

    assert len(labels) == len(SEVERITIES) and "NOT CHECKED" in labels and "notChecked" in in_json
    for word in said | in_json:
        assert the_kinds_explain_gives(word) == ["audit severity"], word


@pytest.mark.parametrize(
    "returncode", [-signal.SIGSYS, -signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT, 1, 0, os.EX_TEMPFAIL]
)
def test_every_way_the_transport_process_ends_is_said_with_a_word_explain_knows(returncode):
    how = describe_exit(returncode)

    [word] = [word for word in TRANSPORT_END_MEANINGS if word in how]
    assert the_kinds_explain_gives(word) == ["transport end"]
    assert (word == "sandbox violation") == (returncode == -signal.SIGSYS)
    assert (word == "restarted to read") == (returncode == os.EX_TEMPFAIL)


def test_a_word_means_one_thing_wherever_it_is_printed():
    kinds: dict[str, set[str]] = {}
    for entry in vocabulary():
        kinds.setdefault(entry.word, set()).add(entry.kind)

    assert {word for word, of in kinds.items() if len(of) > 1} == ONE_THING_IN_TWO_TABLES


def test_explain_credentials_is_the_diagnosis_cause_of_refused_credentials_not_an_audit_finding():
    status, out, _ = explained("credentials")

    [entry] = entries_of(out)
    assert status == 0 and entry.startswith("credentials  (diagnosis cause: ")
    assert "refused the username or credential" in entry and "errorCode 401 or 441" in entry


def test_every_label_the_alert_rules_point_to_is_a_word_explain_knows():
    labels = set()
    for rules in PROMETHEUS.glob("*.yml"):
        for values in re.findall(r'\b(?:cause|verdict)(?:=~|=|: )"([^"]+)"', rules.read_text()):
            labels |= set(values.split("|"))

    assert {"credentials", "credential expired", "shared secret"} <= labels
    for label in labels:
        status, out, _ = explained(label)
        assert status == 0 and entries_of(out)[0].startswith(f"{label}  ("), label


def test_a_failure_no_cause_row_explains_is_named_by_a_word_explain_knows():
    role_conflict = ServerOutcome("turn:t.example", "turn", "udp", "t.example", True, 1.0, (), 487, "Role Conflict",
                                  "server_error")
    cause = explain_failure(role_conflict, [role_conflict]).cause

    status, out, _ = explained(cause)
    assert (cause, status) == ("other", 0) and "(diagnosis cause: " in out


def test_an_error_cause_says_which_diagnosis_causes_it_leads_to():
    _, out, _ = explained("port_unreachable")

    [entry] = entries_of(out)
    assert entry.splitlines()[-1].endswith(": family closed or udp port closed")


def test_a_diagnosis_cause_gives_the_next_check_in_each_products_words_with_its_placeholders_named():
    _, out, _ = explained("family closed")

    lines = out.splitlines()
    assert "  meaning: answers over <answered family>; nothing listens over <failed family> (<failed address>)" in lines
    assert "  seen with: errorCode 701 with errorCause connection_refused or port_unreachable over one address " \
           "family, while the URL answered over the other" in lines
    assert any(line.startswith("    coturn: check ") and "listening-ip" in line for line in lines)
    assert not any("{" in line for line in lines)


@pytest.mark.parametrize("words", [["udp", "port", "closed"], ["udp-port-closed"], ["UDP Port Closed"]])
def test_a_word_of_several_can_be_given_as_arguments_with_hyphens_or_in_any_case(words):
    status, out, _ = explained(*words)

    assert status == 0 and [entry.split("  (")[0] for entry in entries_of(out)] == ["udp port closed"]


def test_several_words_are_explained_in_the_order_given():
    status, out, _ = explained("401", "relay", "wrong", "address", "certificate-expired", "certificate")

    headings = [entry.split("  (")[0] for entry in entries_of(out)]
    assert status == 0
    assert headings == ["401 Unauthorized", "relay wrong address", "certificate expired", "certificate"]


def test_an_unknown_word_gets_one_line_naming_close_words_and_exit_2():
    status, out, err = explained("port unreachable")

    assert (status, out) == (2, "") and err.count("\n") == 1
    assert err.startswith("icegather: 'port unreachable' is neither") and "'port_unreachable'" in err


def test_explain_alone_lists_every_word_of_every_table():
    status, out, _ = explained()

    headings = {entry.split("  (")[0].split(" ")[0] if entry[0].isdigit() else entry.split("  (")[0]
                for entry in entries_of(out)}
    assert status == 0 and headings == {word for word, _, _ in table_words()} | {"other"}


def test_the_command_line_guide_shows_the_real_output_of_explain():
    guide = (PROMETHEUS.parent / "command-line.md").read_text(encoding="utf-8")
    [(words, shown)] = re.findall(r"```\n\$ icegather explain ([^\n]*)\n(.*?)```", guide, flags=re.DOTALL)

    assert explained(*shlex.split(words)) == (0, shown, "")
