"""The timeline page, drawn from real runs and rendered in a real headless Chromium (Debian's
chromium and chromium-driver, through Selenium). Each page's screenshot is written to
.test-output/ at the top of the checkout, for a person to look at."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from commands import ICEGATHER
from local_coturn import Coturn, free_port
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from stun_servers import ScriptedStunServer, never_answer

SCREENSHOTS = Path(__file__).resolve().parent.parent / ".test-output"
FAST = ["--rto", "0.05", "--max-sends", "3", "--final-wait", "2", "--local-address", "127.0.0.1"]


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def run(configuration: dict, directory: Path, *flags: str) -> tuple[Path, list[dict]]:
    """Gather with --json --html: the page and the records."""
    (directory / "ice.json").write_text(json.dumps(configuration))
    page = directory / "page.html"
    result = subprocess.run([ICEGATHER, "--json", "--config", str(directory / "ice.json"), "--html", str(page),
                             *FAST, *flags], capture_output=True, text=True, timeout=60)
    assert result.stderr == ""
    return page, [json.loads(line) for line in result.stdout.splitlines()]


def render(browser: webdriver.Chrome, page: Path, name: str) -> None:
    browser.get(page.as_uri())
    SCREENSHOTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


@pytest.fixture
def mixed_run(coturn: Coturn, tmp_path: Path) -> Iterator[tuple[Path, list[dict]]]:
    """coturn with a healthy relay and a wrong password, a silent server, a closed port."""
    with ScriptedStunServer(never_answer) as silent:
        yield run({"iceServers": [
            coturn.ice_server("turn"),
            coturn.ice_server("turn", transport="tcp", password="wrong"),
            {"urls": silent.url()},
            {"urls": f"stun:127.0.0.1:{free_port()}"},
        ]}, tmp_path)


def test_the_page_has_a_row_per_url_and_local_address_and_a_tick_per_request_sent(browser, mixed_run):
    page, records = mixed_run
    render(browser, page, "mixed")
    traced = [r for r in records if r["type"] == "icetransaction"]

    rows = browser.find_elements(By.CSS_SELECTOR, "svg.waterfall g.row")
    assert sorted((row.get_attribute("data-url"), row.get_attribute("data-address")) for row in rows) == sorted(
        {(t["url"], t["address"]) for t in traced}
    )
    sends = browser.find_elements(By.CSS_SELECTOR, "svg.waterfall line.send")
    assert len(sends) == sum(len(t["sendsMs"]) for t in traced)
    retransmissions = [s for s in sends if s.get_attribute("data-attempt") != "1"]
    assert len(retransmissions) == 2  # the silent server's second and third requests


def test_each_failure_shows_its_code_or_cause_on_its_row(browser, mixed_run):
    page, records = mixed_run
    render(browser, page, "mixed")

    for failed in (r for r in records if r["type"] == "icetransaction" and r["outcome"] != "answer"):
        row = browser.find_element(By.CSS_SELECTOR, f'svg.waterfall g.row[data-url="{failed["url"]}"]')
        shown = failed["cause"] if failed["outcome"] == "failed" else str(failed["errorCode"])
        assert shown in row.text


def test_the_page_fetches_nothing_and_carries_the_summary_and_diagnosis(browser, mixed_run):
    page, records = mixed_run
    render(browser, page, "mixed")

    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    summary = browser.find_element(By.CSS_SELECTOR, "pre.summary").text
    assert records[-1]["diagnosis"]["summary"] in summary
    assert all(finding["finding"] in summary for finding in records[-1]["diagnosis"]["findings"])


def test_a_watch_run_draws_each_servers_rtt_round_by_round(browser, coturn, tmp_path):
    page, records = run({"iceServers": [coturn.ice_server("turn"), {"urls": coturn.url("stun")}]}, tmp_path,
                        "--watch", "0", "--rounds", "3")
    render(browser, page, "watch")

    assert len([r for r in records if r["type"] == "summary"]) == 3
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.rtt polyline.series")) == 2


def test_a_page_for_50_urls_stays_under_200_kb(tmp_path):
    ports = [free_port() for _ in range(50)]
    page, _ = run({"iceServers": [{"urls": [f"stun:127.0.0.1:{port}" for port in ports[:25]]},
                                  {"urls": [f"stun:127.0.0.1:{port}" for port in ports[25:]]}]}, tmp_path)

    assert page.stat().st_size < 200_000


def test_a_saved_run_is_drawn_by_icegather_report(browser, mixed_run, tmp_path):
    _, records = mixed_run
    saved = tmp_path / "run.ndjson"
    saved.write_text("".join(json.dumps(record) + "\n" for record in records))
    page = tmp_path / "report.html"

    result = subprocess.run([ICEGATHER, "report", str(saved), "--html", str(page)], capture_output=True, text=True,
                            timeout=60)

    assert result.returncode == 0, result.stderr
    render(browser, page, "report")
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.waterfall line.send")) == sum(
        len(r["sendsMs"]) for r in records if r["type"] == "icetransaction"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [("not json\n", "line 1 is not a record"), ('{"type": "summary"}\n', "line 1 is not a record"), ("", "no records")],
)
def test_a_file_that_is_not_a_saved_run_is_refused_with_one_line(content, message, tmp_path):
    (tmp_path / "run.ndjson").write_text(content)
    result = subprocess.run([ICEGATHER, "report", str(tmp_path / "run.ndjson"), "--html", str(tmp_path / "p.html")],
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1
