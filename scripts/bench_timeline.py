#!/usr/bin/env python3
"""How long Chromium takes to render the timeline page of a run with 50 URLs, against a page of
the same size with no chart (its summary repeated instead), in the same run.

The run is real: 50 STUN URLs at closed loopback ports (each answered by an ICMP port
unreachable), with --html. Both pages are loaded in headless Chromium (Debian's chromium and
chromium-driver, through Selenium) N times in turns; the time is the browser's own, from the
start of navigation to the load event.

    python scripts/bench_timeline.py [--quick]
"""

from __future__ import annotations

import argparse
import html
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from commands import ICEGATHER
from local_coturn import free_port
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

FAST = ["--rto", "0.05", "--max-sends", "2", "--final-wait", "2", "--local-address", "127.0.0.1"]


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def load_ms(driver: webdriver.Chrome, page: Path) -> float:
    driver.get(page.as_uri())
    timing = driver.execute_script("const t = performance.getEntriesByType('navigation')[0];"
                                   "return t.loadEventEnd - t.startTime;")
    return float(timing)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    runs = 3 if args.quick else 20
    with tempfile.TemporaryDirectory() as workdir:
        directory = Path(workdir)
        urls = [f"stun:127.0.0.1:{free_port()}" for _ in range(50)]
        (directory / "ice.json").write_text(json.dumps({"iceServers": [{"urls": urls}]}))
        chart = directory / "chart.html"
        subprocess.run([ICEGATHER, "--config", str(directory / "ice.json"), "--html", str(chart), *FAST],
                       capture_output=True, check=False, timeout=60)
        size = chart.stat().st_size
        filler = html.escape("summary line of the same length. " * 4)
        plain = directory / "plain.html"
        plain.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><title>plain</title></head><body><pre>"
                         + "\n".join([filler] * (size // len(filler) + 1))[:size] + "</pre></body></html>")
        driver = browser()
        try:
            times: dict[str, list[float]] = {"chart": [], "plain": []}
            for _ in range(runs + 1):  # the first round warms the browser up and is not counted
                times["chart"].append(load_ms(driver, chart))
                times["plain"].append(load_ms(driver, plain))
        finally:
            driver.quit()
    chart_ms, plain_ms = (statistics.median(values[1:]) for values in times.values())
    print(f"bench_timeline: 50 URLs, a {size / 1024:.0f} kB page, median of {runs} loads in headless Chromium")
    print(f"  timeline page : {chart_ms:6.1f} ms")
    print(f"  same size, no chart : {plain_ms:6.1f} ms")
    print(f"  ratio : x{chart_ms / plain_ms:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
