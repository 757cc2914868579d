"""One round of the ``icegather`` command: a peer connection gathers (``observed_round``), each
event is reported as it comes, and a summary with its diagnosis closes the round; ``session`` runs one round with
every event shown, or ``--watch`` rounds with only their summaries (and every event too with ``--trace``, so that
a saved run can be drawn). A trace that only ``--html`` asked for goes to the page, not to the terminal."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TextIO

from icegather.main_proc.commands.cli_options import reminted
from icegather.main_proc.credentials.secrets_input import Minting
from icegather.main_proc.diagnosis.exit_status import EXIT_OK
from icegather.main_proc.link.transport_supervisor import TransportSupervisor
from icegather.main_proc.observed_round import RoundContext, observe_round
from icegather.main_proc.views.progress import ProgressLine, waiting_words
from icegather.main_proc.views.report import summary_record
from icegather.main_proc.views.reporter import Reporter
from icegather.shared.config.gather_options import GatherOptions
from icegather.shared.config.ice_config import IceConfiguration, parse_configuration

if TYPE_CHECKING:
    from icegather.main_proc.commands.page_file import PageFile


async def gather_round(
    configuration: dict[str, Any],
    validated: IceConfiguration,
    options: GatherOptions,
    reporter: Reporter,
    progress: type[ProgressLine] | None = None,
    transport: TransportSupervisor | None = None,
    round_number: int = 1,
    shown: Callable[[dict[str, Any]], bool] = lambda record: True,
    minted: frozenset[str] = frozenset(),
    page: PageFile | None = None,
) -> int:
    """Gather once, report each event that is ``shown`` and the summary; return the status.
    ``minted`` holds the usernames minted just now from a shared secret; ``page`` (``--html``)
    receives the round's records and its summary."""
    context = RoundContext.of(validated, options, minted, time.time())

    def waiting_for() -> str:
        return waiting_words(context.outcomes(reporter.tally.records))

    line = progress(reporter.out, waiting_for) if progress is not None else None
    if line is not None:
        reporter.before_write = line.clear
        line.start()
    def show(record: dict[str, Any]) -> None:
        if shown(record):
            reporter.show(record)

    try:
        result = await observe_round(configuration, context, options, transport, reporter.tally, show)
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


def shown_events(args: argparse.Namespace) -> Callable[[dict[str, Any]], bool]:
    """Which events a round writes: all of them with ``--trace``; without it, all but the
    transactions (there for the ``--html`` page only), and with ``--watch`` none (the tally
    still counts them)."""
    if args.trace:
        return lambda record: True
    if args.watch is not None:
        return lambda record: False
    return lambda record: record["type"] != "icetransaction"


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

    page = None
    if args.html:
        from icegather.main_proc.commands.page_file import PageFile  # the page's code, only for --html

        page = PageFile(args.html)
    shown = shown_events(args)

    def minted_now() -> frozenset[str]:
        servers = configuration["iceServers"][len(configuration["iceServers"]) - len(args.server):]
        return frozenset(server["username"] for server in servers) if minting is not None else frozenset()

    try:
        if args.watch is None:
            live = ProgressLine if out.isatty() and not args.json else None
            status = await gather_round(
                configuration, validated, options, Reporter(out, args.json), live, supervisor, shown=shown,
                minted=minted_now(), page=page,
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
                shown=shown, minted=minted_now(), page=page,
            )
        return status
    finally:
        try:
            if page is not None:
                page.flush()  # the rounds not drawn yet, however the run ends (often with Ctrl-C)
        finally:
            await supervisor.aclose()
