"""The command's own transport process, spawned as soon as the arguments parse: it starts up
(about 100 ms, the critical path of a one-shot check) while the command validates the rest of
its input and loads asyncio and ZeroMQ. This module loads only what spawning needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from icegather.main_proc.link.transport_process import TransportProcess


def own_transport(args: argparse.Namespace) -> TransportProcess | None:
    """Our own transport process, spawned now, unless --transport names a service to use.
    Raises ``TransportError`` when none can start here (its directory is unsafe, or the
    platform)."""
    if args.transport is not None:
        return None
    from icegather.main_proc.link.transport_process import TransportProcess

    # Its standard error is held until the input is found good (``cli_options.transport_supervisor``).
    return TransportProcess.start(sandbox=args.sandbox, forward_stderr=False)
