"""``icegather exporter [--listen HOST:PORT] [--config FILE]``: the Prometheus exporter's
command line. It listens on loopback unless told otherwise: whoever can reach it can make it
probe any address they name, as with blackbox_exporter. A configuration that does not load
stops it at start (exit status 2); once it serves, SIGHUP loads the file again."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from typing import Any, TextIO

from prometheus_client import disable_created_metrics

from icegather.main_proc.credentials.secrets_input import BadInput
from icegather.main_proc.diagnosis.exit_status import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK
from icegather.main_proc.exporter.config import load_config
from icegather.main_proc.exporter.server import serve

DEFAULT_LISTEN = "127.0.0.1:9474"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="icegather exporter",
        description="Serve STUN/TURN probes to Prometheus: /probe?target=URL&module=NAME, and /metrics.",
    )
    parser.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                        help=f"where to serve HTTP (default {DEFAULT_LISTEN}; port 0: any free port)")
    parser.add_argument("--config", metavar="FILE",
                        help="the modules file (YAML), loaded again on SIGHUP or POST /-/reload; without it, "
                        "module default only")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    return parser


def listen_address(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise BadInput(f"--listen {text!r}: give HOST:PORT, such as 127.0.0.1:9474 or [::1]:9474")
    return host, int(port)


def run_exporter(argv: list[str], out: TextIO, err: TextIO) -> int:
    args = build_parser().parse_args(argv)
    try:
        host, port = listen_address(args.listen)
        config = load_config(args.config)
    except BadInput as exc:
        err.write(f"icegather exporter: {exc}\n")
        return EXIT_BAD_INPUT
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # No *_created series beside each counter: Prometheus needs none. (The library leaves this
    # function unannotated.)
    disable_created_metrics()  # type: ignore[no-untyped-call]

    async def main() -> None:
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        serving: asyncio.Future[None] = asyncio.ensure_future(serve(config, host, port, ready, args.config))
        waited: set[asyncio.Future[Any]] = {ready, serving}
        await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
        if ready.done():
            shown = f"[{host}]" if ":" in host else host
            out.write(f"icegather exporter: listening on http://{shown}:{ready.result()}/\n")
            out.flush()
        await serving

    try:
        asyncio.run(main())
    except OSError as exc:  # the address is taken, or not ours
        reason = os.strerror(exc.errno) if exc.errno else str(exc)  # asyncio words its own strerror
        err.write(f"icegather exporter: cannot listen on {args.listen}: {reason}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_OK
