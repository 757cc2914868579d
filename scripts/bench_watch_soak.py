#!/usr/bin/env python3
"""A long ``--watch`` run: does either process grow?

``icegather --watch 0 --json`` for N rounds against a local coturn (a STUN and a TURN URL, with
the relay check, as the command line does by default), its output read as it comes. The
resident memory of the command and of its transport process is read after a warm-up and again
after N rounds; the growth between the two is what a monitoring loop that runs for weeks would
accumulate (target: under 1 MB for 10,000 rounds). Every round must end with a healthy summary.
The command runs on until it is read, then is stopped as a user stops it (Ctrl-C): a command
that stopped by itself after N rounds may be gone by the time its last line is read.

    python scripts/bench_watch_soak.py [--quick] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from commands import ICEGATHER
from local_coturn import local_coturn
from process_stats import rss_kb, transport_processes_of


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=10_000)
    args = parser.parse_args(argv)
    rounds, warm_up = (200, 50) if args.quick else (args.rounds, 1_000)
    with local_coturn() as coturn:
        credential = Path(coturn.workdir) / "credential"
        credential.write_text(coturn.password)
        command = [
            ICEGATHER, "--json", "--watch", "0", "--local-address", "127.0.0.1",
            "-s", coturn.url("stun"), "-s", coturn.url("turn"), "-u", coturn.username,
            "--credential-file", str(credential),
        ]
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        healthy = 0
        samples: dict[str, tuple[int, int]] = {}
        try:
            for line in process.stdout:
                summary = json.loads(line)
                healthy += summary["diagnosis"]["verdict"] == "healthy"
                if summary["round"] in (warm_up, rounds):
                    [transport] = transport_processes_of(process.pid)
                    samples["warm" if summary["round"] == warm_up else "end"] = rss_kb(process.pid), rss_kb(transport)
                if summary["round"] == rounds:
                    break
            seconds = time.perf_counter() - started
        finally:
            # Stopped however the reading ended: a command that runs until stopped never outlives it.
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
    (main_warm, transport_warm), (main_end, transport_end) = samples["warm"], samples["end"]
    print(f"bench_watch_soak: {rounds} rounds of --watch 0 (STUN + TURN with the relay check) in {seconds:.0f} s, "
          f"{healthy} healthy")
    print(f"  after {warm_up} rounds and at the end: main {main_warm / 1024:.1f} -> {main_end / 1024:.1f} MB "
          f"({(main_end - main_warm) / 1024:+.2f} MB), transport {transport_warm / 1024:.1f} -> "
          f"{transport_end / 1024:.1f} MB ({(transport_end - transport_warm) / 1024:+.2f} MB) "
          "(target: under 1 MB each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
