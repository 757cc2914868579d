"""What a ``GET /probe`` asks for, checked: the target, the module and the time the probe has.

* ``target`` is one STUN/TURN URL (the module's credentials go with a TURN URL) or
  ``file:NAME``: the iceServers configuration in the file NAME of the configured directory,
  exactly as a browser takes it (its own credentials in it). Names are plain file names, so a
  request cannot reach any other file.
* ``module`` names a module of the configuration; left out, it is ``default``. A module with
  ``allowed_targets`` probes only those: every URL of the target must be among them.
* ``debug=true`` asks for a text log of the probe instead of its metrics (blackbox_exporter's
  habit); the probe then traces every transaction.
* The probe must answer before Prometheus gives up, and name a silent server before it does:
  its time and its schedule follow ``probe_time``'s rule. A module's quality stream is never
  shortened: a scrape timeout too short for it is refused, with the scrape timeout it needs.

A request that cannot be served raises ``BadProbe`` with a one-line reason, its HTTP status (400,
or 403 for a target the module may not probe) and a fixed ``kind`` for the exporter's counter of
bad requests (a label: no free text in it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs

from icegather.main_proc.exporter.allowed_targets import first_refused
from icegather.main_proc.exporter.config import ExporterConfig, Module
from icegather.main_proc.exporter.probe_time import (
    SCRAPE_TIMEOUT_MARGIN,
    BadScrapeTimeout,
    fitted_schedule,
    probe_time,
    schedule_seconds,
    stream_does_not_fit,
    stream_needs,
    stream_remedies,
)
from icegather.shared.config.dom_exception import DOMException
from icegather.shared.config.gather_options import GatherOptions
from icegather.shared.config.ice_config import IceConfiguration, parse_configuration
from icegather.shared.config.ice_url import parse_ice_url, quote_url

FILE_TARGET = "file:"
FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
MAX_FILE_BYTES = 1_000_000
MAX_QUERY_FIELDS = 16


class BadProbe(Exception):
    """A probe request that cannot be served: HTTP ``status`` with this one-line message."""

    def __init__(self, kind: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.kind = kind  # a label value of icegather_exporter_bad_requests_total
        self.status = status


@dataclass(frozen=True)
class ProbeRequest:
    target: str
    module: Module
    configuration: dict[str, Any] = field(repr=False)  # with credentials
    validated: IceConfiguration = field(repr=False)
    # The usernames minted for this probe from a shared secret.
    minted: frozenset[str]
    timeout: float
    debug: bool = False

    def options(self, seconds: float) -> GatherOptions:
        """The module's options for a gathering that has ``seconds``: its schedule fitted to
        what its quality streams leave of them (shared with the far relay's allocation, relay to
        relay), and every transaction traced for ``debug``."""
        options = self.module.options
        schedule = fitted_schedule(options.schedule, schedule_seconds(options, seconds))
        return replace(options, schedule=schedule, trace=options.trace or self.debug)

    @property
    def per_url(self) -> bool:
        """Whether the probe covers several URLs (a ``file:`` target), so its metrics need a
        ``url`` label; otherwise Prometheus's ``instance`` already names the one URL."""
        return self.target.startswith(FILE_TARGET)


def probe_request(query: str, scrape_timeout: str | None, config: ExporterConfig, now: float) -> ProbeRequest:
    """The probe that ``query`` (the URL's query string) asks for."""
    target, module, debug = query_fields(query, config)
    if target.startswith(FILE_TARGET):
        configuration = file_configuration(target[len(FILE_TARGET) :], config)
        minted: frozenset[str] = frozenset()
    else:
        configuration, minted = url_configuration(target, module, now)
    if module.relay_only:
        configuration["iceTransportPolicy"] = "relay"
    try:
        validated = parse_configuration(configuration)
    except (DOMException, TypeError) as exc:
        raise BadProbe("bad target", " ".join(str(exc).split())) from None
    check_allowed(module, validated)
    try:
        timeout = probe_time(module.timeout, scrape_timeout)
    except BadScrapeTimeout as exc:
        raise BadProbe("bad header", str(exc)) from None
    too_long = stream_does_not_fit(module.options, timeout)
    if too_long is not None:  # the module's own timeout holds it (config checks): the scrape's is shorter
        needed = stream_needs(module.options) + SCRAPE_TIMEOUT_MARGIN
        raise BadProbe(
            "stream does not fit",
            f"module {module.name!r}: {too_long} the {timeout:g} s this scrape allows (its scrape timeout less "
            f"{SCRAPE_TIMEOUT_MARGIN:g} s): "
            f"{stream_remedies(module.options, f'give the job a scrape_timeout of at least {needed:g} s')}",
        )
    return ProbeRequest(target, module, configuration, validated, minted, timeout, debug)


def query_fields(query: str, config: ExporterConfig) -> tuple[str, Module, bool]:
    try:
        fields = parse_qs(query, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:  # more fields than that: parse_qs refuses to go on
        raise BadProbe("too many fields", f"give at most {MAX_QUERY_FIELDS} query fields") from None
    targets = fields.get("target", [])
    if len(targets) != 1 or not targets[0]:
        raise BadProbe("no target", "give exactly one target: /probe?target=turn:HOST:PORT&module=NAME")
    modules = fields.get("module", ["default"])
    if len(modules) != 1 or modules[0] not in config.modules:
        raise BadProbe(
            "unknown module", f"unknown module {modules[-1][:64]!r}; known: {', '.join(sorted(config.modules))}"
        )
    debug = fields.get("debug", ["false"])
    if len(debug) != 1 or debug[0] not in ("true", "false"):
        raise BadProbe("bad debug", "debug is true or false")
    return targets[0], config.modules[modules[0]], debug[0] == "true"


def check_allowed(module: Module, validated: IceConfiguration) -> None:
    """Refuse (403) a URL the module may not probe, before anything goes to any of them."""
    if module.allowed_targets is None:
        return
    refused = first_refused(module.allowed_targets, (url for server in validated.ice_servers for url in server.urls))
    if refused is not None:
        reason = f"module {module.name!r} may not probe {quote_url(refused.url)}: not in its allowed_targets"
        raise BadProbe("target not allowed", reason, 403)


def url_configuration(target: str, module: Module, now: float) -> tuple[dict[str, Any], frozenset[str]]:
    try:
        url = parse_ice_url(target)
    except (DOMException, TypeError) as exc:
        raise BadProbe("bad target", " ".join(str(exc).split())) from None
    server: dict[str, Any] = {"urls": target}
    if url.is_turn:
        username, credential = module.credentials(now)
        if username is None or credential is None:
            raise BadProbe(
                "bad target", f"{quote_url(target)} is a TURN URL and module {module.name!r} has no credentials"
            )
        server.update(username=username, credential=credential)
    return {"iceServers": [server]}, frozenset({server["username"]}) if module.minting is not None else frozenset()


def file_configuration(name: str, config: ExporterConfig) -> dict[str, Any]:
    if config.configurations is None:
        raise BadProbe("bad target", "file: targets need a configurations directory in the exporter configuration")
    if not FILE_NAME.fullmatch(name):
        raise BadProbe("bad target", "a file: target names a file of the configurations directory, nothing else")
    path = config.configurations / name
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
        loaded = json.loads(data) if len(data) <= MAX_FILE_BYTES else None
    except OSError as exc:
        raise BadProbe("bad target", f"cannot read {name}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise BadProbe("bad target", f"{name} is not a JSON configuration") from None
    if not isinstance(loaded, dict):
        raise BadProbe("bad target", f'{name} must hold a JSON object like {{"iceServers": [...]}}')
    return loaded

