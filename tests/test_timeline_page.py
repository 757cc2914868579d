"""The timeline page of one gathering, drawn from a real run and rendered in a real headless
Chromium: every configured URL has a row, no two labels intersect and no text leaves its chart,
as the browser lays them out; the waterfall shows each request and each failure in words; the
page fetches nothing and runs nothing, and ``report`` of the saved run draws the same page."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from commands import ICEGATHER
from local_coturn import free_port
from selenium.webdriver.common.by import By
from timeline_page_helpers import FAST, assert_labels_apart_and_inside, browser, configured, mixed_run, render, run

from icegather.main_proc.views.page.page_words import CAUSE_WORDS

__all__ = ["browser", "mixed_run"]  # the module's Chromium and run, for the tests here
# The module's run is drawn on a time axis whose spread of answers depends on when they came
# (test_a_silent_server_leaves_...): run alone.
pytestmark = pytest.mark.timing


def test_every_configured_url_has_a_row_in_the_status_table_and_in_the_waterfall(browser, mixed_run):
    page, records = mixed_run
    render(browser, page, "mixed")

    status = browser.find_elements(By.CSS_SELECTOR, "table.status tr.server")
    assert sorted((row.get_attribute("data-entry"), row.get_attribute("data-url")) for row in status) == configured(
        records)
    rows = browser.find_elements(By.CSS_SELECTOR, "svg.waterfall g.row")
    assert sorted({(row.get_attribute("data-entry"), row.get_attribute("data-url")) for row in rows}) == configured(
        records)
    # The name that does not resolve sent nothing, and still has its row, with its failure.
    [dns] = [row for row in rows if "invalid" in row.get_attribute("data-url")]
    assert "no request sent" in dns.text and "name does not resolve" in dns.text


def test_no_two_labels_intersect_and_no_text_leaves_its_chart(browser, mixed_run):
    page, _ = mixed_run
    render(browser, page, "mixed")

    assert_labels_apart_and_inside(browser)


def test_the_status_of_each_url_reads_in_shape_and_words_with_its_round_trip(browser, mixed_run):
    page, records = mixed_run
    render(browser, page, "mixed")

    shown = {(row.get_attribute("data-entry"), row.get_attribute("data-url")): row
             for row in browser.find_elements(By.CSS_SELECTOR, "table.status tr.server")}
    for server in records[-1]["servers"]:
        row = shown[(str(server["entry"]), server["url"])]
        state = row.find_element(By.CSS_SELECTOR, "td.state").text
        if server["errorCode"] is not None:
            assert state == "✖ failed"
        elif server["rttMs"] is not None:
            assert state == "● ok" and f"{server['rttMs']:.1f} ms" in row.text
    assert records[-1]["diagnosis"]["summary"] in browser.find_element(By.CSS_SELECTOR, "p.verdict").text


def test_the_waterfall_has_a_tick_per_request_sent_and_each_failure_in_words(browser, mixed_run):
    page, records = mixed_run
    render(browser, page, "mixed")
    traced = [r for r in records if r["type"] == "icetransaction"]

    sends = browser.find_elements(By.CSS_SELECTOR, "svg.waterfall line.send")
    assert len(sends) == sum(len(t["sendsMs"]) for t in traced)
    assert len([s for s in sends if s.get_attribute("data-attempt") != "1"]) == 2  # the silent server's
    labels = " ".join(label.text for label in browser.find_elements(By.CSS_SELECTOR, "svg.waterfall text.label"))
    for words in ("no answer", "port closed (ICMP)", "name does not resolve", "401 challenge (expected)",
                  "401 Unauthorized"):
        assert words in labels
    assert not set(CAUSE_WORDS) & set(labels.split())  # words, never a token such as port_unreachable


def test_a_silent_server_leaves_the_transactions_of_a_healthy_turn_server_spread_out(browser, mixed_run):
    page, records = mixed_run
    render(browser, page, "mixed")
    healthy = (0, records[-1]["servers"][0]["url"])
    ended = [t["endedMs"] for t in records if t["type"] == "icetransaction" and t["outcome"] == "answer"
             and (t["serverIndex"], t["url"]) == healthy]
    [gave_up] = [t["endedMs"] for t in records if t["type"] == "icetransaction" and t["cause"] == "no_response"]
    started = records[0]["timeMs"]

    chart = browser.find_element(By.CSS_SELECTOR, "svg.waterfall").rect
    row = next(row for row in browser.find_elements(By.CSS_SELECTOR, "svg.waterfall g.row")
               if (row.get_attribute("data-entry"), row.get_attribute("data-url")) == ("0", healthy[1]))
    answers = [mark.rect["x"] for mark in row.find_elements(By.CSS_SELECTOR, "circle.answer")]
    silent = browser.find_element(By.CSS_SELECTOR, 'svg.waterfall g.transaction[data-outcome="failed"] path').rect
    # On a linear axis to the silent server's end the answers would share a few pixels. How far
    # apart the logarithmic axis puts them depends on when they come: 90-130 px here, 47 on a
    # loaded machine where they came later.
    linear = (max(ended) - min(ended)) / (gave_up - started) * chart["width"]
    assert max(answers) - min(answers) > max(30, 4 * linear)
    assert silent["x"] + silent["width"] <= chart["x"] + chart["width"]


def test_the_page_fetches_nothing_and_contains_no_script(browser, mixed_run):
    page, records = mixed_run
    render(browser, page, "mixed")

    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert browser.execute_script("return document.scripts.length") == 0
    summary = browser.find_element(By.CSS_SELECTOR, "pre.summary").get_attribute("textContent")
    assert all(finding["finding"] in summary for finding in records[-1]["diagnosis"]["findings"])


def test_the_same_page_comes_from_html_and_from_report_of_the_saved_run(mixed_run, tmp_path):
    page, records = mixed_run
    saved = tmp_path / "run.ndjson"
    saved.write_text("".join(json.dumps(record) + "\n" for record in records))
    drawn = tmp_path / "report.html"

    result = subprocess.run([ICEGATHER, "report", str(saved), "--html", str(drawn)], capture_output=True, text=True,
                            timeout=60)

    assert result.returncode == 0, result.stderr

    def body(path: Path) -> str:  # all but the title, which names the saved file
        return path.read_text(encoding="utf-8").split("</h1>", 1)[1]

    assert body(drawn) == body(page)


def test_html_writes_the_trace_to_the_page_and_to_the_terminal_only_with_trace(tmp_path):
    page = tmp_path / "page.html"
    closed = ["--server", f"stun:127.0.0.1:{free_port()}", *FAST]

    quiet = subprocess.run([ICEGATHER, "--html", str(page), *closed], capture_output=True, text=True, timeout=60)
    drawn = page.read_text(encoding="utf-8")
    traced = subprocess.run([ICEGATHER, "--html", str(page), "--trace", *closed], capture_output=True, text=True,
                            timeout=60)

    assert " trace " not in quiet.stdout and 'data-method="Binding"' in drawn
    assert quiet.stdout.count("\n") == traced.stdout.count("\n") - 1
    assert " trace  Binding to 127.0.0.1:" in traced.stdout


def test_a_page_for_50_urls_stays_under_200_kb(tmp_path):
    ports = [free_port() for _ in range(50)]
    page, _ = run({"iceServers": [{"urls": [f"stun:127.0.0.1:{port}" for port in ports[:25]]},
                                  {"urls": [f"stun:127.0.0.1:{port}" for port in ports[25:]]}]}, tmp_path)

    assert page.stat().st_size < 200_000
