"""``icegather``: gather ICE candidates against STUN/TURN servers and say what failed.

``icegather --server URL ...`` / ``--config FILE`` gathers once, prints each event as it
arrives and a summary with a diagnosis; ``--watch SECONDS`` repeats that and prints one summary
per round. The other commands (``cli_parser.SUBCOMMANDS``: explain, audit, report, exporter,
sandbox) each have a module of their own.

Exit status: 0 when gathering completed and the diagnosis found nothing; 1 when it found
something (an ``icecandidateerror``, a relay that carries no data, an address peers cannot
use); 2 for bad input (a malformed URL, missing TURN credentials, an unreadable
configuration), with a one-line message on stderr; 3 when gathering could not complete
because the transport process failed. With ``--watch``, the status of the last round. 141 when
whatever reads stdout went away first (``icegather ... | head -1``): quietly, as ``yes | head -1``
ends, and a shell shows.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import time
from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from icegather.main_proc.commands.cli_parser import SUBCOMMANDS, build_parser
from icegather.main_proc.commands.spawning import own_transport
from icegather.main_proc.diagnosis.exit_status import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TRANSPORT_FAILED
from icegather.main_proc.link.transport_error import TransportError
from icegather.shared.platform_support import unsupported_platform

if TYPE_CHECKING:
    import argparse

    from _typeshed import ReadableBuffer

    from icegather.main_proc.credentials.secrets_input import Minting
    from icegather.main_proc.link.transport_process import TransportProcess
    from icegather.main_proc.link.transport_supervisor import TransportSupervisor
    from icegather.shared.config.gather_options import GatherOptions
    from icegather.shared.config.ice_config import IceConfiguration


# 128 + SIGPIPE (13): the status a shell shows for a command that a closed pipe ended.
EXIT_PIPE_CLOSED = 141


def main(argv: list[str] | None = None) -> None:
    unsupported = unsupported_platform()
    if unsupported is not None:
        sys.stderr.write(f"icegather: {unsupported}\n")
        sys.exit(EXIT_TRANSPORT_FAILED)  # the transport cannot run here
    sys.stdout = quiet_on_closed_pipe(sys.stdout)
    try:
        status = run(sys.argv[1:] if argv is None else argv, sys.stdout, sys.stderr)
    finally:
        sys.stdout.flush()  # here, not at exit, where a closed pipe could only print a traceback
    sys.stderr.flush()
    # Everything is done by now: the transport has exited, pages are written and output flushed.
    # The interpreter's own teardown (its modules, asyncio's and ZeroMQ's objects) would add
    # 16 ms to the end of every command, for nothing.
    os._exit(status)


class PipeClosed(SystemExit):
    """Whatever read stdout went away. A SystemExit, so that neither a listener (which reports
    an Exception and goes on, as the DOM does) nor an asyncio callback keeps it: the command ends
    at once, through every ``finally`` on its way (the transport is closed, the page written)."""


class StdoutFile(io.FileIO):
    """stdout's file: a write to a closed pipe raises ``PipeClosed``, and every later write
    (Python's flush at exit too) goes to /dev/null."""

    def write(self, data: ReadableBuffer) -> int:
        try:
            return super().write(data)
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.fileno())
            os.close(devnull)
            raise PipeClosed(EXIT_PIPE_CLOSED) from None


def quiet_on_closed_pipe(stdout: TextIO) -> TextIO:
    """``stdout`` as the same text stream over a ``StdoutFile``; as it is without a file."""
    try:
        fileno = stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return stdout
    stdout.flush()
    return io.TextIOWrapper(io.BufferedWriter(StdoutFile(fileno, "w", closefd=False)), encoding=stdout.encoding,
                            errors=stdout.errors, line_buffering=bool(stdout.line_buffering))


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    # Each path imports what it needs once it is taken: a gathering spawns its transport as soon
    # as the arguments parse, and validates the rest of its input (loading the dataclasses,
    # the configuration's parser and the credentials) while the transport starts; bad input is
    # answered before asyncio, ZeroMQ and the gathering code are loaded.
    command = SUBCOMMANDS.get(argv[0]) if argv else None
    if command is not None:
        runner: Callable[[list[str], TextIO, TextIO], int] = getattr(import_module(command.module), command.function)
        return runner(argv[1:], out, err)
    args = build_parser().parse_args(argv)
    spawned: TransportProcess | None = None
    checked: Checked | int = EXIT_INTERRUPTED
    # Ctrl-C is held while the transport is spawned (a process and a directory it would leave
    # behind) and taken once ``spawned`` names what to kill.
    interrupts = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        try:
            spawned = own_transport(args)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, interrupts)
        checked = check_input(args, spawned, err)
    except TransportError as exc:  # none can start here: its directory is unsafe, or the platform
        err.write(f"icegather: {exc}\n")
        checked = EXIT_BAD_INPUT
    except KeyboardInterrupt:  # Ctrl-C while the input is read (a credential from a pipe)
        pass
    finally:
        if isinstance(checked, int) and spawned is not None:
            spawned.kill()  # bad input, Ctrl-C or a bug: it served nothing
    if isinstance(checked, int):
        return checked
    import asyncio

    from icegather.main_proc.commands.gathering_round import session

    try:
        return asyncio.run(session(checked.configuration, checked.validated, checked.options, args,
                                   checked.supervisor, out, checked.minting))
    except KeyboardInterrupt:  # Ctrl-C, typically ending --watch
        return EXIT_INTERRUPTED


class Checked(NamedTuple):
    """The input, validated: what a session runs with."""

    configuration: dict[str, Any]
    validated: IceConfiguration
    options: GatherOptions
    supervisor: TransportSupervisor
    minting: Minting | None


def check_input(args: argparse.Namespace, spawned: TransportProcess | None, err: TextIO) -> Checked | int:
    """The rest of the input, validated while the transport starts (what validates it is
    loaded only now); bad input is told on ``err`` and its exit status returned."""
    from icegather.main_proc.commands.cli_options import (
        check_transport,
        check_watch,
        gather_options,
        load_configuration,
        read_minting,
        transport_supervisor,
    )
    from icegather.main_proc.credentials.secrets_input import BadInput
    from icegather.shared.config.dom_exception import DOMException
    from icegather.shared.config.ice_config import parse_configuration

    try:
        minting = read_minting(args)
        configuration = load_configuration(args, minting, time.time())
        options = gather_options(args)
        validated = parse_configuration(configuration)
        check_watch(args)
        check_transport(args)
        return Checked(configuration, validated, options, transport_supervisor(args, spawned), minting)
    except (BadInput, DOMException, TypeError) as exc:
        text = str(exc) if isinstance(exc, (DOMException, BadInput)) else f"{type(exc).__name__}: {exc}"
        err.write(f"icegather: {one_line(text)}\n")
        return EXIT_BAD_INPUT


def one_line(text: str) -> str:
    """An error's text for stderr, on one line."""
    return " ".join(text.split())
