"""The ``icegather`` command line's grammar: its options, their help and defaults, and the other
commands. What the options become is ``cli_options``.

It loads argparse and plain numbers only: the command line parses its arguments, spawns its
transport process at once (``cli.run``), and loads the rest of itself, validation included,
while the transport starts.
"""

from __future__ import annotations

import argparse
from typing import NamedTuple

from icegather.shared.config.gather_limits import (
    DEFAULT_FINAL_WAIT,
    DEFAULT_INITIAL_RTO,
    DEFAULT_MAX_SENDS,
    QUALITY_DEFAULT_RATE,
)
from icegather.shared.version import __version__

CREDENTIAL_ENVIRONMENT = "ICEGATHER_CREDENTIAL"
AUTH_SECRET_ENVIRONMENT = "ICEGATHER_AUTH_SECRET"


class Subcommand(NamedTuple):
    """A command besides gathering: one line for --help, and where it runs (``cli.run`` imports
    its module only when it runs: each command loads what it needs). A row of a static table, as
    a NamedTuple: ``dataclasses`` would load before the transport is spawned."""

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
    group.add_argument("--local-address", action="append", default=[], metavar="IP",
                       help="use this local address only (repeatable; default: all interfaces)")
    group.add_argument("--rto", type=float, default=DEFAULT_INITIAL_RTO, metavar="SECONDS",
                       help=f"initial STUN retransmission timeout (default {DEFAULT_INITIAL_RTO})")
    group.add_argument("--max-sends", type=int, default=DEFAULT_MAX_SENDS, metavar="N",
                       help=f"requests sent before giving up on a silent server (default {DEFAULT_MAX_SENDS})")
    group.add_argument("--final-wait", type=int, default=DEFAULT_FINAL_WAIT, metavar="RTOS",
                       help=f"wait after the last request, in initial RTOs (default {DEFAULT_FINAL_WAIT})")


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
