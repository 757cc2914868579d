"""``icegather``: gather ICE candidates against STUN/TURN servers and say what failed.

Exit status: 0 when gathering completed without any ``icecandidateerror``; 1 when at least
one fired; 2 for bad input (a malformed URL, missing TURN credentials, an unreadable
configuration), with a one-line message on stderr; 3 when gathering could not complete
because the transport process failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any, TextIO

from shared.dom_exception import DOMException
from shared.structs import GatherOptions, RetransmissionSchedule
from main_proc.events import Event
from main_proc.peerconnection import RTCPeerConnection
from main_proc.report import Reporter, candidate_record, error_record, state_record, summary_record
from main_proc.transport_client import TransportError

EXIT_OK, EXIT_ERROR_EVENTS, EXIT_BAD_INPUT, EXIT_TRANSPORT_FAILED = 0, 1, 2, 3
CREDENTIAL_ENVIRONMENT = "ICEGATHER_CREDENTIAL"


class BadInput(Exception):
    """Input the user must fix; the message is printed as one line."""


def build_parser() -> argparse.ArgumentParser:
    defaults = RetransmissionSchedule()
    parser = argparse.ArgumentParser(
        prog="icegather",
        description="Gather ICE candidates from STUN/TURN servers and report every failure "
        "as a browser's icecandidateerror event would, with its cause.",
        epilog="exit status: 0 complete without errors, 1 at least one error event, "
        "2 bad input, 3 transport failure",
    )
    servers = parser.add_argument_group("servers")
    servers.add_argument("--server", "-s", action="append", default=[], metavar="URL",
                         help="a stun:, stuns:, turn: or turns: URL (repeatable)")
    servers.add_argument("--username", "-u", help="TURN username for the --server URLs")
    secret = servers.add_mutually_exclusive_group()
    secret.add_argument("--credential", "-c",
                        help=f"TURN credential (visible to other users in ps: prefer --credential-file "
                             f"or ${CREDENTIAL_ENVIRONMENT})")
    secret.add_argument("--credential-file", metavar="FILE", help="read the TURN credential from FILE")
    servers.add_argument("--config", metavar="FILE",
                         help='a JSON RTCConfiguration, {"iceServers": [...]}, as a browser takes it')
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print one JSON object per line (NDJSON)")
    gathering = parser.add_argument_group("gathering")
    gathering.add_argument("--relay-only", action="store_true", help='iceTransportPolicy "relay"')
    gathering.add_argument("--local-address", action="append", default=[], metavar="IP",
                           help="gather from this local address only (repeatable; default: all interfaces)")
    gathering.add_argument("--rto", type=float, default=defaults.initial_rto, metavar="SECONDS",
                           help=f"initial STUN retransmission timeout (default {defaults.initial_rto})")
    gathering.add_argument("--max-sends", type=int, default=defaults.max_sends, metavar="N",
                           help=f"requests sent before giving up on a silent server (default {defaults.max_sends})")
    gathering.add_argument("--final-wait", type=int, default=defaults.final_wait, metavar="RTOS",
                           help=f"wait after the last request, in initial RTOs (default {defaults.final_wait})")
    gathering.add_argument("--insecure-tls", action="store_true",
                           help="accept any certificate from stuns:/turns: servers (your own test servers)")
    return parser


def main(argv: list[str] | None = None) -> None:
    sys.exit(run(argv, sys.stdout, sys.stderr))


def run(argv: list[str] | None, out: TextIO, err: TextIO) -> int:
    args = build_parser().parse_args(argv)
    try:
        configuration = load_configuration(args)
        options = gather_options(args)
        pc = RTCPeerConnection(configuration, options=options)
    except (BadInput, DOMException, TypeError) as exc:
        err.write(f"icegather: {one_line(exc)}\n")
        return EXIT_BAD_INPUT
    return asyncio.run(gather_and_report(pc, Reporter(out, args.json)))


def one_line(exc: BaseException) -> str:
    """The error for stderr: DOM exceptions and our own say their name; TypeError is added."""
    text = str(exc) if isinstance(exc, (DOMException, BadInput)) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def load_configuration(args: argparse.Namespace) -> dict[str, Any]:
    servers: list[Any] = []
    if args.config:
        try:
            with open(args.config, encoding="utf-8") as file:
                loaded = json.load(file)
        except OSError as exc:
            raise BadInput(f"cannot read {args.config}: {exc.strerror}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadInput(f"{args.config} is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise BadInput(f'{args.config} must hold a JSON object like {{"iceServers": [...]}}')
        configuration = dict(loaded)
        servers = list(configuration.get("iceServers") or [])
    else:
        configuration = {}
    credential = read_credential(args)
    for url in args.server:
        entry: dict[str, Any] = {"urls": url}
        if args.username is not None:
            entry["username"] = args.username
        if credential is not None:
            entry["credential"] = credential
        servers.append(entry)
    if not servers:
        raise BadInput("no ICE server: give --server URL or --config FILE")
    configuration["iceServers"] = servers
    if args.relay_only:
        configuration["iceTransportPolicy"] = "relay"
    return configuration


def read_credential(args: argparse.Namespace) -> str | None:
    if args.credential is not None:
        return args.credential
    if args.credential_file is not None:
        try:
            with open(args.credential_file, encoding="utf-8") as file:
                return file.read().rstrip("\r\n")
        except OSError as exc:
            raise BadInput(f"cannot read the credential file {args.credential_file}: {exc.strerror}") from None
    return os.environ.get(CREDENTIAL_ENVIRONMENT)


def gather_options(args: argparse.Namespace) -> GatherOptions:
    if not 0.001 <= args.rto <= 60:
        raise BadInput("--rto must be between 0.001 and 60 seconds")
    if not 1 <= args.max_sends <= 16:
        raise BadInput("--max-sends must be between 1 and 16")
    if not 1 <= args.final_wait <= 64:
        raise BadInput("--final-wait must be between 1 and 64")
    return GatherOptions(
        schedule=RetransmissionSchedule(args.rto, args.max_sends, args.final_wait),
        local_addresses=tuple(args.local_address),
        verify_tls=not args.insecure_tls,
    )


async def gather_and_report(pc: RTCPeerConnection, reporter: Reporter) -> int:
    started = time.monotonic()

    def elapsed_ms() -> float:
        return (time.monotonic() - started) * 1000

    def on_state(event: Event) -> None:
        reporter.write(state_record(pc.iceGatheringState, elapsed_ms()))

    pc.onicegatheringstatechange = on_state
    pc.onicecandidate = lambda event: reporter.write(candidate_record(event, elapsed_ms()))
    pc.onicecandidateerror = lambda event: reporter.write(error_record(event, elapsed_ms()))
    failure = None
    try:
        await pc.gather()
    except TransportError as exc:
        failure = str(exc)
    finally:
        pc.close()
    status = exit_status(reporter.tally.complete, len(reporter.tally.errors), failure)
    reporter.write(summary_record(reporter.tally, status, failure))
    return status


def exit_status(complete: bool, errors: int, failure: str | None) -> int:
    if failure is not None or not complete:
        return EXIT_TRANSPORT_FAILED
    return EXIT_ERROR_EVENTS if errors else EXIT_OK
