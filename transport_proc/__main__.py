"""``python -m transport_proc --bind ENDPOINT``: run the transport process.

The main process starts it with ``--watch-stdin`` and a private ``ipc://`` endpoint; the
transport then lives exactly as long as the pipe on its stdin.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from transport_proc.service import run_service


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m transport_proc", description=__doc__)
    parser.add_argument("--bind", required=True, help="ZeroMQ endpoint to serve on, e.g. ipc:///run/user/1000/icegather/transport")
    parser.add_argument("--watch-stdin", action="store_true", help="exit when stdin is closed")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default) or ERROR")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="transport[%(process)d] %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run_service(args.bind, watch_stdin=args.watch_stdin))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
