"""The timeline page's charts of each relay's call-like stream (``--quality``), rendered in a
real headless Chromium: the median round trip of each interval as a line broken where nothing
came back, a bar per interval that lost packets as tall as the share it lost, the relay and its
figures in words, the stream's p95 and the degraded limit as labelled lines, and every label
apart from the others and inside its chart.

The records are built as ``icerelayquality`` records are written (one key list, the series'
sums agreeing with the counts, ``degraded`` from the thresholds' own table)."""

from __future__ import annotations

import io
import json
import statistics
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from page_markup import (
    JSON_VALUES,
    PAGE_ATTRIBUTES,
    PAGE_TAGS,
    PAYLOAD,
    Markup,
    assert_drawn_only_by_the_page,
    field_paths,
    replaced,
)
from selenium.webdriver.common.by import By
from timeline_page_helpers import assert_labels_apart_and_inside, browser, render, report, run

from icegather.main_proc.commands.report_command import run_report
from icegather.main_proc.views.page.drawable_records import drawable
from icegather.main_proc.views.page.timeline_page import timeline_page
from icegather.main_proc.views.report import RECORD_FIELDS
from icegather.shared.config.gather_limits import MAX_QUALITY_INTERVALS
from icegather.shared.vocabulary.quality_thresholds import crossed

__all__ = ["browser"]  # the module's Chromium, for the tests here

NEAR = "turn:127.0.0.1:3478"
FAR = "turn:127.0.0.1:3479?transport=tcp"


def stream(rtts: list[float | None], lost: list[int], url: str = NEAR, far_url: str | None = None,
           rate: int = 50, cause: str | None = None, **figures: Any) -> dict[str, Any]:
    """An ``icerelayquality`` record of a stream whose intervals of 100 ms came back in
    ``rtts`` ms (None: none came back) and lost ``lost`` packets; half of the losses out, the
    rest back. ``figures`` replace the computed ones (jitter, percentiles)."""
    sent = [rate // 10] * len(rtts)
    out = sum(sent)
    lost_out = sum(lost) // 2
    back_received = out - sum(lost)
    back = sorted(ms for ms in rtts if ms is not None)
    p50, p95, p99 = (statistics.quantiles(back, n=100, method="inclusive")[index] for index in (49, 94, 98)) if (
        len(back) > 1) else (back or [None]) * 3
    record: dict[str, Any] = {
        "type": "icerelayquality", "url": url, "serverIndex": 0, "address": "127.0.0.1", "port": 40000,
        "relayedAddress": "127.0.0.1", "relayedPort": 50000, "farUrl": far_url,
        "farServerIndex": 1 if far_url else None, "farRelayedAddress": "127.0.0.1" if far_url else None,
        "farRelayedPort": 50002 if far_url else None,
        "mechanism": "channel", "transport": "udp",
        "seconds": len(rtts) / 10, "rate": rate, "packetsOut": out, "packetsBack": out - lost_out,
        "packetsOutReceived": out - lost_out, "packetsBackReceived": back_received,
        "lossOut": lost_out / out if out else None,
        "lossBack": 1 - back_received / (out - lost_out) if out - lost_out else None,
        "jitterOutMs": 1.5, "jitterBackMs": 1.25, "rttMinMs": back[0] if back else None, "rttP50Ms": p50,
        "rttP95Ms": p95, "rttP99Ms": p99, "addedDelayMs": p95 - back[0] if back and p95 is not None else None,
        "reordered": 0, "duplicated": 0, "degraded": [], "cause": cause,
        "series": {"intervalMs": 100.0, "sent": sent, "lost": lost, "rttMs": rtts}, "timeMs": 1500.0,
    }
    record.update(figures)
    record["degraded"] = figures.get("degraded", list(crossed(record)))
    assert tuple(record) == RECORD_FIELDS["icerelayquality"]  # as icegather writes it
    return record


def page_of(records: list[dict[str, Any]], directory: Path) -> Path:
    assert all(drawable(record) for record in records)
    page = directory / "page.html"
    page.write_text(timeline_page(records), encoding="utf-8")
    return page


def charts(browser: Any) -> list[Any]:
    return browser.find_elements(By.CSS_SELECTOR, "svg.quality")


# 4 s of a path of about 40 ms with a 0.8 s outage and a few losses before and after it.
OUTAGE_RTTS: list[float | None] = [40.0 + (index % 7) for index in range(40)]
OUTAGE_RTTS[20:28] = [None] * 8
OUTAGE_LOST = [0] * 40
OUTAGE_LOST[20:28] = [5] * 8
OUTAGE_LOST[5], OUTAGE_LOST[33] = 1, 2


@pytest.fixture
def two_streams(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A stream to the peer socket with an outage, and a relay-to-relay stream without loss."""
    records = [stream(OUTAGE_RTTS, OUTAGE_LOST),
               stream([80.0 + index % 3 for index in range(30)], [0] * 30, far_url=FAR, jitterOutMs=2.0)]
    return page_of(records, tmp_path), records


def test_each_relay_has_a_chart_named_in_words_with_its_figures_in_one_line(browser, two_streams):
    page, _ = two_streams
    render(browser, page, "quality")

    assert [chart.get_attribute("data-url") for chart in charts(browser)] == [NEAR, NEAR]
    names = [name.text for name in browser.find_elements(By.CSS_SELECTOR, "h3.relay")]
    assert names == [f"{NEAR} (relayed at 127.0.0.1:50000) to icegather's peer socket",
                     f"relay to relay: {NEAR} (relayed at 127.0.0.1:50000) -> {FAR} (relayed at 127.0.0.1:50002)"]
    figures = [line.text for line in browser.find_elements(By.CSS_SELECTOR, "p.figures")]
    # 43 of 200 lost: 21 out, and 22 of the 179 echoed back.
    assert figures[0] == "quality: loss 10.5% out / 12.3% back, jitter 1.5 ms, RTT p50 43 ms p95 46 ms"
    assert figures[1] == "quality: loss 0.0% out / 0.0% back, jitter 2.0 ms, RTT p50 81 ms p95 82 ms"
    assert browser.find_element(By.CSS_SELECTOR, "p.counts").text.startswith(
        "jitter 1.5 ms out / 1.2 ms back; RTT min 40 ms p99 46 ms; added delay (p95 - min) 6.0 ms; 200 packets sent "
        "out, 179 arrived; 179 echoed back, 157 arrived;")
    judged = [line.text for line in browser.find_elements(By.CSS_SELECTOR, "p.judged")]
    assert judged == ["▲ relay degraded: loss above 1% either way", "● ran to its end within the limits"]
    assert_labels_apart_and_inside(browser)


def test_the_round_trip_line_has_a_point_per_interval_that_came_back_and_breaks_where_none_did(browser, two_streams):
    page, _ = two_streams
    render(browser, page, "quality")

    outage = charts(browser)[0]
    runs = [line.get_attribute("points").split() for line in outage.find_elements(By.CSS_SELECTOR, "polyline")]
    assert [len(run) for run in runs] == [20, 12]  # before and after the outage
    heights = {float(point.split(",")[1]) for run in runs for point in run}
    assert len(heights) == 7  # one for each of the seven round trips the path took


def test_each_interval_that_lost_packets_has_a_bar_as_tall_as_the_share_it_lost(browser, two_streams):
    page, _ = two_streams
    render(browser, page, "quality")

    outage, clean = charts(browser)
    bars = outage.find_elements(By.CSS_SELECTOR, "rect.lost")
    assert [int(bar.get_attribute("data-lost")) for bar in bars] == [lost for lost in OUTAGE_LOST if lost]
    heights = [bar.rect["height"] for bar in bars]
    assert heights[0] * 5 == pytest.approx(heights[1], abs=1)  # 1 of 5 lost, and all 5
    assert heights[-1] * 5 == pytest.approx(2 * heights[1], abs=1)
    assert [bar.get_attribute("textContent") for bar in bars][1] == "2 s to 2.1 s: 5 of 5 packets lost"
    # Bars follow time: the outage's sit between the line's two runs.
    lines = outage.find_elements(By.CSS_SELECTOR, "polyline")
    assert lines[0].rect["x"] + lines[0].rect["width"] < bars[1].rect["x"] < bars[-2].rect["x"] < lines[1].rect["x"]
    assert clean.find_elements(By.CSS_SELECTOR, "rect.lost") == []


def test_the_degraded_limit_is_a_labelled_line_above_a_slow_streams_p95(browser, tmp_path):
    slow = stream([250.0 + index * 10 for index in range(20)], [0] * 20)
    render(browser, page_of([slow], tmp_path), "quality-slow")

    [chart] = charts(browser)
    limit, p95 = (chart.find_element(By.CSS_SELECTOR, f"line.{kind}") for kind in ("limit", "p95"))
    assert limit.rect["y"] > p95.rect["y"]  # 300 ms is lower on the axis than the p95 of 430 ms
    assert chart.find_element(By.CSS_SELECTOR, "text.limit-label").text == "degraded: p95 over 300 ms"
    assert chart.find_element(By.CSS_SELECTOR, "text.p95-label").text == "p95 of this stream 430 ms"
    assert browser.find_element(By.CSS_SELECTOR, "p.judged").text == "▲ relay degraded: round trip p95 above 300 ms"
    assert_labels_apart_and_inside(browser)


def test_a_limit_far_above_a_loopback_round_trip_is_written_at_the_top_and_not_drawn(browser, tmp_path):
    loopback = stream([0.2 + index % 3 / 10 for index in range(50)], [0] * 50)
    render(browser, page_of([loopback], tmp_path), "quality-loopback")

    [chart] = charts(browser)
    assert chart.find_elements(By.CSS_SELECTOR, "line.limit") == []
    label = chart.find_element(By.CSS_SELECTOR, "text.limit-label")
    assert label.text == "degraded: p95 over 300 ms (off axis)"
    assert label.rect["y"] < chart.find_element(By.CSS_SELECTOR, "line.p95").rect["y"]
    assert_labels_apart_and_inside(browser)


def test_a_stream_cut_into_as_many_intervals_as_the_transport_may_stays_inside_its_chart(browser, tmp_path):
    count = MAX_QUALITY_INTERVALS
    rtts: list[float | None] = [None if index % 50 == 0 else 20.0 + index % 11 for index in range(count)]
    lost = [5 if rtt is None else index % 2 for index, rtt in enumerate(rtts)]
    record = stream(rtts, lost, rate=50, url="turn:" + "long-name." * 20 + "invalid:3478", far_url=FAR)
    render(browser, page_of([record], tmp_path), "quality-long")

    [chart] = charts(browser)
    box = chart.rect
    marks = chart.find_elements(By.CSS_SELECTOR, "rect.lost, polyline")
    assert len(marks) == sum(1 for n in lost if n) + count // 50
    for mark in (marks[0], marks[-1]):
        assert box["x"] <= mark.rect["x"] and mark.rect["x"] + mark.rect["width"] <= box["x"] + box["width"]
    assert_labels_apart_and_inside(browser)


def test_a_stream_that_stopped_says_why_and_one_that_sent_nothing_has_words_and_no_chart(browser, tmp_path):
    stopped = stream([30.0] * 10 + [None] * 5, [0] * 10 + [5] * 5, cause="connection_reset")
    nothing = stream([], [], url=FAR, cause="dns", jitterOutMs=None, jitterBackMs=None)
    render(browser, page_of([stopped, nothing], tmp_path), "quality-stopped")

    judged = [line.text for line in browser.find_elements(By.CSS_SELECTOR, "p.judged")]
    assert judged[0].startswith("✖ stopped early: connection reset; ▲ relay degraded: loss above 1%")
    assert judged[1] == "✖ stopped early: name does not resolve"
    assert [chart.get_attribute("data-url") for chart in charts(browser)] == [NEAR]
    assert browser.find_elements(By.CSS_SELECTOR, "p.figures")[1].text == (
        "quality: loss - out / - back, jitter -, no round trip")


def test_a_page_without_a_stream_has_no_quality_section():
    record = {"type": "icegatheringstatechange", "state": "gathering", "timeMs": 1.0}

    assert "Call-like stream" not in timeline_page([record])


@pytest.mark.parametrize(
    "change",
    [
        {"series": {"intervalMs": 100.0, "sent": [5, 5], "lost": [0], "rttMs": [1.0, 1.0]}},
        {"series": {"intervalMs": 100.0, "sent": [5], "lost": [6], "rttMs": [1.0]}},
        {"series": {"intervalMs": 0, "sent": [5], "lost": [0], "rttMs": [1.0]}},
        {"series": {"intervalMs": 100.0, "sent": [5], "lost": [0], "rttMs": [-1.0]}},
        {"series": {"intervalMs": 100.0, "sent": [5] * (MAX_QUALITY_INTERVALS + 1), "lost": [0] * (
            MAX_QUALITY_INTERVALS + 1), "rttMs": [1.0] * (MAX_QUALITY_INTERVALS + 1)}},
        {"series": [1, 2]},
        {"rttP95Ms": "40"},
        {"degraded": "loss"},
        {"farRelayedAddress": "relay.example"},
    ],
    ids=["lengths differ", "more lost than sent", "no interval", "negative round trip", "more intervals than sent",
         "not a dict", "a number as text", "a word for a list",
         "a name for an address"],
)
def test_a_stream_record_the_chart_cannot_draw_is_not_drawable(change):
    assert drawable(stream([1.0], [0]))
    assert not drawable({**stream([1.0], [0]), **change})


def test_markup_in_a_streams_text_is_shown_as_text_and_never_runs(browser, tmp_path):
    hostile = stream([10.0, None], [0, 5], url=NEAR + PAYLOAD, far_url=FAR + PAYLOAD,
                     mechanism=PAYLOAD, transport=PAYLOAD, cause=PAYLOAD, degraded=[PAYLOAD])
    page = page_of([hostile], tmp_path)

    assert_drawn_only_by_the_page(page)
    render(browser, page, "quality-hostile")
    assert browser.execute_script("return document.scripts.length") == 0
    assert PAYLOAD in browser.find_element(By.CSS_SELECTOR, "h3.relay").text
    assert charts(browser)[0].get_attribute("data-url") == NEAR + PAYLOAD


def test_a_saved_run_of_streams_is_drawn_by_report_as_the_page_draws_them(tmp_path):
    records = [stream(OUTAGE_RTTS, OUTAGE_LOST), stream([5.0, None, 6.0], [0, 5, 1], far_url=FAR)]
    saved, drawn = tmp_path / "run.ndjson", tmp_path / "report.html"
    saved.write_text("".join(json.dumps(record) + "\n" for record in records))
    out, err = io.StringIO(), io.StringIO()

    status = run_report([str(saved), "--html", str(drawn)], out, err)

    assert (status, err.getvalue()) == (0, "")
    body = drawn.read_text(encoding="utf-8").split("</h1>", 1)[1]
    assert body == timeline_page(records).split("</h1>", 1)[1]
    assert body.count('<svg class="chart quality"') == 2


@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=st.data())
def test_any_value_in_any_field_of_a_stream_is_not_drawable_or_drawn_as_text(data):
    record = stream([5.0, None, 6.0], [0, 5, 1], far_url=FAR)
    # Every field but the type, which report checks against the schema first.
    path = data.draw(st.sampled_from(field_paths(record)[1:]))
    changed = replaced(record, path, data.draw(JSON_VALUES))

    if drawable(changed):
        markup = Markup(timeline_page([changed]))
        assert markup.tags <= PAGE_TAGS and markup.attributes <= PAGE_ATTRIBUTES


def test_a_real_relay_to_relay_run_draws_each_stream_and_report_draws_the_same(browser, coturn, tmp_path):
    page, records = run({"iceServers": [coturn.ice_server("turn"), coturn.ice_server("turn", transport="tcp")]},
                        tmp_path, "--quality", "1", "--relay-to-relay")
    streams = [record for record in records if record["type"] == "icerelayquality"]
    render(browser, page, "quality-real")

    assert len(streams) == 2 and all(s["farUrl"] is not None and s["packetsOut"] for s in streams)
    assert [chart.get_attribute("data-url") for chart in charts(browser)] == [s["url"] for s in streams]
    names = [name.text for name in browser.find_elements(By.CSS_SELECTOR, "h3.relay")]
    assert all(name.startswith(f"relay to relay: {s['url']} ") and f" -> {s['farUrl']} " in name
               for name, s in zip(names, streams, strict=True))
    for chart, s in zip(charts(browser), streams, strict=True):
        points = sum(len(line.get_attribute("points").split()) for line in chart.find_elements(By.CSS_SELECTOR,
                                                                                               "polyline"))
        assert points == sum(1 for ms in s["series"]["rttMs"] if ms is not None)
        assert len(chart.find_elements(By.CSS_SELECTOR, "rect.lost")) == sum(1 for n in s["series"]["lost"] if n)
    assert_labels_apart_and_inside(browser)
    result, drawn = report(records, tmp_path)
    assert result.returncode == 0, result.stderr
    assert drawn.read_text(encoding="utf-8").split("</h1>", 1)[1] == page.read_text(encoding="utf-8").split("</h1>",
                                                                                                               1)[1]
