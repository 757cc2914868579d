"""One probe's result as Prometheus metrics, for the ``/probe`` answer.

Names follow Prometheus's conventions (base units, so seconds; ``_info`` for text), and values
carry the precision they were measured with (round trips to the microsecond, the probe's
duration to a tenth of a millisecond), not a float's noise. Labels stay bounded and are never
repeated: a probe of one URL has no ``url`` label, since Prometheus's ``instance`` names the
URL already; a probe of a ``file:`` target, which covers several URLs, labels each URL's series
with ``url``: the configured URL (with `` (iceServers[N])``, its entry, when the URL is
configured in more than one entry, so that each is a series of its own). Other labels are a
candidate type, an address family and the diagnosis's cause names, which are the fixed rows of
its tables. No error text, address, username or credential is ever a label or a value.

    icegather_probe_success                1 when gathering completed and the diagnosis found nothing
    icegather_probe_duration_seconds       how long the probe took
    icegather_probe_info{verdict}          the diagnosis's verdict
    icegather_candidates{type}             candidates gathered, by type (host, srflx, relay)
    icegather_server_up                    1 when the URL gave what its kind of server gives
    icegather_server_rtt_seconds           round trip of its first answer (absent: no answer)
    icegather_server_error_code            its error code (0: none)
    icegather_server_failure{cause}        1 for each finding of the diagnosis
    icegather_relay_up{family}             1 when the relay check found the relay works (each
                                           of its relays, when several local addresses of
                                           the family allocated: one series per URL and
                                           family, whatever the host's addresses)
    icegather_relay_rtt_seconds{family,quantile}
                                           round trips through it: the quality stream's
                                           quantiles 0 (fastest), 0.5, 0.95 and 0.99 when
                                           the module has one, else the relay check's 0.5
    icegather_relay_loss_ratio{family,direction}, ... the quality stream (``quality_metrics``)
    (each icegather_server_* and icegather_relay_* with url too, for a file: target; and
    relay to relay, the stream's series with far_url, the URL of its far relay)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from icegather.main_proc.diagnosis.servers.outcomes import ServerOutcome, server_names
from icegather.main_proc.exporter.quality_metrics import (
    Relay,
    quality_families,
    relay_key,
    relay_rtt,
    seconds,
    streams_of,
)
from icegather.main_proc.observed_round import RoundResult
from icegather.main_proc.views.report import CANDIDATE_TYPES

DURATION_DIGITS = 4  # and times of a gathering to a tenth of a millisecond, as the records do


class ProbeCollector(Collector):
    """The metrics of one finished probe (registered in a registry of its own, per request)."""

    def __init__(self, result: RoundResult, duration: float, per_url: bool, relay_to_relay: bool = False) -> None:
        self.result = result
        self.duration = duration
        # Label each URL's series with it only when the probe covers several URLs; and relay to
        # relay, a stream's with the URL of its far relay too (a probe of one URL has no such
        # label: its far relay is on that URL, which Prometheus's instance names).
        self.url_label = ["url"] if per_url else []
        self.far_label = ["far_url"] if per_url and relay_to_relay else []
        self.names = server_names([(outcome.entry, outcome.url) for outcome in result.outcomes])

    def collect(self) -> Iterator[Metric]:
        result = self.result
        yield gauge(
            "icegather_probe_success", "1 when gathering completed and the diagnosis found nothing", result.succeeded
        )
        yield gauge(
            "icegather_probe_duration_seconds", "How long the probe took", round(self.duration, DURATION_DIGITS)
        )
        info = InfoMetricFamily("icegather_probe", "The diagnosis of the probe")
        info.add_metric([], {"verdict": result.diagnosis.verdict})
        yield info
        candidates = GaugeMetricFamily("icegather_candidates", "Candidates gathered, by type", labels=["type"])
        for kind in CANDIDATE_TYPES:
            candidates.add_metric([kind], result.tally.candidates.get(kind, 0))
        yield candidates
        yield from self._servers()
        yield from self._relays()

    def _servers(self) -> Iterator[Metric]:
        url = self.url_label
        up = GaugeMetricFamily("icegather_server_up", "1 when the URL gave what its kind of server gives", labels=url)
        rtt = GaugeMetricFamily("icegather_server_rtt_seconds", "Round trip of the URL's first answer", labels=url)
        code = GaugeMetricFamily("icegather_server_error_code", "The URL's error code (0: none)", labels=url)
        failure = GaugeMetricFamily(
            "icegather_server_failure", "1 for each finding of the diagnosis, by its cause", labels=[*url, "cause"]
        )
        for outcome in self.result.outcomes:
            labels = self._url(outcome.entry, outcome.url)
            up.add_metric(labels, outcome.tried and outcome.settled and not outcome.failed)
            if outcome.rtt_ms is not None:
                rtt.add_metric(labels, seconds(outcome.rtt_ms))
            code.add_metric(labels, outcome.error_code or 0)
        for finding in self.result.diagnosis.findings:
            failure.add_metric([*self._url(finding.entry, finding.url), finding.cause], 1)
        yield from (up, rtt, code, failure)

    def _relays(self) -> Iterator[Metric]:
        labels = [*self.url_label, "family"]
        stream_labels = [*labels, *self.far_label]
        up = GaugeMetricFamily("icegather_relay_up", "1 when data went through the relay both ways", labels=labels)
        rtt = GaugeMetricFamily(
            "icegather_relay_rtt_seconds", "Round trip through the relay, out and back, by quantile",
            labels=[*stream_labels, "quantile"],
        )
        streams = streams_of(self.result.tally.records)
        for relay, checks in relay_checks(self.result.outcomes).items():
            stream = streams.get(relay)
            up.add_metric(self._relay(relay), all(check["outcome"] == "works" for check in checks))
            for quantile, milliseconds in relay_rtt(checks, stream):
                rtt.add_metric([*self._stream(relay, stream), quantile], seconds(milliseconds))
        yield from (up, rtt)
        if streams:  # a module with a quality stream, and a relay that carried it
            yield from quality_families(streams, stream_labels, self._stream)

    def _stream(self, relay: Relay, stream: Mapping[str, Any] | None) -> list[str]:
        """The labels of a relay's stream series: the relay's, and relay to relay its far URL
        ("" for a relay without a stream: Prometheus reads an empty label as none)."""
        if not self.far_label:
            return self._relay(relay)
        far = stream["farUrl"] if stream is not None else None
        # As the url label names it: with its entry, where the URL is in several.
        far_name = self.names.get((stream["farServerIndex"], far), far) if stream is not None and far else ""
        return [*self._relay(relay), far_name]

    def _relay(self, relay: Relay) -> list[str]:
        """The labels of a relay's series: its URL's (if any) and its family."""
        entry, url, family = relay
        return [*self._url(entry, url), family]

    def _url(self, entry: int, url: str) -> list[str]:
        """The ``url`` label's value of a URL's series, or nothing when there is no such label."""
        return [self.names[(entry, url)]] if self.url_label else []


def relay_checks(outcomes: Iterable[ServerOutcome]) -> dict[Relay, list[Mapping[str, Any]]]:
    """The relay checks of each relay (URL and family): several when several local addresses of
    one family allocated."""
    checks: dict[Relay, list[Mapping[str, Any]]] = {}
    for outcome in outcomes:
        for check in outcome.relay_checks:
            checks.setdefault(relay_key(outcome.entry, outcome.url, check["relayedAddress"]), []).append(check)
    return checks


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))
