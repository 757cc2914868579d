"""One probe's result as Prometheus metrics, for the ``/probe`` answer.

Names follow Prometheus's conventions (base units, so seconds; ``_info`` for text). Labels stay
bounded: the configured URL (with `` (iceServers[N])``, its entry, when the URL is configured in
more than one entry, so that each is a series of its own), a candidate type, an address family,
and the diagnosis's cause names, which are the fixed rows of its tables. No error text,
address, username or credential is ever a label or a value.

    icegather_probe_success                1 when gathering completed and the diagnosis found nothing
    icegather_probe_duration_seconds       how long the probe took
    icegather_probe_info{verdict}          the diagnosis's verdict
    icegather_candidates{type}             candidates gathered, by type (host, srflx, relay)
    icegather_server_up{url}               1 when the URL gave what its kind of server gives
    icegather_server_rtt_seconds{url}      round trip of its first answer (absent: no answer)
    icegather_server_error_code{url}       its error code (0: none)
    icegather_server_failure{url,cause}    1 for each finding of the diagnosis
    icegather_relay_up{url,family}         1 when the relay check found the relay works
    icegather_relay_rtt_seconds{url,family} the relay's round trip through it
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from icegather.main_proc.diagnosis.outcomes import server_names
from icegather.main_proc.observed_round import RoundResult
from icegather.main_proc.views.report import CANDIDATE_TYPES
from icegather.shared.net.endpoints import family_name


class ProbeCollector(Collector):
    """The metrics of one finished probe (registered in a registry of its own, per request)."""

    def __init__(self, result: RoundResult, duration: float) -> None:
        self.result = result
        self.duration = duration

    def collect(self) -> Iterator[Metric]:
        result = self.result
        yield gauge(
            "icegather_probe_success", "1 when gathering completed and the diagnosis found nothing", result.succeeded
        )
        yield gauge("icegather_probe_duration_seconds", "How long the probe took", self.duration)
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
        up = GaugeMetricFamily(
            "icegather_server_up", "1 when the URL gave what its kind of server gives", labels=["url"]
        )
        rtt = GaugeMetricFamily("icegather_server_rtt_seconds", "Round trip of the URL's first answer", labels=["url"])
        code = GaugeMetricFamily("icegather_server_error_code", "The URL's error code (0: none)", labels=["url"])
        failure = GaugeMetricFamily(
            "icegather_server_failure", "1 for each finding of the diagnosis, by its cause", labels=["url", "cause"]
        )
        names = self._names()
        for outcome in self.result.outcomes:
            url = names[(outcome.entry, outcome.url)]
            up.add_metric([url], outcome.tried and outcome.settled and not outcome.failed)
            if outcome.rtt_ms is not None:
                rtt.add_metric([url], outcome.rtt_ms / 1000)
            code.add_metric([url], outcome.error_code or 0)
        for finding in self.result.diagnosis.findings:
            failure.add_metric([names[(finding.entry, finding.url)], finding.cause], 1)
        yield from (up, rtt, code, failure)

    def _relays(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "icegather_relay_up", "1 when data went through the relay both ways", labels=["url", "family"]
        )
        rtt = GaugeMetricFamily(
            "icegather_relay_rtt_seconds", "Round trip through the relay, out and back", labels=["url", "family"]
        )
        names = self._names()
        for outcome in self.result.outcomes:
            for check in outcome.relay_checks:
                labels = [names[(outcome.entry, outcome.url)], family_name(check["relayedAddress"])]
                up.add_metric(labels, check["outcome"] == "works")
                if check["rttMs"] is not None:
                    rtt.add_metric(labels, check["rttMs"] / 1000)
        yield from (up, rtt)

    def _names(self) -> dict[tuple[int, str], str]:
        return server_names([(outcome.entry, outcome.url) for outcome in self.result.outcomes])


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))
