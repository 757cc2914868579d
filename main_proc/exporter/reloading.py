"""The exporter's configuration, loaded again from its file on SIGHUP or ``POST /-/reload``.

A file that does not load leaves the configuration in use as it is: a mistake made while
editing never stops the probes. Whether the last reload worked, and when the configuration was
last loaded, are metrics, named as blackbox_exporter names them, so that one alert covers both.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Gauge

from icegather.main_proc.credentials.secrets_input import BadInput
from icegather.main_proc.exporter.config import ExporterConfig, load_config

logger = logging.getLogger(__name__)


class ReloadableConfig:
    """The configuration in use, from ``path`` (None: the built-in one, which a reload keeps)."""

    def __init__(self, path: str | None, config: ExporterConfig, registry: CollectorRegistry, now: float) -> None:
        self.path = path
        self.config = config
        self.successful = Gauge(
            "icegather_exporter_config_last_reload_successful",
            "1 when the last reload of the configuration file worked, 0 when it kept the previous one",
            registry=registry,
        )
        self.success_time = Gauge(
            "icegather_exporter_config_last_reload_success_timestamp_seconds",
            "When the configuration in use was loaded (Unix time)",
            registry=registry,
        )
        self._loaded(now)

    def reload(self, now: float) -> str | None:
        """Load the file again; None when it worked, else why not (one line, no secret in it)."""
        try:
            config = load_config(self.path)
        except BadInput as exc:
            self.successful.set(0)
            logger.error("the configuration was not reloaded, the previous one stays in use: %s", exc)
            return str(exc)
        self.config = config
        self._loaded(now)
        logger.info("configuration reloaded%s", f" from {self.path}" if self.path else "")
        return None

    def _loaded(self, now: float) -> None:
        self.successful.set(1)
        self.success_time.set(round(now, 3))  # time.time() to the millisecond
