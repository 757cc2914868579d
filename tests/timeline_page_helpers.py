"""Drawing timeline pages of real runs and looking at them as a browser lays them out: the
installed command with ``--html`` or ``report``, a real headless Chromium (Debian's chromium and
chromium-driver, through Selenium) that writes each page's screenshot to .test-output/ at the
top of the checkout, for a person to look at, and the check that no two labels intersect and no
text leaves its chart."""

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


def run(configuration: dict, directory: Path, *flags: str, trace: bool = True) -> tuple[Path, list[dict]]:
    """Gather with --json --html (and --trace): the page and the records."""
    (directory / "ice.json").write_text(json.dumps(configuration))
    page = directory / "page.html"
    result = subprocess.run([ICEGATHER, "--json", *(["--trace"] if trace else []), "--config",
                             str(directory / "ice.json"), "--html", str(page), *FAST, *flags],
                            capture_output=True, text=True, timeout=60)
    assert result.stderr == ""
    return page, [json.loads(line) for line in result.stdout.splitlines()]


def report(records: list[dict], directory: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``icegather report`` of these records (NaN and infinities as Python's json writes them)."""
    saved, page = directory / "run.ndjson", directory / "report.html"
    saved.write_text("".join(json.dumps(record) + "\n" for record in records))
    result = subprocess.run([ICEGATHER, "report", str(saved), "--html", str(page)], capture_output=True, text=True,
                            timeout=60)
    return result, page


@pytest.fixture(scope="module")
def mixed_run(coturn: Coturn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[dict]]]:
    """Healthy TURN over UDP and TCP, a wrong password, a silent server, a name that does not
    resolve and a closed port."""
    with ScriptedStunServer(never_answer) as silent:
        yield run({"iceServers": [
            coturn.ice_server("turn"),
            coturn.ice_server("turn", transport="tcp"),
            coturn.ice_server("turn", password="wrong"),
            {"urls": silent.url()},
            {"urls": "stun:stun1.invalid:3478"},
            {"urls": f"stun:127.0.0.1:{free_port()}"},
        ]}, tmp_path_factory.mktemp("mixed"), "--rto", "0.5")  # the silent server gives up after seconds


def render(browser: webdriver.Chrome, page: Path, name: str) -> None:
    browser.get(page.as_uri())
    SCREENSHOTS.mkdir(exist_ok=True)
    # The whole page in one screenshot: the window as tall as the document.
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, max(1000, height + 140))
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def configured(records: list[dict]) -> list[tuple[str, str]]:
    """(entry, URL) of every configured URL, from the summary, as the page's data attributes."""
    return sorted((str(row["entry"]), row["url"]) for row in records[-1]["servers"])


# Every text element of every chart: its own text (not its tooltip's) and its rendered box,
# with the box of its chart.
TEXT_BOXES = """
return [...document.querySelectorAll('svg')].map(svg => ({
  chart: svg.getBoundingClientRect().toJSON(),
  texts: [...svg.querySelectorAll('text')].map(text => ({
    text: [...text.childNodes].filter(node => node.nodeType === 3).map(node => node.data).join(''),
    box: text.getBoundingClientRect().toJSON(),
  })),
}));
"""


def overlap(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def assert_labels_apart_and_inside(browser: webdriver.Chrome) -> None:
    charts = browser.execute_script(TEXT_BOXES)
    assert charts
    for chart in charts:
        texts, box = chart["texts"], chart["chart"]
        for text in texts:
            inside = (box["left"] <= text["box"]["left"] and text["box"]["right"] <= box["right"]
                      and box["top"] <= text["box"]["top"] and text["box"]["bottom"] <= box["bottom"])
            assert inside, f"{text['text']!r} leaves its chart"
        for number, a in enumerate(texts):
            for b in texts[number + 1:]:
                assert not overlap(a["box"], b["box"]), f"{a['text']!r} and {b['text']!r} intersect"
