"""``icegather exporter``: the quality stream (module option quality_seconds) as metrics, its
relays' series (one per URL and family), relay to relay, and modules refused."""

from __future__ import annotations

import json
import re
import time
from collections import Counter

import pytest
from exporter_helpers import lossy_proxy
from local_coturn import local_coturn
from local_exporter import Response, exporter_process
from prometheus_client import CollectorRegistry, generate_latest

from icegather.main_proc.credentials.secrets_input import BadInput
from icegather.main_proc.diagnosis.servers.outcomes import ServerOutcome
from icegather.main_proc.diagnosis.verdicts import diagnose
from icegather.main_proc.exporter.config import parse_config
from icegather.main_proc.exporter.debug_text import quality_text
from icegather.main_proc.exporter.probe_metrics import ProbeCollector
from icegather.main_proc.exporter.probe_request import BadProbe, probe_request
from icegather.main_proc.exporter.probe_time import (
    GIVE_UP_SHARE,
    MIN_TIMEOUT,
    fitted_schedule,
    schedule_seconds,
    stream_needs,
    stream_seconds,
    streams_in_turn,
)
from icegather.main_proc.observed_round import RoundResult
from icegather.main_proc.views.report import Tally
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule

# --- the quality stream (quality_seconds) -------------------------------------------------------


def relay_check(url: str, relayed: str, rtt_ms: float | None = 0.8) -> dict:
    """An ``icerelaycheck`` record, as far as the metrics read it."""
    return {"type": "icerelaycheck", "url": url, "serverIndex": 0, "relayedAddress": relayed,
            "outcome": "works", "rttMs": rtt_ms}


def relay_stream(url: str, relayed: str, **facts: object) -> dict:
    """An ``icerelayquality`` record: 250 packets out, 247 at the far end, 245 of its echoes back."""
    record = {
        "type": "icerelayquality", "url": url, "serverIndex": 0, "address": "192.0.2.1", "port": 50000,
        "relayedAddress": relayed, "farUrl": None, "farServerIndex": None, "farRelayedAddress": None,
        "mechanism": "channel",
        "transport": "udp", "seconds": 5, "rate": 50, "packetsOut": 250, "packetsBack": 247,
        "packetsOutReceived": 247, "packetsBackReceived": 245, "lossOut": 1 - 247 / 250, "lossBack": 1 - 245 / 247,
        "jitterOutMs": 3.1, "jitterBackMs": 2.25, "rttMinMs": 40.123, "rttP50Ms": 41.0, "rttP95Ms": 55.5,
        "rttP99Ms": 61.25, "addedDelayMs": 15.377, "reordered": 2, "duplicated": 1, "degraded": ["loss"],
        "cause": None, "series": {"intervalMs": 100.0, "sent": [5], "lost": [0], "rttMs": [41.0]}, "timeMs": 5020.5,
    }
    return {**record, **facts}


def probe_answer(records: list[dict], per_url: bool = False, relay_to_relay: bool = False) -> Response:
    """The /probe answer of a round of a TURN URL with these records, as the exporter writes it."""
    tally = Tally()
    for record in records:
        tally.add(record)
    outcomes = tuple(
        ServerOutcome(url, "turn", "udp", "t.example", True, 1.0, ("relay",), None, None, None,
                      relay_checks=tuple(r for r in records if r["type"] == "icerelaycheck" and r["url"] == url),
                      checks_relay=True)
        for url in dict.fromkeys(record["url"] for record in records)
    )
    result = RoundResult(tally, outcomes, diagnose(outcomes, finished=True), None, 5100.0)
    registry = CollectorRegistry()
    registry.register(ProbeCollector(result, 5.1, per_url, relay_to_relay))
    return Response(200, "text/plain", generate_latest(registry).decode())


def test_a_relays_stream_gives_its_loss_jitter_packets_and_round_trip_quantiles_per_family():
    url = "turn:t.example"
    answer = probe_answer([relay_check(url, "192.0.2.7"), relay_check(url, "2001:db8::7"),
                           relay_stream(url, "192.0.2.7"), relay_stream(url, "2001:db8::7", lossOut=0.0)])

    assert answer.value("icegather_relay_loss_ratio", family="IPv4", direction="out") == 0.012  # 3 of 250
    assert answer.value("icegather_relay_loss_ratio", family="IPv4", direction="back") == 0.008097  # 2 of 247
    assert answer.value("icegather_relay_loss_ratio", family="IPv6", direction="out") == 0
    assert answer.value("icegather_relay_jitter_seconds", family="IPv4", direction="out") == 0.0031
    assert answer.value("icegather_relay_jitter_seconds", family="IPv4", direction="back") == 0.00225
    assert {quantile: answer.value("icegather_relay_rtt_seconds", family="IPv4", quantile=quantile)
            for quantile in ("0", "0.5", "0.95", "0.99")} == {"0": 0.040123, "0.5": 0.041, "0.95": 0.0555,
                                                             "0.99": 0.06125}
    assert {(direction, fate): answer.value("icegather_relay_packets", family="IPv4", direction=direction, fate=fate)
            for direction in ("out", "back") for fate in ("sent", "received")} == {
        ("out", "sent"): 250, ("out", "received"): 247, ("back", "sent"): 247, ("back", "received"): 245}
    assert answer.value("icegather_relay_packets_reordered", family="IPv4") == 2
    assert answer.value("icegather_relay_packets_duplicated", family="IPv6") == 1
    assert not re.findall(r"[0-9]\.[0-9]{7,}", answer.body)  # no float noise from 1 - 247/250


def test_without_a_stream_a_relays_round_trip_is_the_relay_checks_median():
    answer = probe_answer([relay_check("turn:t.example", "192.0.2.7", rtt_ms=0.8)])

    assert [(name, dict(labels)) for name, labels in answer.samples() if name.startswith("icegather_relay_")] == [
        ("icegather_relay_up", {"family": "IPv4"}),
        ("icegather_relay_rtt_seconds", {"family": "IPv4", "quantile": "0.5"}),
    ]
    assert answer.value("icegather_relay_rtt_seconds", family="IPv4", quantile="0.5") == 0.0008


def test_a_stream_that_got_nothing_through_gives_full_loss_out_and_no_loss_back_jitter_or_round_trip():
    url = "turn:t.example"
    nothing = relay_stream(url, "192.0.2.7", packetsBack=0, packetsOutReceived=0, packetsBackReceived=0, lossOut=1.0,
                           lossBack=None, jitterOutMs=None, jitterBackMs=None, rttMinMs=None, rttP50Ms=None,
                           rttP95Ms=None, rttP99Ms=None)
    answer = probe_answer([relay_check(url, "192.0.2.7"), nothing])

    relay_series = {(name, labels) for name, labels in answer.samples() if name.startswith("icegather_relay_")}
    assert answer.value("icegather_relay_loss_ratio", family="IPv4", direction="out") == 1
    assert not {name for name, labels in relay_series if ("direction", "back") in labels} - {"icegather_relay_packets"}
    assert not [name for name, _ in relay_series if name in ("icegather_relay_jitter_seconds",
                                                              "icegather_relay_rtt_seconds")]


def test_a_file_targets_streams_are_labelled_with_their_url_as_its_relays_are():
    first, second = "turn:a.example", "turn:b.example?transport=tcp"
    answer = probe_answer([relay_check(first, "192.0.2.7"), relay_check(second, "192.0.2.8"),
                           relay_stream(first, "192.0.2.7"), relay_stream(second, "192.0.2.8", lossOut=0.5)],
                          per_url=True)

    assert answer.value("icegather_relay_loss_ratio", url=first, family="IPv4", direction="out") == 0.012
    assert answer.value("icegather_relay_loss_ratio", url=second, family="IPv4", direction="out") == 0.5
    assert answer.value("icegather_relay_rtt_seconds", url=second, family="IPv4", quantile="0.95") == 0.0555
    assert all("url" in dict(labels) for name, labels in answer.samples() if name.startswith("icegather_relay_"))


def quality_module(**options: object) -> dict:
    return {"modules": {"quality": {"quality_seconds": 5, **options}}}


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ({"quality_seconds": -1}, "module 'quality': quality_seconds must be a number from 0 to 600"),
        ({"quality_seconds": 601}, "module 'quality': quality_seconds must be a number from 0 to 600"),
        ({"quality_seconds": "5s"}, "module 'quality': quality_seconds must be a number from 0 to 600"),
        ({"quality_rate": 0}, "module 'quality': quality_rate must be a whole number from 1 to 1000"),
        ({"quality_rate": 2.5}, "module 'quality': quality_rate must be a whole number from 1 to 1000"),
        ({"quality_seconds": 0, "quality_rate": 100},
         "module 'quality': quality_rate needs quality_seconds, the stream's length"),
        ({"relay_check": False}, "module 'quality': quality_seconds needs relay_check: true"),
        ({"quality_seconds": 60, "quality_rate": 501},
         "module 'quality': quality_seconds x quality_rate must be at most 30,000 packets"),
        ({"ipv6_relay": False, "timeout": 7}, "module 'quality': its quality stream needs 7.5 s (5 s, 2 s for its "
         "last packets to come back, and 0.5 s to reach the relay first), more than its timeout of 7 s: raise timeout "
         "or lower quality_seconds"),
        ({"ipv6_relay": False, "relay_to_relay": True, "timeout": 7.5}, "module 'quality': its quality stream needs "
         "8 s (5 s, 2 s for its last packets to come back, and 1 s to reach the relay and the far relay first), more "
         "than its timeout of 7.5 s: raise timeout or lower quality_seconds"),
        # With ipv6_relay (the exporter's default) the IPv6 relay's stream follows the IPv4 relay's: a timeout
        # that holds one stream does not hold the two.
        ({"timeout": 14}, "module 'quality': its quality streams need 14.5 s (the IPv4 relay's and then the IPv6 "
         "relay's, each 5 s, 2 s for its last packets to come back, and 0.5 s to reach the relay first), more than "
         "its timeout of 14 s: raise timeout, lower quality_seconds or set ipv6_relay: false"),
        ({"relay_to_relay": True, "timeout": 14.9}, "module 'quality': its quality streams need 15 s (the IPv4 "
         "relay's and then the IPv6 relay's, each 5 s, 2 s for its last packets to come back, and 1 s to reach the "
         "relay and the far relay first), more than its timeout of 14.9 s: raise timeout, lower quality_seconds or "
         "set ipv6_relay: false"),
        ({"relay_to_relay": "yes"}, "module 'quality': relay_to_relay must be bool"),
        ({"quality_seconds": 0, "relay_to_relay": True},
         "module 'quality': relay_to_relay needs quality_seconds, the stream that takes that path"),
    ],
)
def test_a_quality_module_that_cannot_work_is_refused_with_one_line(module, message):
    with pytest.raises(BadInput) as refused:
        parse_config(quality_module(**module), {})

    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("ipv6_relay", "in_turn", "set_aside"),
    [(True, 2, 2 * (5 + 2)), (False, 1, 5 + 2)],  # the IPv6 relay's stream follows the IPv4 relay's
)
def test_a_quality_module_sets_aside_the_time_of_the_streams_one_attempt_runs_in_turn(
    ipv6_relay, in_turn, set_aside
):
    module = parse_config(quality_module(ipv6_relay=ipv6_relay), {}).modules["quality"]

    assert module.options.ipv6_relay is ipv6_relay
    assert streams_in_turn(module.options) == in_turn
    assert stream_seconds(module.options) == set_aside
    assert stream_needs(module.options) == set_aside + MIN_TIMEOUT
    assert schedule_seconds(module.options, 20) == 20 - set_aside
    assert f"; {set_aside} s set aside" in quality_text(module.options)  # what debug=true shows


@pytest.mark.parametrize(("ipv6_relay", "scrape_timeout", "left"), [(True, "20", 19.5 - 14), (False, "10", 9.5 - 7)])
def test_a_quality_modules_schedule_is_fitted_to_the_time_its_streams_leave(ipv6_relay, scrape_timeout, left):
    config = parse_config(quality_module(quality_rate=100, ipv6_relay=ipv6_relay, timeout=20), {})
    request = probe_request("target=stun:stun.example.invalid&module=quality", scrape_timeout, config, time.time())

    options = request.options(request.timeout)
    # The default schedule gives up within 80 % of what the streams leave.
    assert (options.quality_seconds, options.quality_rate, options.ipv6_relay) == (5, 100, ipv6_relay)
    assert options.schedule == fitted_schedule(RetransmissionSchedule(), left)
    assert options.schedule.give_up_after <= GIVE_UP_SHARE * left


@pytest.mark.parametrize(
    ("ipv6_relay", "scrape_timeout", "message"),
    [
        (False, "7.5", "module 'quality': its quality stream needs 7.5 s (5 s, 2 s for its last packets to come back, "
         "and 0.5 s to reach the relay first), more than the 7 s this scrape allows (its scrape timeout less 0.5 s): "
         "give the job a scrape_timeout of at least 8 s or lower quality_seconds"),
        # 10 s holds one stream (7.5 s) but not the two in turn.
        (True, "10", "module 'quality': its quality streams need 14.5 s (the IPv4 relay's and then the IPv6 relay's, "
         "each 5 s, 2 s for its last packets to come back, and 0.5 s to reach the relay first), more than the 9.5 s "
         "this scrape allows (its scrape timeout less 0.5 s): give the job a scrape_timeout of at least 15 s, lower "
         "quality_seconds or set ipv6_relay: false"),
    ],
)
def test_a_scrape_timeout_too_short_for_the_streams_is_refused_with_the_timeout_they_need(
    ipv6_relay, scrape_timeout, message
):
    config = parse_config(quality_module(ipv6_relay=ipv6_relay), {})

    with pytest.raises(BadProbe) as refused:
        probe_request("target=stun:stun.example.invalid&module=quality", scrape_timeout, config, time.time())

    assert (refused.value.status, refused.value.kind) == (400, "stream does not fit")
    assert str(refused.value) == message


def test_relay_to_relay_shares_the_time_the_streams_leave_between_the_two_allocations():
    config = parse_config(quality_module(relay_to_relay=True, timeout=20), {})
    request = probe_request("target=stun:stun.example.invalid&module=quality", None, config, time.time())

    options = request.options(request.timeout)
    # 20 s less two streams of 7 s leaves 6 s: the near allocation, then the far one, 3 s each.
    assert options.relay_to_relay and options.ipv6_relay
    assert options.schedule == fitted_schedule(RetransmissionSchedule(), 3)
    assert 2 * options.schedule.give_up_after <= GIVE_UP_SHARE * 6


# --- one series per relay URL and family ------------------------------------------------------------


def sample_lines(answer: Response) -> list[str]:
    """Each sample's name and labels, as written (without its value)."""
    return [line.rsplit(" ", 1)[0] for line in answer.body.splitlines() if not line.startswith("#")]


def test_two_relays_of_one_url_and_family_give_one_series_of_the_worse_stream():
    url = "turn:t.example"
    # Two local addresses allocated: two IPv4 relays of one URL, the second losing half its packets.
    answer = probe_answer([relay_check(url, "192.0.2.7", rtt_ms=0.5), relay_check(url, "192.0.2.8", rtt_ms=0.9),
                           relay_stream(url, "192.0.2.7", lossOut=0.0, rttP95Ms=90.0),
                           relay_stream(url, "192.0.2.8", lossOut=0.5)])

    assert [line for line, count in Counter(sample_lines(answer)).items() if count > 1] == []
    assert answer.value("icegather_relay_up", family="IPv4") == 1
    assert answer.value("icegather_relay_loss_ratio", family="IPv4", direction="out") == 0.5
    assert answer.value("icegather_relay_rtt_seconds", family="IPv4", quantile="0.95") == 0.0555  # the same stream's


def test_a_url_and_family_is_up_only_when_each_of_its_relays_carries_data():
    url = "turn:t.example"
    broken = {**relay_check(url, "192.0.2.8", rtt_ms=None), "outcome": "no data back"}
    answer = probe_answer([relay_check(url, "192.0.2.7", rtt_ms=0.5), broken, relay_check(url, "2001:db8::7")])

    assert [line for line, count in Counter(sample_lines(answer)).items() if count > 1] == []
    assert answer.value("icegather_relay_up", family="IPv4") == 0
    assert answer.value("icegather_relay_up", family="IPv6") == 1
    assert answer.value("icegather_relay_rtt_seconds", family="IPv4", quantile="0.5") == 0.0005


def test_a_stream_that_sent_nothing_is_the_worse_of_its_relays_and_is_exported_as_it_is():
    url = "turn:t.example"
    nothing = {"packetsOut": 0, "packetsBack": 0, "packetsOutReceived": 0, "packetsBackReceived": 0, "lossOut": None,
               "lossBack": None, "jitterOutMs": None, "jitterBackMs": None, "rttMinMs": None, "rttP50Ms": None,
               "rttP95Ms": None, "rttP99Ms": None, "cause": "no_response"}
    for order in ((nothing, {}), ({}, nothing)):
        records = [relay_check(url, "192.0.2.7"), relay_check(url, "192.0.2.8")]
        records += [relay_stream(url, relayed, **facts) for relayed, facts in zip(("192.0.2.7", "192.0.2.8"), order,
                                                                                  strict=True)]
        answer = probe_answer(records)
        assert answer.value("icegather_relay_packets", family="IPv4", direction="out", fate="sent") == 0


def test_a_worse_stream_is_one_that_stopped_then_lost_more_then_was_slower():
    url = "turn:t.example"
    fine = {"lossOut": 0.0, "lossBack": 0.0, "rttP95Ms": 10.0, "jitterOutMs": 1.0, "jitterBackMs": 1.0}
    cases = [
        ({**fine, "cause": "relay stream stopped"}, {**fine, "lossOut": 0.3}),  # stopped beats lossy
        ({**fine, "lossBack": 0.2}, {**fine, "lossOut": 0.1, "rttP95Ms": 900.0}),  # lossier beats slower
        ({**fine, "rttP95Ms": None}, {**fine, "rttP95Ms": 900.0}),  # nothing back is the slowest
        ({**fine, "jitterBackMs": 40.0}, fine),
    ]
    for worse, better in cases:
        for order in ((worse, better), (better, worse)):
            records = [relay_check(url, "192.0.2.7"), relay_check(url, "192.0.2.8")]
            records += [relay_stream(url, relayed, **facts) for relayed, facts in zip(("192.0.2.7", "192.0.2.8"),
                                                                                      order, strict=True)]
            answer = probe_answer(records)
            jitter = answer.value("icegather_relay_jitter_seconds", family="IPv4", direction="back")
            loss = answer.value("icegather_relay_loss_ratio", family="IPv4", direction="back")
            assert (loss, jitter) == (worse["lossBack"], worse["jitterBackMs"] / 1000), (worse, order)


def test_relay_to_relay_labels_a_file_targets_streams_with_the_far_relays_url():
    first, second = "turn:a.example", "turn:b.example?transport=tcp"
    answer = probe_answer([relay_check(first, "192.0.2.7"), relay_check(second, "192.0.2.8"),
                           relay_stream(first, "192.0.2.7", farUrl=second, farServerIndex=0,
                                        farRelayedAddress="192.0.2.8"),
                           relay_stream(second, "192.0.2.8", farUrl=first, farServerIndex=0,
                                        farRelayedAddress="192.0.2.7")],
                          per_url=True, relay_to_relay=True)

    assert answer.value("icegather_relay_loss_ratio", url=first, far_url=second, family="IPv4", direction="out") == (
        0.012
    )
    assert answer.value("icegather_relay_rtt_seconds", url=second, far_url=first, family="IPv4", quantile="0.5") == (
        0.041
    )
    assert answer.value("icegather_relay_up", url=first, family="IPv4") == 1  # the near relay's own: no far_url


# --- against a real coturn ---------------------------------------------------------------------------


def quality_exporter_config(directory, coturn, **module: object) -> dict:
    """A modules file with the module ``stream``: a 1 s stream through coturn's relays."""
    configurations = directory / "ice"
    configurations.mkdir(exist_ok=True)
    config = {"configurations": str(configurations),
              "modules": {"stream": {"quality_seconds": 1, "ipv6_relay": False, **module}}}
    (directory / "icegather.yml").write_text(json.dumps(config))
    return config


def test_a_url_that_allocated_from_two_loopback_addresses_gives_one_series_per_family(tmp_path, coturn):
    quality_exporter_config(tmp_path, coturn, local_addresses=["127.0.0.1", "127.0.0.2"])
    (tmp_path / "ice" / "coturn.json").write_text(json.dumps({"iceServers": [coturn.ice_server("turn")]}))
    with exporter_process(tmp_path / "icegather.yml", tmp_path / "exporter.log") as exporter:
        debug = exporter.get("/probe?target=file:coturn.json&module=stream&debug=true")
        answer = exporter.get("/probe?target=file:coturn.json&module=stream")

    url = coturn.url("turn")
    relay_checks = [line for line in debug.body.splitlines() if "relay check: works" in line]
    assert len(relay_checks) == 2  # one relay from each local address
    assert {"(local 127.0.0.1:", "(local 127.0.0.2:"} <= {line[line.index("(local"):][:17] for line in relay_checks}
    assert [line for line, count in Counter(sample_lines(answer)).items() if count > 1] == []
    assert answer.value("icegather_relay_up", url=url, family="IPv4") == 1
    assert answer.value("icegather_relay_loss_ratio", url=url, family="IPv4", direction="out") == 0
    assert answer.value("icegather_relay_packets", url=url, family="IPv4", direction="out", fate="sent") == 50


def test_relay_to_relay_streams_through_two_real_relays_and_names_each_pair(tmp_path, coturn):
    quality_exporter_config(tmp_path, coturn, local_addresses=["127.0.0.1"], relay_to_relay=True)
    udp, tcp = coturn.url("turn"), coturn.url("turn", "tcp")
    servers = [coturn.ice_server("turn"), coturn.ice_server("turn", "tcp")]
    (tmp_path / "ice" / "pair.json").write_text(json.dumps({"iceServers": servers}))
    with exporter_process(tmp_path / "icegather.yml", tmp_path / "exporter.log") as exporter:
        pair = exporter.get("/probe?target=file:pair.json&module=stream")
        (tmp_path / "ice" / "one.json").write_text(json.dumps({"iceServers": servers[:1]}))
        alone = exporter.get("/probe?target=file:one.json&module=stream")

    for near, far in ((udp, tcp), (tcp, udp)):
        labels = {"url": near, "far_url": far, "family": "IPv4"}
        assert pair.value("icegather_relay_packets", **labels, direction="out", fate="received") == 50
        assert pair.value("icegather_relay_loss_ratio", **labels, direction="back") == 0
        assert pair.value("icegather_relay_rtt_seconds", **labels, quantile="0.95") > 0
    assert pair.value("icegather_probe_success") == 1
    # One TURN URL: its far relay is a second allocation on the same URL.
    assert alone.value("icegather_relay_loss_ratio", url=udp, far_url=udp, family="IPv4", direction="out") == 0



@pytest.mark.timing
def test_a_dual_stack_servers_two_relays_stream_in_turn_within_the_time_the_module_sets_aside(tmp_path):
    # coturn relays on IPv4 and IPv6: with ipv6_relay, the IPv6 relay asked after the IPv4 one
    # streams after it. Behind a lossy proxy each stream waits its whole 2 s for lost packets
    # (on a clean path it ends with the last echo), so the two take over 6 s: more than a timeout
    # that holds one stream (1 + 2 + 0.5 s) with room to spare, as the module's has.
    streaming = GatherOptions(relay_check=True, ipv6_relay=True, quality_seconds=1)
    timeout = stream_needs(streaming) + 2
    with local_coturn(relay_ips=("127.0.0.1", "::1")) as dual_stack, lossy_proxy(dual_stack.port, 0.05) as port:
        quality_exporter_config(tmp_path, dual_stack, local_addresses=["127.0.0.1", "::1"], ipv6_relay=True,
                                timeout=timeout)
        server = {**dual_stack.ice_server("turn"), "urls": f"turn:127.0.0.1:{port}"}
        (tmp_path / "ice" / "dual.json").write_text(json.dumps({"iceServers": [server]}))
        with exporter_process(tmp_path / "icegather.yml", tmp_path / "exporter.log") as exporter:
            answer = exporter.get("/probe?target=file:dual.json&module=stream")

    assert timeout == 2 * (1 + 2) + 0.5 + 2
    assert answer.value("icegather_probe_info", verdict="timed out") is None
    for family in ("IPv4", "IPv6"):
        labels = {"url": server["urls"], "family": family}
        assert answer.value("icegather_relay_up", **labels) == 1
        assert answer.value("icegather_relay_packets", **labels, direction="out", fate="sent") == 50
        assert answer.value("icegather_relay_packets", **labels, direction="back", fate="received") > 0
