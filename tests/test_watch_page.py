"""The page of a ``--watch`` run with ``--html``, rendered in a real headless Chromium: each URL's
status round by round on its own row, a round trip line per URL that answered, told apart by
dashes and markers and named at its end, only the last rounds drawn after many, and the page of
the last round left when the run is ended with Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest
from commands import ICEGATHER
from local_coturn import Coturn, free_port
from selenium.webdriver.common.by import By
from timeline_page_helpers import FAST, assert_labels_apart_and_inside, browser, configured, render, report, run

from icegather.main_proc.views.page.timeline_page import ROUNDS_DRAWN

__all__ = ["browser"]  # the module's Chromium, for the tests here


@pytest.fixture(scope="module")
def watch_run(coturn: Coturn, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """Three rounds of TURN, STUN and a closed port, with every event (--trace)."""
    return run({"iceServers": [coturn.ice_server("turn"), {"urls": coturn.url("stun")},
                               {"urls": f"stun:127.0.0.1:{free_port()}"}]},
               tmp_path_factory.mktemp("watch"), "--watch", "0", "--rounds", "3")


def test_a_watch_page_draws_each_urls_status_round_by_round_on_its_own_row(browser, watch_run):
    page, records = watch_run
    render(browser, page, "watch")
    closed = records[-1]["servers"][2]["url"]

    rows = {row.get_attribute("data-url"): row
            for row in browser.find_elements(By.CSS_SELECTOR, "svg.grid-chart g.row")}
    assert sorted(rows) == sorted(url for _, url in configured(records))
    for url, row in rows.items():
        cells = [cell.get_attribute("class") for cell in row.find_elements(By.CSS_SELECTOR, "g.cell")]
        assert cells == ["cell failed"] * 3 if url == closed else cells == ["cell ok"] * 3
    assert_labels_apart_and_inside(browser)


def test_the_round_trip_lines_differ_in_dashes_and_markers_and_are_named_at_their_ends(browser, watch_run):
    page, _ = watch_run
    render(browser, page, "watch")

    lines = browser.find_elements(By.CSS_SELECTOR, "svg.rtt g.series")
    looks = {(line.find_element(By.CSS_SELECTOR, "polyline").get_attribute("stroke-dasharray"),
              line.find_elements(By.CSS_SELECTOR, "circle, rect, path")[0].tag_name) for line in lines}
    assert len(lines) == len(looks) == 2  # the closed port never answered: no line
    names = [label.text for label in browser.find_elements(By.CSS_SELECTOR, "svg.rtt text.end-label")]
    assert sorted(names) == sorted(line.get_attribute("data-name") for line in lines)


def test_a_saved_watch_run_with_trace_is_drawn_with_its_last_rounds_waterfall(browser, watch_run, tmp_path):
    _, records = watch_run

    result, page = report(records, tmp_path)

    assert result.returncode == 0, result.stderr
    render(browser, page, "watch-report")
    rows = browser.find_elements(By.CSS_SELECTOR, "svg.waterfall g.row")
    assert sorted({(row.get_attribute("data-entry"), row.get_attribute("data-url")) for row in rows}) == configured(
        records)
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.grid-chart g.cell")) == 9


def test_after_many_rounds_the_watch_page_draws_only_the_last_rounds_and_says_which(browser, coturn, tmp_path):
    rounds = ROUNDS_DRAWN + 30
    page, records = run({"iceServers": [{"urls": coturn.url("stun")}]}, tmp_path, "--watch", "0", "--rounds",
                        str(rounds), trace=False)
    render(browser, page, "watch-window")

    assert [r["round"] for r in records] == list(range(1, rounds + 1))
    [series] = browser.find_elements(By.CSS_SELECTOR, "svg.rtt g.series")
    assert sum(len(line.get_attribute("points").split())
               for line in series.find_elements(By.CSS_SELECTOR, "polyline")) == ROUNDS_DRAWN
    labels = [label.text for label in browser.find_elements(By.CSS_SELECTOR, "svg.rtt text.tick")
              if label.text.isdigit()]
    assert labels[0] == "31" and len(labels) <= 10
    window = browser.find_element(By.CSS_SELECTOR, "p.window").text
    assert f"Showing rounds 31 to {rounds}" in window and f"the last {ROUNDS_DRAWN} rounds" in window
    assert f"summary (round {rounds}," in browser.find_element(By.CSS_SELECTOR, "pre.summary").get_attribute(
        "textContent")
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.waterfall g.transaction")) == 1  # the last round's only
    assert sorted(file.name for file in tmp_path.iterdir()) == ["ice.json", "page.html"]  # no temporary file left
    assert_labels_apart_and_inside(browser)


def test_a_watch_run_ended_with_ctrl_c_leaves_the_page_of_its_last_round(coturn, tmp_path):
    (tmp_path / "ice.json").write_text(json.dumps({"iceServers": [{"urls": coturn.url("stun")}]}))
    page = tmp_path / "page.html"
    command = [ICEGATHER, "--json", "--config", str(tmp_path / "ice.json"), "--html", str(page), *FAST, "--watch", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        shown = [process.stdout.readline() for _ in range(200)]
        process.send_signal(signal.SIGINT)
        shown += process.stdout.readlines()
    last_round = json.loads(shown[-1])["round"]

    assert process.returncode == 130 and last_round >= 200
    assert re.findall(r"summary \(round (\d+),", page.read_text(encoding="utf-8")) == [str(last_round)]
