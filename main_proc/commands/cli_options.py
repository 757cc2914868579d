"""What the ``icegather`` command line's options (``cli_parser``) become: the browser-shaped
configuration, the gathering options and where the transport comes from. Anything the user
must fix raises ``BadInput`` with a one-line message."""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from icegather.main_proc.commands.cli_parser import AUTH_SECRET_ENVIRONMENT, CREDENTIAL_ENVIRONMENT
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

if TYPE_CHECKING:
    from icegather.main_proc.link.transport_process import TransportProcess
    from icegather.main_proc.link.transport_supervisor import TransportSupervisor


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


def check_transport(args: argparse.Namespace) -> None:
    """CURVE's keys go with a ``tcp://`` service (--transport), and both of them."""
    if args.curve_secret or args.curve_server:
        if args.transport is None:
            raise BadInput("--curve-secret and --curve-server go with --transport tcp://...")
        if not (args.curve_secret and args.curve_server):
            raise BadInput("CURVE needs both --curve-secret (this client's key) and --curve-server (the service's)")


def transport_supervisor(args: argparse.Namespace, spawned: TransportProcess | None) -> TransportSupervisor:
    """Where transports come from: ``spawned``, the process of our own that ``cli.run`` started
    as soon as the arguments parsed (to start up while this one validates the rest and loads
    asyncio and ZeroMQ), or the service given by --transport."""
    from icegather.main_proc.link.transport_client import TransportClient
    from icegather.main_proc.link.transport_supervisor import TransportSupervisor

    if spawned is not None:
        spawned.forward_stderr()
        sandbox = args.sandbox
        return TransportSupervisor(
            spawned=spawned,
            connect=lambda supervision: TransportClient.start(supervision=supervision, sandbox=sandbox),
        )
    from icegather.shared.protocol.curve_keys import CurveKeys

    curve = None
    if args.curve_secret:
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
        except RecursionError:  # the json module's parser recurses once per level
            raise BadInput(f"{args.config} is nested too deeply to read") from None
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
