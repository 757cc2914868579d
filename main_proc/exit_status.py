"""The ``icegather`` command's exit status, for scripts and Nagios-style checks."""

from __future__ import annotations

EXIT_OK, EXIT_ERROR_EVENTS, EXIT_BAD_INPUT, EXIT_TRANSPORT_FAILED = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # the shell's convention for SIGINT


def exit_status(complete: bool, failures: int, failure: str | None) -> int:
    """``failures``: error events, and relay checks that found a relay carrying no data."""
    if failure is not None or not complete:
        return EXIT_TRANSPORT_FAILED
    return EXIT_ERROR_EVENTS if failures else EXIT_OK
