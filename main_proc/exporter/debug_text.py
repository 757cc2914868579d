"""The answer to ``/probe?...&debug=true``: a text log of the probe, in blackbox_exporter's
layout (``Logs for the probe``, ``Metrics that would have been returned``, ``Module
configuration``), so that an operator sees why a probe failed without a terminal on the
exporter's host.

The log is the command line's own lines (``views.text_lines``, through ``Reporter``): every
record of the gathering as it came, with the trace of each transaction, then the summary with
its diagnosis. The module is described by what it does; its credentials are named by where
they come from, never shown.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, generate_latest

from icegather.main_proc.exporter.config import Module
from icegather.main_proc.exporter.probe_request import ProbeRequest
from icegather.main_proc.exporter.probe_time import stream_seconds, streams_in_turn
from icegather.main_proc.observed_round import RoundResult
from icegather.main_proc.views.report import summary_record
from icegather.main_proc.views.reporter import Reporter
from icegather.shared.config.gather_limits import QUALITY_DRAIN_SECONDS
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule


@dataclass(frozen=True)
class ProbeRun:
    """A probe that ran: what it found, its metrics and the options it gathered with."""

    result: RoundResult
    metrics: CollectorRegistry
    options: GatherOptions


def debug_text(request: ProbeRequest, run: ProbeRun, now: float) -> str:
    """The probe's log, the metrics it would have answered, and its module."""
    result = run.result
    log = io.StringIO()
    reporter = Reporter(log, as_json=False)
    for record in result.tally.records:
        reporter.show(record)
    at = datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds")
    reporter.show(summary_record(
        1, at, result.tally, result.outcomes, result.diagnosis, result.status, result.failure, result.elapsed_ms
    ))
    return (
        f"Logs for the probe:\n{log.getvalue()}\n\n"
        f"Metrics that would have been returned:\n{generate_latest(run.metrics).decode()}\n\n"
        f"Module configuration:\n{module_text(request, run.options)}"
    )


def module_text(request: ProbeRequest, options: GatherOptions) -> str:
    """The module as this probe used it: the schedule and time it had, where it may probe."""
    module = request.module
    lines = [
        f"module: {module.name}",
        f"target: {request.target}",
        f"credentials: {credentials_source(module)}",
        f"schedule: {schedule_text(options.schedule)}"
        + ("" if options.schedule == module.options.schedule else f" (fitted; the module's: "
           f"{schedule_text(module.options.schedule)})"),
        f"timeout: {request.timeout:g} s (the module's: {module.timeout:g} s)",
        f"local_addresses: {', '.join(options.local_addresses) or 'every usable interface address'}",
        f"relay_only: {str(module.relay_only).lower()}",
        f"relay_check: {str(options.relay_check).lower()}",
        f"ipv6_relay: {str(options.ipv6_relay).lower()}",
        f"quality_seconds: {quality_text(options)}",
        f"relay_to_relay: {str(options.relay_to_relay).lower()}",
    ]
    if module.allowed_targets is not None:
        lines.append(f"allowed_targets: {', '.join(map(str, module.allowed_targets))}")
    return "\n".join(lines) + "\n"


def quality_text(options: GatherOptions) -> str:
    if not options.quality_seconds:
        return "0 (no stream)"
    in_turn = " for the IPv4 relay's stream and then the IPv6 relay's" if streams_in_turn(options) > 1 else ""
    return (f"{options.quality_seconds:g} ({options.quality_rate} packets a second each way, then "
            f"{QUALITY_DRAIN_SECONDS:g} s for the last ones; {stream_seconds(options):g} s set aside{in_turn}, the "
            "schedule fitted to the time left)")


def credentials_source(module: Module) -> str:
    if module.minting is not None:
        return "minted for each probe from a shared secret (not shown)"
    if module.credential is not None:
        return "a username and credential (not shown)"
    return "none"


def schedule_text(schedule: RetransmissionSchedule) -> str:
    return (
        f"RTO {schedule.initial_rto:g} s, {schedule.max_sends} sends, final wait {schedule.final_wait} RTO "
        f"(gives up on a silent server after {schedule.give_up_after:.3g} s)"
    )
