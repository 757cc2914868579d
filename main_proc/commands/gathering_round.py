"""One round of the ``icegather`` command: a peer connection gathers (``observed_round``), each
event is reported as it comes, and a summary with its diagnosis closes the round; ``session`` runs one round with
every event shown, or ``--watch`` rounds with only their summaries."""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime, timezone
from typing import Any, TextIO

from icegather.main_proc.commands.cli_options import reminted
from icegather.main_proc.commands.page_file import PageFile
from icegather.main_proc.credentials.secrets_input import Minting
from icegather.main_proc.diagnosis.exit_status import EXIT_OK
from icegather.main_proc.link.transport_supervisor import TransportSupervisor
from icegather.main_proc.observed_round import RoundContext, observe_round
from icegather.main_proc.views.progress import ProgressLine
from icegather.main_proc.views.report import summary_record
from icegather.main_proc.views.reporter import Reporter
from icegather.shared.config.ice_config import IceConfiguration, parse_configuration
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
    page: PageFile | None = None,
) -> int:
    """Gather once, report each event (if ``show_events``) and the summary; return the status.
    ``minted`` holds the usernames minted just now from a shared secret; ``page`` (``--html``)
    receives the round's records and its summary."""
    context = RoundContext.of(validated, options, minted, time.time())

    def waiting_for() -> str:
        outcomes = context.outcomes(reporter.tally.records)
        pending = sum(1 for outcome in outcomes if not outcome.settled)
        return f"waiting for {pending} of {len(outcomes)} server URLs"

    line = progress(reporter.out, waiting_for) if progress is not None else None
    if line is not None:
        reporter.before_write = line.clear
        line.start()
    try:
        result = await observe_round(
            configuration, context, options, transport, reporter.tally, reporter.show if show_events else _ignore
        )
    finally:
        if line is not None:
            line.stop()
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    summary = summary_record(
        round_number, at, result.tally, result.outcomes, result.diagnosis, result.status, result.failure,
        result.elapsed_ms,
    )
    reporter.show(summary)
    if page is not None:
        page.round_ended(result.tally.records, summary)
    return result.status


def _ignore(record: dict[str, Any]) -> None:
    """With --watch, events are counted (the tally) but not shown."""


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

    page = PageFile(args.html) if args.html else None

    def minted_now() -> frozenset[str]:
        servers = configuration["iceServers"][len(configuration["iceServers"]) - len(args.server):]
        return frozenset(server["username"] for server in servers) if minting is not None else frozenset()

    try:
        if args.watch is None:
            live = ProgressLine if out.isatty() and not args.json else None
            status = await gather_round(
                configuration, validated, options, Reporter(out, args.json), live, supervisor, minted=minted_now(),
                page=page,
            )
            return status
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
                show_events=False, minted=minted_now(), page=page,
            )
        return status
    finally:
        try:
            if page is not None:
                page.flush()  # the rounds not drawn yet, however the run ends (often with Ctrl-C)
        finally:
            await supervisor.aclose()
