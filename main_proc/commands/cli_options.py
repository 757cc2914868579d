"""The ``icegather`` command line's options, and what they become: the browser-shaped
configuration, the gathering options and where the transport comes from. Anything the user
must fix raises ``BadInput`` with a one-line message."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from icegather.main_proc.credentials.secrets_input import BadInput, Minting, read_secret_file
from icegather.shared.config.gather_limits import (
    FINAL_WAIT_RANGE,
    MAX_QUALITY_SECONDS,
    MAX_SENDS_RANGE,
    MAX_STREAM_PACKETS,
    QUALITY_DEFAULT_RATE,
    QUALITY_RATE_RANGE,
    RTO_RANGE,
)
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule
from icegather.shared.version import __version__

if TYPE_CHECKING:
    from icegather.main_proc.link.transport_supervisor import TransportSupervisor

CREDENTIAL_ENVIRONMENT = "ICEGATHER_CREDENTIAL"
AUTH_SECRET_ENVIRONMENT = "ICEGATHER_AUTH_SECRET"


def read_minting(args: argparse.Namespace) -> Minting | None:
    """The shared secret, from --auth-secret-file or the environment; None without one."""
    if args.auth_secret_file is not None:
        secret = read_secret_file(args.auth_secret_file, "shared secret").encode("utf-8")
    elif os.environ.get(AUTH_SECRET_ENVIRONMENT):
        secret = os.environ[AUTH_SECRET_ENVIRONMENT].encode("utf-8")
    else:
        return None
    if args.username is not None or args.credential is not None or args.credential_file is not None:
        raise BadInput("a shared secret mints the username and credential: leave out --username and --credential")
    if not 1 <= args.auth_ttl <= 365 * 86400:
        raise BadInput("--auth-ttl must be between 1 second and a year")
    if not secret:
        raise BadInput("the shared secret is empty")
    return Minting(secret, args.auth_user, args.auth_ttl)


@dataclass(frozen=True)
class Subcommand:
    """A command besides gathering: one line for --help, and where it runs (``cli.run`` imports
    its module only when it runs, so that bad input is answered before anything else loads)."""

    summary: str
    module: str
    function: str  # (argv, out, err) -> exit status


SUBCOMMANDS: dict[str, Subcommand] = {
    "explain": Subcommand("what a word icegather prints means, and what to do",
                          "icegather.main_proc.diagnosis.explain", "explain"),
    "audit": Subcommand("what in a TURN server can be abused: open relay, peers, TLS",
                        "icegather.main_proc.commands.audit_command", "run_audit"),
    "report": Subcommand("a saved --json run as a timeline page", "icegather.main_proc.commands.report_command",
                         "run_report"),
    "exporter": Subcommand("serve probes to Prometheus", "icegather.main_proc.commands.exporter_command",
                           "run_exporter"),
    "sandbox": Subcommand("show which confinement layers the transport process runs under",
                          "icegather.main_proc.commands.sandbox_command", "run_sandbox"),
}
# Wrapped here, not with textwrap: its import would cost every run, bad input's too.
EXIT_STATUS_HELP = (
    "exit status: 0 complete and nothing found, 1 the diagnosis found\n"
    "something (an error event, a relay that carries no data, an address\n"
    "peers cannot use), 2 bad input, 3 transport failure, 130 Ctrl-C, 141\n"
    "whatever read the output went away first (icegather ... | head)"
)
ABOUT = (
    "Gather ICE candidates from STUN/TURN servers and report every failure\n"
    "as a browser's icecandidateerror event would, with its cause."
)


def commands_help() -> str:
    width = max(map(len, SUBCOMMANDS))
    return "commands (icegather COMMAND --help for more):\n" + "\n".join(
        f"  {name:<{width}}  {command.summary}" for name, command in SUBCOMMANDS.items()
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="icegather",
        usage=f"%(prog)s [OPTIONS] (--server URL ... | --config FILE)\n       %(prog)s {{{','.join(SUBCOMMANDS)}}} ...",
        description=f"{ABOUT}\n\n{commands_help()}",
        epilog=EXIT_STATUS_HELP,
        # The description and epilog keep their lines: one per command.
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    servers = parser.add_argument_group("servers")
    servers.add_argument("--server", "-s", action="append", default=[], metavar="URL",
                         help="a stun:, stuns:, turn: or turns: URL (repeatable)")
    add_credential_options(servers)
    add_transport_options(parser)
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print one JSON object per line (NDJSON)")
    output.add_argument("--watch", type=float, metavar="SECONDS",
                        help="repeat the check every SECONDS and print one summary per round")
    output.add_argument("--rounds", type=int, metavar="N", help="with --watch: stop after N rounds")
    output.add_argument("--html", metavar="FILE",
                        help="also write a timeline page of the run to FILE (self-contained HTML; the run is "
                        "traced for the page, and the trace printed only with --trace)")
    gathering = parser.add_argument_group("gathering")
    gathering.add_argument("--relay-only", action="store_true", help='iceTransportPolicy "relay"')
    add_schedule_options(gathering)
    gathering.add_argument("--trace", action="store_true",
                           help="also report every STUN/TURN transaction: each send and how it ended")
    gathering.add_argument("--no-relay-check", dest="relay_check", action="store_false",
                           help="do not send data through each TURN relay and back (a browser does not)")
    gathering.add_argument("--no-ipv6-relay", dest="ipv6_relay", action="store_false",
                           help="do not ask a TURN server that gave an IPv4 relay for an IPv6 one too "
                                "(a browser does not)")
    gathering.add_argument("--no-nat-behaviour", dest="nat_behaviour", action="store_false",
                           help="do not run RFC 5780's NAT tests where a STUN server offers them (a browser "
                                "does not)")
    add_quality_options(gathering)
    gathering.add_argument("--insecure-tls", action="store_true",
                           help="accept any certificate from stuns:/turns: servers (your own test servers)")
    return parser


def add_credential_options(servers: argparse._ArgumentGroup) -> None:
    """The TURN credentials of the URLs on the command line, and the --config file."""
    servers.add_argument("--username", "-u", help="TURN username for the URLs")
    secret = servers.add_mutually_exclusive_group()
    secret.add_argument("--credential", "-c",
                        help=f"TURN credential (visible to other users in ps: prefer --credential-file "
                             f"or ${CREDENTIAL_ENVIRONMENT})")
    secret.add_argument("--credential-file", metavar="FILE", help="read the TURN credential from FILE")
    servers.add_argument("--auth-secret-file", metavar="FILE",
                         help="mint time-limited TURN credentials (TURN REST API, coturn use-auth-secret) "
                              f"for the URLs from the shared secret in FILE (or ${AUTH_SECRET_ENVIRONMENT})")
    servers.add_argument("--auth-user", default="icegather", metavar="NAME",
                         help="the user part of a minted username (default icegather)")
    servers.add_argument("--auth-ttl", type=int, default=3600, metavar="SECONDS",
                         help="how long a minted credential is valid (default 3600)")
    servers.add_argument("--config", metavar="FILE",
                         help='a JSON RTCConfiguration, {"iceServers": [...]}, as a browser takes it')


def add_transport_options(parser: argparse.ArgumentParser) -> None:
    service = parser.add_argument_group("transport")
    service.add_argument("--transport", metavar="ENDPOINT",
                         help="use a running transport service (ipc://PATH, or tcp://HOST:PORT with CURVE) "
                              "instead of starting one")
    service.add_argument("--curve-secret", metavar="FILE", help="this client's NAME.key_secret, for tcp://")
    service.add_argument("--curve-server", metavar="FILE", help="the service's public NAME.key, for tcp://")
    service.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                         help="start the transport unconfined, for debugging (it warns on stderr)")


def add_schedule_options(group: argparse._ArgumentGroup) -> None:
    """Where from, and how patiently: local addresses and the retransmission schedule."""
    defaults = RetransmissionSchedule()
    group.add_argument("--local-address", action="append", default=[], metavar="IP",
                       help="use this local address only (repeatable; default: all interfaces)")
    group.add_argument("--rto", type=float, default=defaults.initial_rto, metavar="SECONDS",
                       help=f"initial STUN retransmission timeout (default {defaults.initial_rto})")
    group.add_argument("--max-sends", type=int, default=defaults.max_sends, metavar="N",
                       help=f"requests sent before giving up on a silent server (default {defaults.max_sends})")
    group.add_argument("--final-wait", type=int, default=defaults.final_wait, metavar="RTOS",
                       help=f"wait after the last request, in initial RTOs (default {defaults.final_wait})")


def add_quality_options(group: argparse._ArgumentGroup) -> None:
    """A call-like stream through each relay that carries data, after its relay check."""
    group.add_argument("--quality", type=float, default=0.0, metavar="SECONDS",
                       help="after each relay check, send a call-like stream through the relay for SECONDS and "
                            "report its loss, jitter and round trips (turns the relay check on)")
    group.add_argument("--quality-rate", type=int, default=None, metavar="N",
                       help=f"with --quality: packets a second each way (default {QUALITY_DEFAULT_RATE}, "
                            "160 bytes each, like 20 ms audio frames)")
    group.add_argument("--relay-to-relay", action="store_true",
                       help="with --quality: the stream's far end is a second allocation (on the next TURN URL), "
                            "as in a call where both users need TURN")


def check_quality(args: argparse.Namespace) -> None:
    """The stream's options: in their ranges, and only with --quality, which needs the relay check."""
    if not 0 <= args.quality <= MAX_QUALITY_SECONDS:
        raise BadInput(f"--quality must be between 0 and {MAX_QUALITY_SECONDS:g} seconds")
    low, high = QUALITY_RATE_RANGE
    if args.quality_rate is not None and not low <= args.quality_rate <= high:
        raise BadInput(f"--quality-rate must be between {low} and {high} packets a second")
    if not args.quality and (args.quality_rate is not None or args.relay_to_relay):
        raise BadInput("--quality-rate and --relay-to-relay go with --quality SECONDS")
    if args.quality and not args.relay_check:
        raise BadInput("--quality runs after the relay check: leave out --no-relay-check")
    if args.quality * (args.quality_rate or QUALITY_DEFAULT_RATE) > MAX_STREAM_PACKETS:
        raise BadInput(f"--quality SECONDS x --quality-rate must be at most {MAX_STREAM_PACKETS:,} packets a stream")


def transport_supervisor(args: argparse.Namespace) -> TransportSupervisor:
    """Where transports come from: a process of our own, or the service given by --transport.
    Call it once the rest of the input is known to be good: it spawns our own process at
    once, to start up while this one loads asyncio and ZeroMQ (imported only then, so that bad
    input is answered without them)."""
    if args.transport is None:
        if args.curve_secret or args.curve_server:
            raise BadInput("--curve-secret and --curve-server go with --transport tcp://...")
        from icegather.main_proc.link.transport_error import TransportError
        from icegather.main_proc.link.transport_process import TransportProcess

        sandbox = args.sandbox
        try:
            spawned = TransportProcess.start(sandbox=sandbox)
        except TransportError as exc:  # none can start here: its directory is unsafe, or the platform
            raise BadInput(str(exc)) from None
        from icegather.main_proc.link.transport_client import TransportClient
        from icegather.main_proc.link.transport_supervisor import TransportSupervisor

        return TransportSupervisor(
            spawned=spawned,
            connect=lambda supervision: TransportClient.start(supervision=supervision, sandbox=sandbox),
        )
    from icegather.main_proc.link.transport_client import TransportClient
    from icegather.main_proc.link.transport_supervisor import TransportSupervisor
    from icegather.shared.protocol.curve_keys import CurveKeys

    curve = None
    if args.curve_secret or args.curve_server:
        if not (args.curve_secret and args.curve_server):
            raise BadInput("CURVE needs both --curve-secret (this client's key) and --curve-server (the service's)")
        try:
            curve = CurveKeys.load(args.curve_secret, args.curve_server)
        except (OSError, ValueError) as exc:
            raise BadInput(f"cannot read the CURVE keys: {exc}") from None
    endpoint = args.transport
    return TransportSupervisor(
        connect=lambda supervision: TransportClient.connect(endpoint, supervision=supervision, curve=curve)
    )


def check_watch(args: argparse.Namespace) -> None:
    if args.watch is not None and not 0 <= args.watch <= 86400:
        raise BadInput("--watch must be between 0 and 86400 seconds")
    if args.rounds is not None and (args.watch is None or args.rounds < 1):
        raise BadInput("--rounds needs --watch and a number of at least 1")


def load_configuration(args: argparse.Namespace, minting: Minting | None, now: float) -> dict[str, Any]:
    servers: list[Any] = []
    if args.config:
        try:
            with open(args.config, encoding="utf-8") as file:
                loaded = json.load(file)
        except OSError as exc:
            raise BadInput(f"cannot read {args.config}: {exc.strerror}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadInput(f"{args.config} is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise BadInput(f'{args.config} must hold a JSON object like {{"iceServers": [...]}}')
        configuration = dict(loaded)
        servers = list(configuration.get("iceServers") or [])
    else:
        configuration = {}
    username: str | None
    credential: str | None
    if minting is not None:
        username, credential = minting.credentials(now)
    else:
        username, credential = args.username, read_credential(args)
    for url in args.server:
        entry: dict[str, Any] = {"urls": url}
        if username is not None:
            entry["username"] = username
        if credential is not None:
            entry["credential"] = credential
        servers.append(entry)
    if not servers:
        raise BadInput("no ICE server: give --server URL or --config FILE")
    configuration["iceServers"] = servers
    if args.relay_only:
        configuration["iceTransportPolicy"] = "relay"
    return configuration


def reminted(configuration: dict[str, Any], minting: Minting, minted_entries: int, now: float) -> dict[str, Any]:
    """The configuration with fresh credentials in its last ``minted_entries`` servers (those
    of the --server URLs, which ``load_configuration`` appends), for the next round."""
    username, credential = minting.credentials(now)
    servers = list(configuration["iceServers"])
    first = len(servers) - minted_entries
    servers[first:] = [{**server, "username": username, "credential": credential} for server in servers[first:]]
    return {**configuration, "iceServers": servers}


def read_credential(args: argparse.Namespace) -> str | None:
    credential: str | None = args.credential
    if credential is not None:
        return credential
    if args.credential_file is not None:
        return read_secret_file(args.credential_file, "credential")
    return os.environ.get(CREDENTIAL_ENVIRONMENT)


def gather_options(args: argparse.Namespace) -> GatherOptions:
    for flag, value, (low, high) in (
        ("--rto", args.rto, RTO_RANGE), ("--max-sends", args.max_sends, MAX_SENDS_RANGE),
        ("--final-wait", args.final_wait, FINAL_WAIT_RANGE),
    ):
        if not low <= value <= high:
            raise BadInput(f"{flag} must be between {low:g} and {high:g}")
    try:
        schedule = RetransmissionSchedule(args.rto, args.max_sends, args.final_wait)
    except ValueError as exc:
        raise BadInput(f"--rto, --max-sends and --final-wait: {exc}") from None
    check_quality(args)
    try:
        return GatherOptions(
            schedule=schedule,
            local_addresses=tuple(args.local_address),
            verify_tls=not args.insecure_tls,
            relay_check=args.relay_check,
            ipv6_relay=args.ipv6_relay,
            trace=args.trace or args.html is not None,
            quality_seconds=args.quality,
            quality_rate=args.quality_rate or QUALITY_DEFAULT_RATE,
            relay_to_relay=args.relay_to_relay,
            nat_behaviour=args.nat_behaviour,
        )
    except ValueError as exc:
        raise BadInput(f"--local-address: {exc}") from None
