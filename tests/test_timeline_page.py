"""The timeline page, drawn from real runs and rendered in a real headless Chromium (Debian's
chromium and chromium-driver, through Selenium): every configured URL has a row, no two labels
intersect and no text leaves its chart, as the browser lays them out. Each page's screenshot is
written to .test-output/ at the top of the checkout, for a person to look at."""

from __future__ import annotations

import io
import json
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from commands import ICEGATHER
from hypothesis import given, settings
from hypothesis import strategies as st
from local_coturn import Coturn, free_port
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from stun_servers import ScriptedStunServer, never_answer

from icegather.main_proc.commands.report_command import run_report
from icegather.main_proc.views.page.page_words import CAUSE_WORDS
from icegather.main_proc.views.page.timeline_page import ROUNDS_DRAWN

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


def render(browser: webdriver.Chrome, page: Path, name: str) -> None:
    browser.get(page.as_uri())
    SCREENSHOTS.mkdir(exist_ok=True)
    # The whole page in one screenshot: the window as tall as the document.
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, max(1000, height + 140))
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


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
    # On a linear axis to the silent server's end the answers would share a few pixels.
    linear = (max(ended) - min(ended)) / (gave_up - started) * chart["width"]
    assert max(answers) - min(answers) > max(60, 4 * linear)
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


# --- a saved run is a file anyone may have edited ---------------------------------------------

# Breaks out of text, of either quote and of a tag, and carries a script and a handler.
PAYLOAD = "\"'></title></text><script>document.title='pwned'</script><img src=x onerror=alert(1)>"
# Every element and attribute the page is drawn with: anything else came from the input.
PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "pre", "svg", "g", "line", "text",
             "circle", "rect", "path", "polyline", "table", "thead", "tbody", "tr", "th", "td", "span", "br", "details",
             "summary"}
PAGE_ATTRIBUTES = {"lang", "charset", "class", "width", "height", "role", "aria-label", "x", "y", "x1", "y1", "x2",
                   "y2", "cx", "cy", "r", "d", "text-anchor", "transform", "fill", "stroke", "stroke-dasharray",
                   "points", "data-url", "data-address", "data-method", "data-outcome", "data-attempt", "data-entry",
                   "data-name", "data-lost", "data-sent"}


class Markup(HTMLParser):
    """The elements and attribute names of a page, as a browser's tokenizer sees them."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)


def assert_drawn_only_by_the_page(page: Path) -> None:
    markup = Markup(page.read_text(encoding="utf-8"))
    assert markup.tags <= PAGE_TAGS, markup.tags - PAGE_TAGS
    assert markup.attributes <= PAGE_ATTRIBUTES, markup.attributes - PAGE_ATTRIBUTES


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


def report(records: list[dict], directory: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``icegather report`` of these records (NaN and infinities as Python's json writes them)."""
    saved, page = directory / "run.ndjson", directory / "report.html"
    saved.write_text("".join(json.dumps(record) + "\n" for record in records))
    result = subprocess.run([ICEGATHER, "report", str(saved), "--html", str(page)], capture_output=True, text=True,
                            timeout=60)
    return result, page


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


def field_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path to every value inside a record: keys of dicts, indexes of lists."""
    items = list(value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else [])
    return [found for key, item in items for found in [(*path, key), *field_paths(item, (*path, key))]]


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    if isinstance(value, dict):
        return {**value, path[0]: replaced(value[path[0]], path[1:], new)}
    return [replaced(item, path[1:], new) if index == path[0] else item for index, item in enumerate(value)]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.just(PAYLOAD),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


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


# --- a --watch run with --html ----------------------------------------------------------------


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
