#!/usr/bin/env python3
"""The exporter under a long run of probes: throughput and memory.

A local coturn and an ``icegather exporter`` process; N probes of a TURN URL (allocation and
relay check) from 8 clients at once over keep-alive connections, as a Prometheus scraping
from many jobs would. Prints probes per second, how many failed (must be 0), and the resident
memory of the exporter and of its transport process after a warm-up of 1,000 probes and at
the end, as growth per 1,000 probes (target: flat, under 100 kB per 1,000 probes).

Then how long a probe of a silent server takes under Prometheus's scrape timeout (the
``X-Prometheus-Scrape-Timeout-Seconds`` header: 10 s, its default, and 2 s; with --quick, 2 s
only): it must answer within it, less the exporter's margin, and name the server ``silent``.

    python scripts/bench_exporter.py [--quick] [--probes N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from local_coturn import local_coturn
from local_exporter import coturn_module, exporter_process
from process_stats import rss_kb, transport_processes_of
from prometheus_client.parser import text_string_to_metric_families

from icegather.main_proc.exporter.probe_time import SCRAPE_TIMEOUT_MARGIN

CLIENTS = 8
WARM_UP = 1000


def probe_many(port: int, path: str, count: int) -> int:
    """``count`` probes on one keep-alive connection; how many did not succeed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    failed = 0
    try:
        for _ in range(count):
            connection.request("GET", path)
            body = connection.getresponse().read().decode()
            success = next(
                sample.value for family in text_string_to_metric_families(body) for sample in family.samples
                if sample.name == "icegather_probe_success"
            )
            failed += success != 1
    finally:
        connection.close()
    return failed


def run(port: int, path: str, count: int) -> tuple[float, int]:
    started = time.perf_counter()
    shares = [count // CLIENTS + (i < count % CLIENTS) for i in range(CLIENTS)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        failed = sum(pool.map(lambda share: probe_many(port, path, share), shares))
    return time.perf_counter() - started, failed


def silent_probe(port: int, target: str, scrape_timeout: float) -> tuple[float, str]:
    """One probe of ``target`` under ``scrape_timeout``: its seconds and its finding."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    try:
        connection.request("GET", f"/probe?target={target}",
                           headers={"X-Prometheus-Scrape-Timeout-Seconds": f"{scrape_timeout:g}"})
        body = connection.getresponse().read().decode()
    finally:
        connection.close()
    seconds = time.perf_counter() - started
    causes = [sample.labels.get("cause") or sample.labels.get("verdict", "") for family in
              text_string_to_metric_families(body) for sample in family.samples
              if sample.name in ("icegather_server_failure", "icegather_probe_info")]
    return seconds, " and ".join(sorted(set(causes)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--probes", type=int, default=10_000)
    args = parser.parse_args(argv)
    warm_up, probes = (40, 160) if args.quick else (WARM_UP, args.probes)
    with local_coturn() as coturn, tempfile.TemporaryDirectory() as workdir:
        directory = Path(workdir)
        turn = coturn_module(coturn, directory / "credential", local_addresses=["127.0.0.1"])
        config = {"modules": {"turn": turn, "stun": {"local_addresses": ["127.0.0.1"]}}}  # stun: the default schedule
        (directory / "icegather.yml").write_text(json.dumps(config))
        with exporter_process(directory / "icegather.yml", directory / "exporter.log", log_level="warning") as exporter:
            path = f"/probe?target={coturn.url('turn')}&module=turn"
            _, failed = run(exporter.port, path, warm_up)
            [transport] = transport_processes_of(exporter.process.pid)
            before = rss_kb(exporter.process.pid), rss_kb(transport)
            seconds, failed_after = run(exporter.port, path, probes)
            after = rss_kb(exporter.process.pid), rss_kb(transport)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never read: no answer
                silent.bind(("127.0.0.1", 0))
                target = f"stun:127.0.0.1:{silent.getsockname()[1]}&module=stun"
                silences = [(scrape, *silent_probe(exporter.port, target, scrape))
                            for scrape in ((2.0,) if args.quick else (10.0, 2.0))]
    per_thousand = [(end - start) * 1000 / probes for start, end in zip(before, after, strict=True)]
    print(f"bench_exporter: {probes} probes of a TURN URL (allocation and relay check) after {warm_up} to warm up, "
          f"{CLIENTS} clients")
    print(f"  {probes / seconds:,.0f} probes/s ({seconds:.1f} s); not successful: {failed + failed_after}")
    print(f"  exporter RSS {before[0] / 1024:.1f} MB -> {after[0] / 1024:.1f} MB: {per_thousand[0]:+.1f} kB per "
          f"1,000 probes; transport RSS {before[1] / 1024:.1f} MB -> {after[1] / 1024:.1f} MB: "
          f"{per_thousand[1]:+.1f} kB per 1,000 probes (target under 100 kB)")
    for scrape, took, found in silences:
        within = "within" if took < scrape - SCRAPE_TIMEOUT_MARGIN else "NOT within"
        print(f"  a silent server under a {scrape:g} s scrape timeout: answered in {took:.2f} s ({within} "
              f"{scrape - SCRAPE_TIMEOUT_MARGIN:g} s), found: {found}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
