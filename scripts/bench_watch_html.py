#!/usr/bin/env python3
"""What ``--html`` adds to a long ``--watch`` run: ``icegather --watch 0 --rounds N --json``
with and without ``--html FILE``, in the same run against one local coturn, for two mixes of
servers: one STUN URL (the quickest rounds, about a millisecond each, so the page's share is
the largest) and a STUN and a TURN URL with the relay check (what bench_watch_soak runs).

Each pair runs twice in turns (without, with, with, without); the best of each counts. The
ratio is with/without (target: at most 2). Also printed: the peak resident memory of the
command without and with --html (the page keeps a window of rounds, so the difference does not
grow with N), and which rounds the last page says it draws.

    python scripts/bench_watch_html.py [--quick] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from commands import ICEGATHER
from local_coturn import Coturn, local_coturn

from icegather.main_proc.views.page.timeline_page import ROUNDS_DRAWN


def timed_run(command: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one whole run of the command."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, not all children's
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        raise RuntimeError(f"{command} exited {process.returncode}")
    return seconds, usage.ru_maxrss / 1024


def servers(coturn: Coturn, credential: Path, with_turn: bool) -> list[str]:
    turn = ["-s", coturn.url("turn"), "-u", coturn.username, "--credential-file", str(credential)]
    return ["-s", coturn.url("stun"), *(turn if with_turn else [])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=1_500)
    args = parser.parse_args(argv)
    # Quick: just past the page's window of rounds, one run each way.
    rounds = ROUNDS_DRAWN + 20 if args.quick else args.rounds
    order = (False, True) if args.quick else (False, True, True, False)
    best = "one run each" if args.quick else "best of 2 in turns"
    print(f"bench_watch_html: {rounds} rounds of --watch 0, without and with --html, {best}")
    with local_coturn() as coturn, tempfile.TemporaryDirectory() as workdir:
        credential = Path(workdir) / "credential"
        credential.write_text(coturn.password)
        page = Path(workdir) / "page.html"
        for name, with_turn in (("STUN", False), ("STUN + TURN", True)):
            command = [ICEGATHER, "--json", "--watch", "0", "--rounds", str(rounds), "--local-address", "127.0.0.1",
                       *servers(coturn, credential, with_turn)]
            times: dict[bool, list[float]] = {False: [], True: []}
            peak_mb = {False: 0.0, True: 0.0}
            for html in order:
                seconds, rss_mb = timed_run([*command, *(["--html", str(page)] if html else [])])
                times[html].append(seconds)
                peak_mb[html] = max(peak_mb[html], rss_mb)
            shown = re.search(r"Showing rounds (\d+) to (\d+)", page.read_text(encoding="utf-8"))
            window = f"rounds {shown[1]} to {shown[2]}" if shown else "NO WINDOW"
            without, with_html = min(times[False]), min(times[True])
            print(f"  {name:<11}: without {without:6.2f} s, with --html {with_html:6.2f} s, "
                  f"ratio x{with_html / without:.2f} (target <= 2); peak RSS {peak_mb[False]:.1f} MB, with --html "
                  f"{peak_mb[True]:.1f} MB; "
                  f"the last page shows {window}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
