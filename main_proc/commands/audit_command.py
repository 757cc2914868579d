"""``icegather audit URL ...``: which TURN/STUN servers can be abused, checked from the outside.

The transport runs the checks (``transport_proc.server_audit``) and reports facts; here they
become findings (``audit_findings``), printed per URL with the worst first, or as NDJSON: one
``auditcheck`` record per finding and an ``auditsummary``. Exit status: 0 when nothing is
critical, a warning or not checked, 1 when something is, 2 for bad input, 3 when the transport
failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from typing import Any, TextIO

from icegather.main_proc.commands.cli_options import (
    check_transport,
    gather_options,
    load_configuration,
    read_minting,
    transport_supervisor,
)
from icegather.main_proc.commands.cli_parser import add_credential_options, add_schedule_options, add_transport_options
from icegather.main_proc.commands.spawning import own_transport
from icegather.main_proc.credentials.secrets_input import BadInput
from icegather.main_proc.diagnosis.audit.audit_findings import (
    COUNT_KEYS,
    DEFAULT_CERT_WARN_DAYS,
    FAILING,
    SEVERITIES,
    AuditFinding,
    Severity,
    classify_all,
    credentials_advice,
    severity_order,
)
from icegather.main_proc.diagnosis.exit_status import (
    EXIT_BAD_INPUT,
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_TRANSPORT_FAILED,
)
from icegather.main_proc.link.transport_error import TransportError
from icegather.main_proc.link.transport_supervisor import TransportSupervisor
from icegather.main_proc.views.text_lines import printable
from icegather.shared.config.dom_exception import DOMException
from icegather.shared.config.gather_options import GatherOptions
from icegather.shared.config.ice_config import IceConfiguration, parse_configuration
from icegather.shared.structs import AuditResultInfo

# The keys of the NDJSON records, in order (docs/audit.md; tests check real runs against them).
CHECK_RECORD_FIELDS = ("type", "url", "name", "severity", "subject", "result", "fix")
SUMMARY_RECORD_FIELDS = ("type", *COUNT_KEYS.values(), "verdict", "advice", "failure", "exitStatus")
LABEL_WIDTH = len("NOT CHECKED")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="icegather audit",
        description="Check TURN/STUN servers for what can be abused: open relays, relays into private networks "
        "and the server's own machine, old TLS and bad certificates, software versions on show.",
        epilog="Peer addresses only appear inside CreatePermission/ChannelBind requests: no data is sent to "
        "them. A check that could not run (without credentials: what a TURN server relays to) is 'not "
        "checked', never ok. exit status: 0 nothing critical, warning or not checked; 1 something is; 2 bad "
        "input; 3 transport failure",
    )
    parser.add_argument("server", nargs="*", metavar="URL", help="a turn:, turns:, stun: or stuns: URL")
    add_credential_options(parser.add_argument_group("servers"))
    add_transport_options(parser)
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="one JSON object per finding, then a summary (NDJSON)")
    output.add_argument("--cert-warn-days", type=int, default=DEFAULT_CERT_WARN_DAYS, metavar="DAYS",
                        help=f"a certificate that expires sooner is a warning (default {DEFAULT_CERT_WARN_DAYS})")
    add_schedule_options(parser.add_argument_group("checks"))
    parser.set_defaults(relay_only=False, insecure_tls=False, relay_check=False, ipv6_relay=False, trace=False,
                        html=None, quality=0.0, quality_rate=None, relay_to_relay=False, nat_behaviour=False)
    return parser


class AuditObserver:
    """What the transport reports for one audit: its results, and when it is over."""

    def __init__(self) -> None:
        self.results: list[AuditResultInfo] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_audit_result(self, info: AuditResultInfo) -> bool:
        self.results.append(info)
        return not self.done.done()

    def on_audit_state(self, state: str) -> bool:
        if state == "complete" and not self.done.done():
            self.done.set_result(None)
        return True

    def on_audit_rejected(self, reason: str) -> bool:
        self.on_transport_failure(f"the transport refused the audit: {reason}")
        return True

    def on_transport_failure(self, reason: str) -> None:
        if not self.done.done():
            self.done.set_exception(TransportError(reason))


async def audit(
    validated: IceConfiguration, options: GatherOptions, supervisor: TransportSupervisor
) -> tuple[list[AuditResultInfo], str | None]:
    """The audit's results, and why it did not finish (None when it did)."""
    observer = AuditObserver()
    deadline = options.schedule.gathering_deadline
    try:
        client = await supervisor.client()
        audit_id = client.audit(validated, options, observer)
        try:
            await asyncio.wait_for(asyncio.shield(observer.done), deadline)
        finally:
            client.stop_audit(audit_id)
    except TransportError as exc:
        return observer.results, str(exc)
    except asyncio.TimeoutError:
        return observer.results, f"the audit did not finish within {deadline:g} s"
    finally:
        await supervisor.aclose()
    return observer.results, None


def findings_of(results: list[AuditResultInfo], urls: list[str], now: float, warn_days: int) -> list[AuditFinding]:
    """Every finding, per URL in configuration order, the worst first."""
    found = classify_all(results, now, warn_days)
    position = {url: index for index, url in enumerate(urls)}
    return sorted(found, key=lambda f: (position.get(f.url, len(urls)), severity_order(f)))


def finding_record(finding: AuditFinding) -> dict[str, Any]:
    values = ("auditcheck", finding.url, finding.name, finding.severity, finding.subject or None, finding.result,
              finding.fix or None)
    return dict(zip(CHECK_RECORD_FIELDS, values, strict=True))


def summary_record(findings: list[AuditFinding], advice: str | None, failure: str | None,
                   status: int) -> dict[str, Any]:
    counts = Counter(finding.severity for finding in findings)
    values = ("auditsummary", *(counts[severity] for severity in COUNT_KEYS), verdict(findings), advice, failure,
              status)
    return dict(zip(SUMMARY_RECORD_FIELDS, values, strict=True))


def verdict(findings: list[AuditFinding]) -> Severity:
    """The worst severity that fails the audit, else ok."""
    return min((f.severity for f in findings if f.severity in FAILING), key=SEVERITIES.index, default="ok")


def write_text(findings: list[AuditFinding], summary: dict[str, Any], out: TextIO) -> None:
    url = None
    for finding in findings:
        if finding.url != url:
            url = finding.url
            out.write(f"{printable(url)}\n")
        label = finding.severity.upper() if finding.severity != "ok" else "ok"
        out.write(f"  {label:<{LABEL_WIDTH}} {finding.name}: {printable(finding.result)}\n")
        if finding.fix:
            out.write(f"  {'':<{LABEL_WIDTH}} fix: {finding.fix}\n")
    if summary["advice"]:
        out.write(f"{summary['advice']}\n")
    if summary["failure"]:
        out.write(f"failure: {summary['failure']}\n")
    counts = ", ".join(f"{summary[key]} {severity}" for severity, key in COUNT_KEYS.items())
    out.write(f"audit: {summary['verdict']} ({counts})\n")


def without_credentials_allowed(configuration: dict[str, Any]) -> dict[str, Any]:
    """An audit needs no credentials (it asks without any first): a TURN entry without them
    gets empty ones, which the transport takes for none, instead of a browser's error."""
    servers = [
        server if isinstance(server, dict) and "username" in server else {**server, "username": "", "credential": ""}
        for server in configuration.get("iceServers", [])
    ] if isinstance(configuration.get("iceServers"), list) else configuration.get("iceServers")
    return {**configuration, "iceServers": servers}


def exit_status(findings: list[AuditFinding], failure: str | None) -> int:
    if failure is not None:
        return EXIT_TRANSPORT_FAILED
    return EXIT_FINDINGS if any(f.severity in FAILING for f in findings) else EXIT_OK


def run_audit(argv: list[str], out: TextIO, err: TextIO) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.cert_warn_days < 0:
            raise BadInput("--cert-warn-days must be 0 or more")
        minting = read_minting(args)
        configuration = without_credentials_allowed(load_configuration(args, minting, time.time()))
        options = gather_options(args)
        validated = parse_configuration(configuration)
        check_transport(args)
        supervisor = transport_supervisor(args, own_transport(args))
    except (BadInput, DOMException, TypeError, TransportError) as exc:
        err.write(f"icegather audit: {' '.join(str(exc).split())}\n")
        return EXIT_BAD_INPUT
    results, failure = asyncio.run(audit(validated, options, supervisor))
    urls = [url.url for server in validated.ice_servers for url in server.urls]
    findings = findings_of(results, urls, time.time(), args.cert_warn_days)
    status = exit_status(findings, failure)
    summary = summary_record(findings, credentials_advice(results), failure, status)
    if args.json:
        for record in [*map(finding_record, findings), summary]:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        write_text(findings, summary, out)
    return status
