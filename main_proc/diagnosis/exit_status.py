"""The ``icegather`` command's exit status, for scripts and Nagios-style checks."""

from __future__ import annotations

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT, EXIT_TRANSPORT_FAILED = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # the shell's convention for SIGINT


def exit_status(complete: bool, findings: int, failure: str | None) -> int:
    """``findings``: the diagnosis's, one for each error event, relay that carries no data,
    relay too degraded for a call and address peers cannot use. A degraded relay fails the
    check as a broken one does: a call through it breaks up, which is what a monitoring job
    that runs ``--quality`` asks about."""
    if failure is not None or not complete:
        return EXIT_TRANSPORT_FAILED
    return EXIT_FINDINGS if findings else EXIT_OK
