"""A saved run is a file anyone may have edited: ``icegather report`` refuses a file that is not
a saved run with one line, leaves out each record it cannot draw and says how many, and shows
markup in any field as the text it is, never as markup that runs, in a real headless Chromium."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from commands import ICEGATHER
from hypothesis import given, settings
from hypothesis import strategies as st
from page_markup import JSON_VALUES, PAYLOAD, assert_drawn_only_by_the_page, field_paths, replaced
from selenium.webdriver.common.by import By
from timeline_page_helpers import browser, mixed_run, render, report

from icegather.main_proc.commands.report_command import run_report

__all__ = ["browser", "mixed_run"]  # the module's Chromium and run, for the tests here


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json\n", "line 1 is not a record"),
        ('{"type": "summary"}\n', "line 1 (summary) has other keys"),
        ('{"type": "icegatheringstatechange", "state": "gathering", "time_ms": 1.0}\n',
         "line 1 (icegatheringstatechange) has other keys than this version of icegather writes (no 'timeMs'; "
         "unknown 'time_ms'): written by another version?"),
        ("", "no records"),
        ("[" * 100_000 + "]" * 100_000 + "\n", "line 1 is not a record"),  # deeper than the JSON parser goes
    ],
    ids=["not json", "not a record", "another version", "empty", "nested too deep"],
)
def test_a_file_that_is_not_a_saved_run_is_refused_with_one_line(content, message, tmp_path):
    (tmp_path / "run.ndjson").write_text(content)
    result = subprocess.run([ICEGATHER, "report", str(tmp_path / "run.ndjson"), "--html", str(tmp_path / "p.html")],
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1


def test_a_summary_whose_relay_checks_lack_newer_keys_is_left_out_with_a_count(mixed_run, tmp_path):
    _, records = mixed_run
    older = {**records[-1], "servers": [
        {**row, "relays": [{key: value for key, value in relay.items() if not key.startswith(("indication", "channel",
                                                                                                 "stray"))}
                           for relay in row["relays"]]} for row in records[-1]["servers"]]}

    result, page = report([*records[:-1], older, records[-1]], tmp_path)

    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "1 record left out" in result.stderr
    assert "1 record left out" in page.read_text(encoding="utf-8")


def with_payload(value: Any, key: str = "") -> Any:
    """Every string the page may show as text, with the payload appended (``type``, a
    transaction's ``outcome``, a relayed address, the server address a row failed at and a
    row's note names keep what icegather writes there, or the record would be refused or left
    out rather than drawn)."""
    if isinstance(value, dict):
        return {name: with_payload(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [with_payload(item, key) for item in value]
    if isinstance(value, str) and key not in ("type", "outcome", "relayedAddress", "errorServerAddress", "note"):
        return value + PAYLOAD
    return value


def test_markup_in_every_text_field_of_a_saved_run_is_shown_as_text_and_never_runs(browser, mixed_run, tmp_path):
    _, records = mixed_run
    hostile = [with_payload(record) for record in records]

    result, page = report(hostile, tmp_path)

    assert result.returncode == 0, result.stderr
    assert_drawn_only_by_the_page(page)
    render(browser, page, "hostile")
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.execute_script("return document.querySelectorAll('img, [onerror]').length") == 0
    # Shown as the text it is: in the summary, and unchanged in the attributes of the rows.
    assert PAYLOAD in browser.find_element(By.CSS_SELECTOR, "table.status").text
    assert PAYLOAD in browser.find_element(By.CSS_SELECTOR, "pre.summary").get_attribute("textContent")
    rows = browser.find_elements(By.CSS_SELECTOR, "svg.waterfall g.row")
    assert {row.get_attribute("data-url") for row in rows} == {row["url"] for row in hostile[-1]["servers"]}


def wrong_types(records: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """Copies of a state change, a transaction and the summary with one field each of a type
    or value icegather never writes there: before the round, inside it, and after its summary
    (where each would be the summary drawn)."""
    state = next(r for r in records if r["type"] == "icegatheringstatechange")
    transaction = next(r for r in records if r["type"] == "icetransaction")
    summary = records[-1]
    server = next(row for row in summary["servers"] if row["relays"])
    return (
        [{**state, "timeMs": PAYLOAD}],
        [{**transaction, **change} for change in (
            {"method": [PAYLOAD]}, {"endedMs": PAYLOAD}, {"sendsMs": [PAYLOAD]}, {"outcome": PAYLOAD},
            {"errorCode": PAYLOAD}, {"endedMs": 1e308}, {"rttMs": float("nan")}, {"address": {"a": PAYLOAD}},
        )],
        [{**summary, **change} for change in (
            {"round": PAYLOAD}, {"servers": PAYLOAD}, {"servers": [{**server, "url": [PAYLOAD]}]},
            {"servers": [{**server, "relays": [{**server["relays"][0], "relayedAddress": PAYLOAD}]}]},
            {"servers": [{**server, "relays": [{**server["relays"][0], "quality": {"transport": [PAYLOAD]}}]}]},
            {"diagnosis": [PAYLOAD]}, {"candidates": [PAYLOAD]}, {"timeMs": float("inf")}, {"round": 2**80},
        )],
    )


def test_records_with_a_field_of_the_wrong_type_are_left_out_and_the_rest_is_drawn(browser, mixed_run, tmp_path):
    _, records = mixed_run
    before, inside, after = wrong_types(records)
    saved = [*before, *records[:-1], *inside, records[-1], *after]
    wrong = [*before, *inside, *after]
    left_out = [number for number, record in enumerate(saved, 1) if any(record is w for w in wrong)]

    result, page = report(saved, tmp_path)

    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and f"{len(left_out)} records left out" in result.stderr
    assert f"lines {', '.join(map(str, left_out[:5]))}, ..." in result.stderr
    assert_drawn_only_by_the_page(page)
    render(browser, page, "wrong-types")
    assert browser.execute_script("return document.scripts.length") == 0
    assert f"{len(left_out)} records left out" in browser.find_element(By.CSS_SELECTOR, "p.note").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.waterfall line.send")) == sum(
        len(r["sendsMs"]) for r in records if r["type"] == "icetransaction"
    )
    assert records[-1]["diagnosis"]["summary"] in browser.find_element(By.CSS_SELECTOR, "p.verdict").text


@pytest.fixture(scope="module")
def fuzzed_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzzed")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=st.data())
def test_any_value_in_any_field_of_a_saved_run_is_refused_or_left_out_or_drawn_as_text(mixed_run, fuzzed_files, data):
    _, records = mixed_run
    index = data.draw(st.integers(0, len(records) - 1))
    path = data.draw(st.sampled_from(field_paths(records[index])))
    records = [*records[:index], replaced(records[index], path, data.draw(JSON_VALUES)), *records[index + 1:]]
    saved, page = fuzzed_files / "run.ndjson", fuzzed_files / "page.html"
    saved.write_text("".join(json.dumps(record) + "\n" for record in records))
    page.unlink(missing_ok=True)
    out, err = io.StringIO(), io.StringIO()

    status = run_report([str(saved), "--html", str(page)], out, err)

    assert (status, err.getvalue()) == (0, "") or (status == 2 and err.getvalue().count("\n") == 1)
    if page.exists():
        assert_drawn_only_by_the_page(page)
