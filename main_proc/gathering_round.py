"""One round of the ``icegather`` command: a peer connection gathers, each event is reported as
it comes, and a summary with its diagnosis closes the round; ``session`` runs one round with
every event shown, or ``--watch`` rounds with only their summaries."""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime, timezone
from typing import Any, TextIO

from icegather.main_proc.cli_options import Minting, reminted
from icegather.main_proc.diagnosis import credential_facts, diagnose, server_outcomes
from icegather.main_proc.events import Event
from icegather.main_proc.exit_status import EXIT_OK, exit_status
from icegather.main_proc.peerconnection import RTCPeerConnection
from icegather.main_proc.progress import ProgressLine
from icegather.main_proc.report import (
    Reporter,
    answer_record,
    candidate_record,
    error_record,
    relay_check_record,
    state_record,
    summary_record,
)
from icegather.main_proc.supervision import TransportError
from icegather.main_proc.transport_supervisor import TransportSupervisor
from icegather.shared.ice_config import IceConfiguration, parse_configuration
from icegather.shared.structs import GatherOptions


async def gather_round(
    configuration: dict[str, Any],
    validated: IceConfiguration,
    options: GatherOptions,
    reporter: Reporter,
    progress: type[ProgressLine] | None = None,
    transport: TransportSupervisor | None = None,
    round_number: int = 1,
    show_events: bool = True,
    minted: frozenset[str] = frozenset(),
) -> int:
    """Gather once, report each event (if ``show_events``) and the summary; return the status.
    ``minted`` holds the usernames minted just now from a shared secret."""
    pc = RTCPeerConnection(configuration, transport=transport, options=options)
    started = time.monotonic()
    urls = [url for server in validated.ice_servers for url in server.urls]
    relay_only = validated.ice_transport_policy == "relay"
    now = time.time()
    credentials = {
        url.url: credential_facts(server.username, server.username in minted, now)
        for server in validated.ice_servers
        for url in server.urls
    }

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
        outcomes = server_outcomes(urls, reporter.tally.records, relay_only, credentials, options.relay_check)
        pending = sum(1 for outcome in outcomes if not outcome.settled)
        return f"waiting for {pending} of {len(outcomes)} server URLs"

    pc.onicegatheringstatechange = record(lambda event, t: state_record(pc.iceGatheringState, t))
    pc.onicecandidate = record(candidate_record)
    pc.onicecandidateerror = record(error_record)
    pc.oniceserveranswer = record(answer_record)
    pc.onicerelaycheck = record(relay_check_record)
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
    outcomes = server_outcomes(urls, tally.records, relay_only, credentials, options.relay_check)
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    diagnosis = diagnose(outcomes, finished=tally.complete and failure is None)
    status = exit_status(tally.complete, len(diagnosis.findings), failure)
    reporter.write(summary_record(round_number, at, tally, outcomes, diagnosis, status, failure, finished_ms))
    return status


async def session(
    configuration: dict[str, Any],
    validated: IceConfiguration,
    options: GatherOptions,
    args: argparse.Namespace,
    supervisor: TransportSupervisor,
    out: TextIO,
    minting: Minting | None = None,
) -> int:
    """One gathering with every event shown, or with ``--watch`` one summary per round, all
    on the supervisor's transport (a fresh one after a failure). With ``minting``, each round
    mints its own time-limited credentials."""

    def minted_now() -> frozenset[str]:
        servers = configuration["iceServers"][len(configuration["iceServers"]) - len(args.server):]
        return frozenset(server["username"] for server in servers) if minting is not None else frozenset()

    try:
        if args.watch is None:
            live = ProgressLine if out.isatty() and not args.json else None
            return await gather_round(
                configuration, validated, options, Reporter(out, args.json), live, supervisor, minted=minted_now()
            )
        status = EXIT_OK
        round_number = 0
        while args.rounds is None or round_number < args.rounds:
            if round_number:
                await asyncio.sleep(args.watch)
            round_number += 1
            if minting is not None and round_number > 1:
                configuration = reminted(configuration, minting, len(args.server), time.time())
                validated = parse_configuration(configuration)
            status = await gather_round(
                configuration, validated, options, Reporter(out, args.json), None, supervisor, round_number,
                show_events=False, minted=minted_now(),
            )
        return status
    finally:
        await supervisor.aclose()
