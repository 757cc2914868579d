"""The exporter's configuration file, in the style of blackbox_exporter's ``blackbox.yml``: named
*modules* say how to probe (credentials, retransmission schedule, local addresses, relay-only,
the relay check, a time limit); a probe request names a module and a target.

    max_concurrent_probes: 16          # probes beyond this wait their turn
    configurations: /etc/icegather/ice # a directory of iceServers files: target=file:NAME
    modules:
      turn_alice:
        username: alice
        credential_file: /etc/icegather/alice.credential   # or credential_env: VARIABLE
        allowed_targets: [turn.example.org:3478]            # where these credentials may go
      turn_rest:                                            # TURN REST API (coturn use-auth-secret)
        auth_secret_file: /etc/icegather/turn.secret        # or auth_secret_env: VARIABLE
        auth_user: monitoring
        auth_ttl: 600
        allowed_targets: [turn.example.org, "[2001:db8::1]:3478"]
      slow_path:
        schedule: {rto: 1.0, max_sends: 4, final_wait: 4}
        local_addresses: [192.0.2.2]
        relay_only: true
        relay_check: true
        ipv6_relay: true                                    # ask for an IPv6 relay too
        timeout: 30
      call_quality:
        quality_seconds: 5      # a call-like stream through each relay that carries data
        quality_rate: 50        # packets a second each way (the default)
        relay_to_relay: true    # its far end a second relay (the next TURN URL), not our socket

A module that holds credentials must list ``allowed_targets`` (the module ``allowed_targets``
says what they match): a probe of any other target with it is refused before anything is
sent. Secrets are read when the file is loaded (a mistake shows at start-up, not at 3 a.m.) and
never appear in an error: ``BadInput`` names the module, the key or the file. The module
``default`` (no credentials, the default schedule) exists without any file.

A module with ``quality_seconds`` must leave room in its ``timeout`` for its streams, two in turn
with ``ipv6_relay`` (``probe_time`` says how a probe's time is shared); one that cannot is refused
here, not at each scrape.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]  # types-PyYAML is a test extra, not a dependency

from icegather.main_proc.credentials.secrets_input import BadInput, Minting, read_secret_file
from icegather.main_proc.exporter.allowed_targets import AllowedTarget, parse_allowed_target
from icegather.main_proc.exporter.probe_time import stream_does_not_fit, stream_remedies
from icegather.shared.config.gather_limits import (
    MAX_QUALITY_SECONDS,
    MAX_STREAM_PACKETS,
    QUALITY_DEFAULT_RATE,
    QUALITY_RATE_RANGE,
)
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule

DEFAULT_TIMEOUT = 15.0
DEFAULT_CONCURRENCY = 16
MODULE_KEYS = frozenset({
    "username", "credential_file", "credential_env", "auth_secret_file", "auth_secret_env", "auth_user", "auth_ttl",
    "schedule", "local_addresses", "relay_only", "relay_check", "ipv6_relay", "timeout", "allowed_targets",
    "quality_seconds", "quality_rate", "relay_to_relay",
})
TOP_KEYS = frozenset({"modules", "configurations", "max_concurrent_probes"})


@dataclass(frozen=True)
class Module:
    """How to probe: what a probe request's ``module`` names."""

    name: str
    username: str | None = None
    credential: str | None = field(default=None, repr=False)
    minting: Minting | None = None
    # A probe checks relays and asks for an IPv6 relay unless the module says relay_check: false
    # or ipv6_relay: false.
    options: GatherOptions = field(default_factory=lambda: GatherOptions(relay_check=True, ipv6_relay=True))
    relay_only: bool = False
    timeout: float = DEFAULT_TIMEOUT
    # Where the module may probe; None: anywhere (only a module without credentials).
    allowed_targets: tuple[AllowedTarget, ...] | None = None

    def credentials(self, now: float) -> tuple[str | None, str | None]:
        """The username and credential for TURN URLs: minted now, given, or none."""
        if self.minting is not None:
            return self.minting.credentials(now)
        return self.username, self.credential


@dataclass(frozen=True)
class ExporterConfig:
    modules: Mapping[str, Module]
    # Where target=file:NAME looks for iceServers files; None: such targets are refused.
    configurations: Path | None = None
    max_concurrent_probes: int = DEFAULT_CONCURRENCY


DEFAULT_CONFIG = ExporterConfig({"default": Module("default")})


def load_config(path: str | None, environ: Mapping[str, str] = os.environ) -> ExporterConfig:
    """The configuration in ``path`` (YAML), or the built-in one when None."""
    if path is None:
        return DEFAULT_CONFIG
    try:
        with open(path, encoding="utf-8") as file:
            loaded = yaml.safe_load(file)
    except OSError as exc:
        raise BadInput(f"cannot read the exporter configuration {path}: {exc.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadInput(f"the exporter configuration {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    return parse_config(loaded if loaded is not None else {}, environ, where=path)


def parse_config(loaded: Any, environ: Mapping[str, str], where: str = "the configuration") -> ExporterConfig:
    top = _mapping(loaded, where, TOP_KEYS)
    modules = {"default": Module("default")}
    for name, entry in _mapping(top.get("modules", {}), f"{where}: modules").items():
        if not isinstance(name, str) or not name:
            raise BadInput(f"{where}: module names must be non-empty strings")
        modules[name] = parse_module(name, entry, environ)
    configurations = top.get("configurations")
    if configurations is not None and not isinstance(configurations, str):
        raise BadInput(f"{where}: configurations must be a directory path")
    concurrency = top.get("max_concurrent_probes", DEFAULT_CONCURRENCY)
    if type(concurrency) is not int or not 1 <= concurrency <= 1024:
        raise BadInput(f"{where}: max_concurrent_probes must be a whole number from 1 to 1024")
    return ExporterConfig(modules, Path(configurations) if configurations else None, concurrency)


def parse_module(name: str, entry: Any, environ: Mapping[str, str]) -> Module:
    where = f"module {name!r}"
    module = _mapping(entry if entry is not None else {}, where, MODULE_KEYS)
    get = _getter(module, where)
    sources = [
        key for key in ("credential_file", "credential_env", "auth_secret_file", "auth_secret_env") if key in module
    ]
    if len(sources) > 1:
        raise BadInput(f"{where}: give one of {', '.join(sources)}, not several")
    username = get("username", str, None)
    credential = minting = None
    if sources in (["credential_file"], ["credential_env"]):
        if username is None:
            raise BadInput(f"{where}: a credential needs a username")
        credential = _secret(module, sources[0], environ, where, "credential")
    elif sources:
        if username is not None:
            raise BadInput(f"{where}: a shared secret mints the username: leave out username")
        ttl = get("auth_ttl", int, 3600)
        if not 1 <= ttl <= 365 * 86400:
            raise BadInput(f"{where}: auth_ttl must be between 1 second and a year")
        secret = _secret(module, sources[0], environ, where, "shared secret")
        minting = Minting(secret.encode("utf-8"), get("auth_user", str, "icegather"), ttl)
    schedule = _mapping(module.get("schedule", {}), f"{where}: schedule", frozenset({"rto", "max_sends", "final_wait"}))
    defaults = RetransmissionSchedule()
    rto = _number(schedule.get("rto", defaults.initial_rto), f"{where}: schedule.rto", 0.001, 60)
    max_sends = _whole(schedule.get("max_sends", defaults.max_sends), f"{where}: schedule.max_sends", 1, 16)
    final_wait = _whole(schedule.get("final_wait", defaults.final_wait), f"{where}: schedule.final_wait", 1, 64)
    local_addresses = get("local_addresses", list, [])
    if not all(isinstance(address, str) for address in local_addresses):
        raise BadInput(f"{where}: local_addresses must be a list of IP addresses")
    relay_check = get("relay_check", bool, True)
    quality_seconds, quality_rate = _quality(module, where, relay_check)
    relay_to_relay = get("relay_to_relay", bool, False)
    if relay_to_relay and not quality_seconds:
        raise BadInput(f"{where}: relay_to_relay needs quality_seconds, the stream that takes that path")
    try:
        options = GatherOptions(
            schedule=RetransmissionSchedule(rto, max_sends, final_wait),
            local_addresses=tuple(local_addresses),
            relay_check=relay_check,
            ipv6_relay=get("ipv6_relay", bool, True),
            # Its credentials go to its allowed targets only, never to a server a redirect names.
            follow_redirects=username is None and minting is None,
            quality_seconds=quality_seconds,
            quality_rate=quality_rate,
            relay_to_relay=relay_to_relay,
        )
    except ValueError as exc:  # the limits the protocol has (a schedule gives up within 600 s)
        raise BadInput(f"{where}: {exc}") from None
    timeout = _number(module.get("timeout", DEFAULT_TIMEOUT), f"{where}: timeout", 0.5, 3600)
    too_long = stream_does_not_fit(options, timeout)
    if too_long is not None:
        raise BadInput(f"{where}: {too_long} its timeout of {timeout:g} s: {stream_remedies(options, 'raise timeout')}")
    return Module(
        name=name,
        username=username,
        credential=credential,
        minting=minting,
        options=options,
        relay_only=get("relay_only", bool, False),
        timeout=timeout,
        allowed_targets=_allowed_targets(module, where, credential is not None or minting is not None),
    )


def _quality(module: Mapping[str, Any], where: str, relay_check: bool) -> tuple[float, int]:
    """The module's quality stream: its seconds (0: none) and packets a second each way."""
    seconds = _number(module.get("quality_seconds", 0), f"{where}: quality_seconds", 0, MAX_QUALITY_SECONDS)
    rate = _whole(module.get("quality_rate", QUALITY_DEFAULT_RATE), f"{where}: quality_rate", *QUALITY_RATE_RANGE)
    if "quality_rate" in module and not seconds:
        raise BadInput(f"{where}: quality_rate needs quality_seconds, the stream's length")
    if seconds and not relay_check:
        # The stream runs through the relays that the relay check found carrying data.
        raise BadInput(f"{where}: quality_seconds needs relay_check: true")
    if seconds * rate > MAX_STREAM_PACKETS:
        raise BadInput(f"{where}: quality_seconds x quality_rate must be at most {MAX_STREAM_PACKETS:,} packets")
    return seconds, rate


def _allowed_targets(
    module: Mapping[str, Any], where: str, holds_credentials: bool
) -> tuple[AllowedTarget, ...] | None:
    entries = module.get("allowed_targets")
    if entries is None:
        if holds_credentials:
            raise BadInput(
                f"{where}: a module with credentials must list allowed_targets, the hosts or host:port pairs "
                "its credentials may go to"
            )
        return None
    if not isinstance(entries, list) or not entries or not all(isinstance(entry, str) for entry in entries):
        raise BadInput(f"{where}: allowed_targets must be a non-empty list of hosts or host:port pairs")
    try:
        return tuple(parse_allowed_target(entry) for entry in entries)
    except ValueError as exc:
        raise BadInput(f"{where}: allowed_targets: {exc}") from None


def _secret(module: Mapping[str, Any], key: str, environ: Mapping[str, str], where: str, what: str) -> str:
    value = module[key]
    if not isinstance(value, str) or not value:
        raise BadInput(f"{where}: {key} must name a file or an environment variable")
    secret = read_secret_file(value, what) if key.endswith("_file") else environ.get(value, "")
    if not secret:
        raise BadInput(f"{where}: the {what} from {key} {value} is empty or unset")
    return secret


def _mapping(value: Any, where: str, allowed: frozenset[str] | None = None) -> Mapping[Any, Any]:
    if not isinstance(value, dict):
        raise BadInput(f"{where} must be a mapping")
    unknown = sorted(str(key) for key in value if allowed is not None and key not in allowed)
    if unknown:
        raise BadInput(f"{where}: unknown key {unknown[0]!r}")
    return value


def _getter(module: Mapping[str, Any], where: str) -> Callable[[str, type, Any], Any]:
    def get(key: str, kind: type, default: Any) -> Any:
        value = module.get(key, default)
        if value is not default and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            raise BadInput(f"{where}: {key} must be {kind.__name__}")
        return value

    return get


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise BadInput(f"{where} must be a number from {low:g} to {high:g}")
    return float(value)


def _whole(value: Any, where: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise BadInput(f"{where} must be a whole number from {low} to {high}")
    return value
