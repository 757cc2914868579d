"""``icegather``: gather ICE candidates against STUN/TURN servers and say what failed.

``icegather --server URL ...`` / ``--config FILE`` gathers once, prints each event as it
arrives and a summary with a diagnosis; ``--watch SECONDS`` repeats that and prints one summary
per round; ``icegather explain CODE`` explains an error code.

Exit status: 0 when gathering completed without any ``icecandidateerror``; 1 when at least
one fired; 2 for bad input (a malformed URL, missing TURN credentials, an unreadable
configuration), with a one-line message on stderr; 3 when gathering could not complete
because the transport process failed. With ``--watch``, the status of the last round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any, TextIO

from icegather.main_proc.diagnosis import diagnose, server_outcomes
from icegather.main_proc.events import Event
from icegather.main_proc.peerconnection import RTCPeerConnection
from icegather.main_proc.progress import ProgressLine
from icegather.main_proc.report import (
    Reporter,
    answer_record,
    candidate_record,
    error_record,
    state_record,
    summary_record,
)
from icegather.main_proc.supervision import TransportError
from icegather.main_proc.transport_client import TransportClient
from icegather.main_proc.transport_supervisor import TransportSupervisor
from icegather.shared.curve_keys import CurveKeys
from icegather.shared.dom_exception import DOMException
from icegather.shared.ice_config import IceConfiguration, parse_configuration
from icegather.shared.structs import GatherOptions, RetransmissionSchedule
from icegather.shared.stun_codes import REGISTRY, describe

EXIT_OK, EXIT_ERROR_EVENTS, EXIT_BAD_INPUT, EXIT_TRANSPORT_FAILED = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # the shell's convention for SIGINT
CREDENTIAL_ENVIRONMENT = "ICEGATHER_CREDENTIAL"


class BadInput(Exception):
    """Input the user must fix; the message is printed as one line."""


def build_parser() -> argparse.ArgumentParser:
    defaults = RetransmissionSchedule()
    parser = argparse.ArgumentParser(
        prog="icegather",
        description="Gather ICE candidates from STUN/TURN servers and report every failure "
        "as a browser's icecandidateerror event would, with its cause.",
        epilog="icegather explain CODE: what an error code means and what to check. "
        "exit status: 0 complete without errors, 1 at least one error event, "
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
    service = parser.add_argument_group("transport")
    service.add_argument("--transport", metavar="ENDPOINT",
                         help="use a running transport service (ipc://PATH, or tcp://HOST:PORT with CURVE) "
                              "instead of starting one")
    service.add_argument("--curve-secret", metavar="FILE", help="this client's NAME.key_secret, for tcp://")
    service.add_argument("--curve-server", metavar="FILE", help="the service's public NAME.key, for tcp://")
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print one JSON object per line (NDJSON)")
    output.add_argument("--watch", type=float, metavar="SECONDS",
                        help="repeat the check every SECONDS and print one summary per round")
    output.add_argument("--rounds", type=int, metavar="N", help="with --watch: stop after N rounds")
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
    sys.exit(run(sys.argv[1:] if argv is None else argv, sys.stdout, sys.stderr))


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    if argv[:1] == ["explain"]:
        return explain(argv[1:], out, err)
    args = build_parser().parse_args(argv)
    try:
        configuration = load_configuration(args)
        options = gather_options(args)
        validated = parse_configuration(configuration)
        check_watch(args)
        supervisor = transport_supervisor(args)
    except (BadInput, DOMException, TypeError) as exc:
        err.write(f"icegather: {one_line(exc)}\n")
        return EXIT_BAD_INPUT
    try:
        return asyncio.run(session(configuration, validated, options, args, supervisor, out))
    except KeyboardInterrupt:  # Ctrl-C, typically ending --watch
        return EXIT_INTERRUPTED


def one_line(exc: BaseException) -> str:
    """The error for stderr: DOM exceptions and our own say their name; TypeError is added."""
    text = str(exc) if isinstance(exc, (DOMException, BadInput)) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def transport_supervisor(args: argparse.Namespace) -> TransportSupervisor:
    """Where transports come from: a process of our own, or the service given by --transport."""
    if args.transport is None:
        if args.curve_secret or args.curve_server:
            raise BadInput("--curve-secret and --curve-server go with --transport tcp://...")
        return TransportSupervisor()
    curve = None
    if args.curve_secret or args.curve_server:
        if not (args.curve_secret and args.curve_server):
            raise BadInput("CURVE needs both --curve-secret (this client's key) and --curve-server (the service's)")
        try:
            curve = CurveKeys.load(args.curve_secret, args.curve_server)
        except (OSError, ValueError) as exc:
            raise BadInput(f"cannot read the CURVE keys: {exc}") from None
    endpoint = args.transport
    return TransportSupervisor(connect=lambda supervision: TransportClient.connect(endpoint, supervision=supervision, curve=curve))


def check_watch(args: argparse.Namespace) -> None:
    if args.watch is not None and not 0 <= args.watch <= 86400:
        raise BadInput("--watch must be between 0 and 86400 seconds")
    if args.rounds is not None and (args.watch is None or args.rounds < 1):
        raise BadInput("--rounds needs --watch and a number of at least 1")

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


async def gather_round(
    configuration: dict[str, Any],
    validated: IceConfiguration,
    options: GatherOptions,
    reporter: Reporter,
    progress: type[ProgressLine] | None = None,
    transport: TransportSupervisor | None = None,
    round_number: int = 1,
    show_events: bool = True,
) -> int:
    """Gather once, report each event (if ``show_events``) and the summary; return the status."""
    pc = RTCPeerConnection(configuration, transport=transport, options=options)
    started = time.monotonic()
    urls = [url for server in validated.ice_servers for url in server.urls]
    relay_only = validated.ice_transport_policy == "relay"

    def elapsed_ms() -> float:
        return (time.monotonic() - started) * 1000

    def record(build: Any) -> Any:
        def listener(event: Event) -> None:
            built = build(event, elapsed_ms())
            if show_events:
                reporter.write(built)
            else:
                reporter.tally.add(built)
        return listener

    def waiting_for() -> str:
        outcomes = server_outcomes(urls, reporter.tally.records, relay_only)
        pending = sum(1 for outcome in outcomes if not outcome.settled)
        return f"waiting for {pending} of {len(outcomes)} server URLs"

    pc.onicegatheringstatechange = record(lambda event, t: state_record(pc.iceGatheringState, t))
    pc.onicecandidate = record(candidate_record)
    pc.onicecandidateerror = record(error_record)
    pc.oniceserveranswer = record(answer_record)
    line = progress(reporter.out, waiting_for) if progress is not None else None
    if line is not None:
        reporter.before_write = line.clear
        line.start()
    failure = None
    try:
        await pc.gather()
    except TransportError as exc:
        failure = str(exc)
    finally:
        finished_ms = elapsed_ms()
        pc.close()
        if line is not None:
            line.stop()
    tally = reporter.tally
    status = exit_status(tally.complete, tally.errors, failure)
    outcomes = server_outcomes(urls, tally.records, relay_only)
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    reporter.write(summary_record(round_number, at, tally, outcomes, diagnose(outcomes), status, failure, finished_ms))
    return status


async def session(
    configuration: dict[str, Any],
    validated: IceConfiguration,
    options: GatherOptions,
    args: argparse.Namespace,
    supervisor: TransportSupervisor,
    out: TextIO,
) -> int:
    """One gathering with every event shown, or with ``--watch`` one summary per round, all
    on the supervisor's transport (a fresh one after a failure)."""
    try:
        if args.watch is None:
            live = ProgressLine if out.isatty() and not args.json else None
            return await gather_round(configuration, validated, options, Reporter(out, args.json), live, supervisor)
        status = EXIT_OK
        round_number = 0
        while args.rounds is None or round_number < args.rounds:
            if round_number:
                await asyncio.sleep(args.watch)
            round_number += 1
            status = await gather_round(
                configuration, validated, options, Reporter(out, args.json), None, supervisor, round_number,
                show_events=False,
            )
        return status
    finally:
        supervisor.close()


def exit_status(complete: bool, errors: int, failure: str | None) -> int:
    if failure is not None or not complete:
        return EXIT_TRANSPORT_FAILED
    return EXIT_ERROR_EVENTS if errors else EXIT_OK


def explain(argv: list[str], out: TextIO, err: TextIO) -> int:
    """``icegather explain [CODE ...]``: each code's name, origin and advice; all without CODE."""
    codes: list[int] = []
    for text in argv:
        if not text.isdigit() or describe(int(text)) is None:
            known = ", ".join(str(code) for code in REGISTRY)
            err.write(f"icegather: {text!r} is not a STUN/TURN error code icegather knows; known: {known}\n")
            return EXIT_BAD_INPUT
        codes.append(int(text))
    for code in codes or list(REGISTRY):
        entry = REGISTRY[code]
        out.write(
            f"{entry.code} {entry.name}  ({entry.reference}; sent by the {entry.produced_by})\n"
            f"  meaning: {entry.meaning}\n"
            f"  what to do: {entry.advice}\n"
        )
    return EXIT_OK
