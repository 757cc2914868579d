#!/usr/bin/env python3
"""The command line as a user meets it: whole processes, start-up included.

Three commands, run in turns so that each sees the same machine: bare ``python -c pass`` (the
floor any Python tool stands on), ``icegather -s http://x`` (bad input: answered before
asyncio and ZeroMQ are loaded) and a one-shot check of one healthy local STUN server (the
transport process is spawned as soon as the arguments parse, and starts while the main process
loads the rest of itself). Medians of N runs, and each against the bare interpreter.

    python scripts/bench_cli.py [--quick]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time

from bench_options import quick_mode
from commands import ICEGATHER
from local_coturn import local_coturn


def wall(command: list[str]) -> float:
    # A blocking wait, and a timer for a command that hangs: waiting with a timeout polls with
    # growing sleeps, which would add up to several milliseconds to every figure.
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    process.wait()
    watchdog.cancel()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    quick = quick_mode(argv, __doc__)
    runs = 3 if quick else 15
    with local_coturn() as coturn:
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "bad input": [ICEGATHER, "-s", "http://x"],
            "one STUN server": [ICEGATHER, "-s", f"stun:127.0.0.1:{coturn.port}", "--local-address", "127.0.0.1"],
        }
        # The same check with the transport unconfined: what its sandbox costs.
        commands["unconfined"] = [*commands["one STUN server"], "--no-sandbox"]
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs + 1):  # the first round warms the caches and is not counted
            for name, command in commands.items():
                times[name].append(wall(command))
    medians = {name: statistics.median(values[1:]) * 1000 for name, values in times.items()}
    floor = medians["python -c pass"]
    print(f"bench_cli: whole processes, median of {runs}")
    print(f"  python -c pass   : {floor:6.1f} ms")
    print(f"  bad input        : {medians['bad input']:6.1f} ms, x{medians['bad input'] / floor:.1f} (target: x2.6)")
    one = medians["one STUN server"]
    print(f"  one STUN server  : {one:6.1f} ms, x{one / floor:.1f} (target: x8.7)")
    print(f"    --no-sandbox   : {medians['unconfined']:6.1f} ms: the sandbox costs x{one / medians['unconfined']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
