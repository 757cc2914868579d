"""``icegather sandbox``: start a transport (or connect to a running one), ask it which
confinement layers are in force, and print each with its detail, as ``chrome://sandbox`` does.
Exit status 0 only when every layer this kernel supports is on."""

from __future__ import annotations

import argparse
import asyncio
from typing import TextIO

from icegather.main_proc.diagnosis.exit_status import EXIT_FINDINGS, EXIT_OK, EXIT_TRANSPORT_FAILED
from icegather.main_proc.link.sandbox_layers import fully_confined, layers
from icegather.main_proc.link.transport_client import TransportClient
from icegather.main_proc.link.transport_error import TransportError
from icegather.shared.structs import SandboxInfo


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="icegather sandbox",
        description="Start a transport process and show which confinement layers it runs under: "
        "resource limits, capabilities, no-new-privs, seccomp and Landlock. Exit status 0 only when "
        "every layer this kernel supports is on.",
    )
    parser.add_argument("--transport", metavar="ENDPOINT",
                        help="ask a running transport service (ipc://PATH) instead of starting one")
    parser.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                        help="start the transport without its sandbox (to see the difference)")
    return parser


async def ask(endpoint: str | None, sandbox: bool) -> SandboxInfo:
    if endpoint is None:
        client = await TransportClient.start(sandbox=sandbox)
    else:
        client = await TransportClient.connect(endpoint)
    try:
        return client.sandbox
    finally:
        await client.aclose()


def run_sandbox(argv: list[str], out: TextIO, err: TextIO) -> int:
    args = build_parser().parse_args(argv)
    if not args.sandbox:
        err.write("icegather: warning: --no-sandbox: the transport parses what any server sends, unconfined\n")
    try:
        info = asyncio.run(ask(args.transport, args.sandbox))
    except TransportError as exc:
        err.write(f"icegather: {exc}\n")
        return EXIT_TRANSPORT_FAILED
    if not info.enabled:
        out.write("sandbox: off (the transport runs unconfined)\n")
    width = max(len(layer.name) for layer in layers(info))
    for layer in layers(info):
        state = "on" if layer.on else "unavailable" if not layer.supported else "OFF"
        out.write(f"{layer.name:<{width}}  {state:<11}  {layer.detail}\n")
    return EXIT_OK if fully_confined(info) else EXIT_FINDINGS
