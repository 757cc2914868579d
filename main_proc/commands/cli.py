"""``icegather``: gather ICE candidates against STUN/TURN servers and say what failed.

``icegather --server URL ...`` / ``--config FILE`` gathers once, prints each event as it
arrives and a summary with a diagnosis; ``--watch SECONDS`` repeats that and prints one summary
per round; ``icegather explain CODE`` explains an error code; ``icegather exporter`` serves
probes to Prometheus (``exporter_command``).

Exit status: 0 when gathering completed and the diagnosis found nothing; 1 when it found
something (an ``icecandidateerror``, a relay that carries no data, an address peers cannot
use); 2 for bad input (a malformed URL, missing TURN credentials, an unreadable
configuration), with a one-line message on stderr; 3 when gathering could not complete
because the transport process failed. With ``--watch``, the status of the last round.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from icegather.main_proc.commands.cli_options import (
    build_parser,
    check_watch,
    gather_options,
    load_configuration,
    read_minting,
    transport_supervisor,
)
from icegather.main_proc.credentials.secrets_input import BadInput
from icegather.main_proc.diagnosis.exit_status import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TRANSPORT_FAILED
from icegather.shared.config.dom_exception import DOMException
from icegather.shared.config.ice_config import parse_configuration
from icegather.shared.platform_support import unsupported_platform


def main(argv: list[str] | None = None) -> None:
    unsupported = unsupported_platform()
    if unsupported is not None:
        sys.stderr.write(f"icegather: {unsupported}\n")
        sys.exit(EXIT_TRANSPORT_FAILED)  # the transport cannot run here
    sys.exit(run(sys.argv[1:] if argv is None else argv, sys.stdout, sys.stderr))


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    # Each path imports what it needs once it is taken: bad input is answered before asyncio,
    # ZeroMQ and the gathering code are loaded.
    if argv[:1] == ["explain"]:
        from icegather.main_proc.diagnosis.explain import explain

        return explain(argv[1:], out, err)
    if argv[:1] == ["audit"]:
        from icegather.main_proc.commands.audit_command import run_audit  # only this path needs the audit's tables

        return run_audit(argv[1:], out, err)
    if argv[:1] == ["report"]:
        from icegather.main_proc.commands.report_command import run_report

        return run_report(argv[1:], out, err)
    if argv[:1] == ["exporter"]:
        from icegather.main_proc.commands.exporter_command import (
            run_exporter,  # only this path needs HTTP and Prometheus
        )

        return run_exporter(argv[1:], out, err)
    args = build_parser().parse_args(argv)
    try:
        minting = read_minting(args)
        configuration = load_configuration(args, minting, time.time())
        options = gather_options(args)
        validated = parse_configuration(configuration)
        check_watch(args)
        supervisor = transport_supervisor(args)
    except (BadInput, DOMException, TypeError) as exc:
        err.write(f"icegather: {one_line(exc)}\n")
        return EXIT_BAD_INPUT
    import asyncio

    from icegather.main_proc.commands.gathering_round import session

    try:
        return asyncio.run(session(configuration, validated, options, args, supervisor, out, minting))
    except KeyboardInterrupt:  # Ctrl-C, typically ending --watch
        return EXIT_INTERRUPTED


def one_line(exc: BaseException) -> str:
    """The error for stderr: DOM exceptions and our own say their name; TypeError is added."""
    text = str(exc) if isinstance(exc, (DOMException, BadInput)) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())
