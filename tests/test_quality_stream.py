"""The quality stream through real relays, end to end: a real transport process gathers with
``quality_seconds`` against coturn (UDP, TCP, TLS; to the peer socket, relay to relay on one
server and across two), Pion TURN and node-turn, and a scripted relay that drops data after
the check. The reports are read as the main process gets them (``relay_quality`` messages),
through a real ``TransportClient``. Its sans-IO parts: tests/test_quality_stats.py."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from typing import Any

import pytest
from gathering_helpers import LOOPBACK
from local_coturn import local_coturn
from scripted_relays import Address, RelayBehaviour, ScriptedRelay

from icegather.main_proc.link.transport_client import TransportClient
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule
from icegather.shared.config.ice_config import parse_configuration
from icegather.shared.structs import RelayCheckInfo, RelayQualityInfo
from icegather.transport_proc.relay.check import PROBES_PER_KIND
from icegather.transport_proc.relay.quality_stats import FIELDS, PREFIX, TOKEN_BYTES

RATE, SECONDS = 50, 1.0
PACKETS = int(RATE * SECONDS)
# A schedule slower than LOOPBACK's: the relay check waits two initial RTOs for its probes, and
# a loaded machine (node-turn is a Node.js process) may take longer than LOOPBACK's 0.1 s.
STREAMING = dataclasses.replace(
    LOOPBACK, schedule=RetransmissionSchedule(0.25, 3, 2), relay_check=True, quality_seconds=SECONDS,
    quality_rate=RATE,
)
RELAY_TO_RELAY = dataclasses.replace(STREAMING, relay_to_relay=True)


class Heard:
    """What the transport reported for one gathering, in order, as (observer method, payload)."""

    def __init__(self, on_check: Any = None) -> None:
        self.reports: list[tuple[str, Any]] = []
        self.done = asyncio.Event()
        self.failure: str | None = None
        self._on_check = on_check

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("on_"):
            raise AttributeError(name)

        def hear(payload: Any) -> bool:
            self.reports.append((name, payload))
            if name == "on_relay_check" and self._on_check is not None:
                self._on_check()
            if name == "on_gathering_state" and payload == "complete":
                self.done.set()
            return True

        return hear

    def on_transport_failure(self, reason: str) -> None:
        self.failure = reason
        self.done.set()

    def of(self, name: str) -> list[Any]:
        return [payload for method, payload in self.reports if method == name]


def gather_reports(servers: list[dict], options: GatherOptions = STREAMING, on_check: Any = None) -> Heard:
    async def gather() -> Heard:
        heard = Heard(on_check)
        client = await TransportClient.start()
        try:
            client.gather(parse_configuration({"iceServers": servers}), options, heard)
            await asyncio.wait_for(heard.done.wait(), 60)
        finally:
            await client.aclose()
        assert heard.failure is None
        return heard

    return asyncio.run(gather())


def streams(servers: list[dict], options: GatherOptions = STREAMING) -> list[RelayQualityInfo]:
    return gather_reports(servers, options).of("on_relay_quality")


def assert_clean(stream: RelayQualityInfo, packets: int = PACKETS) -> None:
    """Nothing lost, every count as the rate asks, round trips and jitter there and in order."""
    assert abs(stream.packets_out - packets) <= 1
    assert stream.packets_out == stream.packets_out_received == stream.packets_back == stream.packets_back_received
    assert (stream.reordered, stream.duplicated, stream.cause, stream.error_text) == (0, 0, "", "")
    assert stream.rtt_min_ms is not None and stream.rtt_p50_ms is not None and stream.rtt_p99_ms is not None
    assert 0 < stream.rtt_min_ms <= stream.rtt_p50_ms <= (stream.rtt_p95_ms or 0) <= stream.rtt_p99_ms
    assert stream.jitter_out_ms is not None and stream.jitter_back_ms is not None
    assert sum(stream.series_sent) == stream.packets_out and not any(stream.series_lost)
    assert all(rtt > 0 for sent, rtt in zip(stream.series_sent, stream.series_rtt_ms, strict=True) if sent)


# --- to the peer socket --------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_clean_stream_through_coturn_loses_nothing_and_is_reported_after_its_check(coturn, transport):
    heard = gather_reports([coturn.ice_server("turn", transport)])
    [check] = heard.of("on_relay_check")
    [stream] = heard.of("on_relay_quality")

    assert_clean(stream)
    assert (stream.url, stream.transport, stream.mechanism) == (coturn.url("turn", transport), transport, "channel")
    assert (stream.relayed_address, stream.relayed_port) == (check.relayed_address, check.relayed_port)
    assert (stream.address, stream.port) == (check.address, check.port)
    assert (stream.far_url, stream.far_relayed_address, stream.far_relayed_port) == ("", "", 0)
    assert (stream.seconds, stream.rate, stream.payload_bytes) == (SECONDS, RATE, 160)
    assert (stream.series_interval_ms, len(stream.series_sent)) == (100.0, 10)
    methods = [method for method, _ in heard.reports]
    assert methods.index("on_relay_quality") == methods.index("on_relay_check") + 1


def test_a_stream_through_a_tls_connection_says_so(tls_coturn):
    options = dataclasses.replace(STREAMING, verify_tls=False, quality_seconds=0.5)  # the test's own CA
    [stream] = streams([tls_coturn.ice_server("turns")], options)

    assert_clean(stream, packets=25)
    assert stream.transport == "tls"


def test_no_stream_unless_asked_for(coturn):
    heard = gather_reports([coturn.ice_server()], dataclasses.replace(STREAMING, quality_seconds=0.0))

    assert len(heard.of("on_relay_check")) == 1 and heard.of("on_relay_quality") == []


def test_no_stream_through_a_relay_that_carries_nothing_back():
    with local_coturn(extra_args=["--external-ip=127.0.0.77/127.0.0.1"]) as turn:  # wrong_source
        heard = gather_reports([turn.ice_server()])

    assert len(heard.of("on_relay_check")) == 1 and heard.of("on_relay_quality") == []


class LossyRelay(ScriptedRelay):
    """A relay that passes the check's probes and then drops every fifth packet of a stream the
    client sends (sequence numbers 4, 9, 14, ...)."""

    def _channel_data(self, data: bytes, source: Address) -> None:
        payload = data[4:]
        if payload.startswith(PREFIX):
            _, seq, _ = FIELDS.unpack_from(payload, len(PREFIX) + TOKEN_BYTES)
            if seq % 5 == 4:
                return
        super()._channel_data(data, source)


def test_a_relay_that_drops_data_after_the_check_shows_the_loss_where_it_happened():
    with LossyRelay("p") as relay:
        heard = gather_reports([{"urls": relay.url(), "username": "u", "credential": "p"}])
    [check], [stream] = heard.of("on_relay_check"), heard.of("on_relay_quality")

    assert isinstance(check, RelayCheckInfo) and check.out_received == check.probes  # the check saw nothing wrong
    assert (stream.packets_out, stream.packets_out_received) == (PACKETS, PACKETS * 4 // 5)
    assert stream.packets_back == stream.packets_back_received == PACKETS * 4 // 5
    assert stream.series_sent == (5,) * 10 and stream.series_lost == (1,) * 10
    assert stream.cause == ""


def test_a_stream_refreshes_its_allocation_permission_and_channel_when_it_outlives_them():
    lifetimes = ["--max-allocate-lifetime=2", "--permission-lifetime=2", "--channel-lifetime=2"]
    with local_coturn(extra_args=lifetimes) as turn:
        [stream] = streams([turn.ice_server()], dataclasses.replace(STREAMING, quality_seconds=3.0, quality_rate=20))

    assert_clean(stream, packets=60)


def test_a_connection_lost_mid_stream_ends_the_stream_with_its_cause_and_the_facts_so_far():
    with local_coturn() as turn:
        options = dataclasses.replace(STREAMING, quality_seconds=5.0)
        heard = gather_reports([turn.ice_server("turn", "tcp")], options, on_check=turn.process.kill)

    [stream] = heard.of("on_relay_quality")
    # Whichever end notices first: the client's TCP connection closing, or the echo to the
    # relayed address meeting ICMP port unreachable, the relay's port closed with the server.
    assert stream.cause in ("connection_closed", "connection_reset", "connection_lost", "port_unreachable")
    assert stream.error_text != "" and stream.packets_out < 5 * RATE
    assert sum(stream.series_sent) == stream.packets_out


# --- relay to relay ------------------------------------------------------------------------


def test_relay_to_relay_on_one_server_is_a_second_allocation_there(coturn):
    [stream] = streams([coturn.ice_server()], RELAY_TO_RELAY)

    assert_clean(stream)
    assert stream.far_url == stream.url == coturn.url() and stream.far_server_index == 0
    assert stream.far_relayed_address == "127.0.0.1"
    assert stream.far_relayed_port not in (0, stream.relayed_port)


def test_relay_to_relay_across_two_servers_goes_from_each_to_the_next(coturn):
    with local_coturn() as other:
        found = streams([coturn.ice_server(), other.ice_server("turn", "tcp")], RELAY_TO_RELAY)

    by_url = {stream.url: stream for stream in found}
    assert set(by_url) == {coturn.url(), other.url("turn", "tcp")}
    for stream in found:
        assert_clean(stream)
    assert (by_url[coturn.url()].far_url, by_url[coturn.url()].far_server_index) == (other.url("turn", "tcp"), 1)
    back = by_url[other.url("turn", "tcp")]
    assert (back.far_url, back.far_server_index, back.transport) == (coturn.url(), 0, "tcp")


def test_a_far_allocation_that_fails_is_the_streams_cause(coturn):
    servers = [coturn.ice_server(), coturn.ice_server("turn", "udp", password="wrong")]
    heard = gather_reports(servers, RELAY_TO_RELAY)

    [stream] = heard.of("on_relay_quality")
    assert (stream.url, stream.cause, stream.packets_out) == (coturn.url(), "signed_request_refused", 0)
    assert stream.error_text.startswith("the far allocation failed: ") and "wrong" not in stream.error_text
    # The far URL is named, and no far relay: the stream was never set up.
    assert (stream.far_url, stream.far_server_index, stream.far_relayed_address) == (
        coturn.url("turn", "udp"), 1, "")


def test_a_far_server_that_names_another_address_as_its_relay_gets_a_checks_worth_of_packets_there_and_no_stream(
    coturn,
):
    # A third party on this machine, which a hostile far server names as its relayed address.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as third_party:
        third_party.bind(("127.0.0.1", 0))
        third_party.settimeout(0.5)
        victim = third_party.getsockname()
        with ScriptedRelay("p", RelayBehaviour(advertised=victim)) as far:
            heard = gather_reports([coturn.ice_server(), {"urls": far.url(), "username": "u", "credential": "p"}],
                                   RELAY_TO_RELAY)
        arrived = 0  # of the stream's packets (the far URL's own relay check probes it too)
        with contextlib.suppress(TimeoutError):
            while True:
                arrived += third_party.recv(2048).startswith(PREFIX)

    [stream] = [s for s in heard.of("on_relay_quality") if s.url == coturn.url()]
    assert (stream.far_relayed_address, stream.far_relayed_port) == victim
    assert (stream.packets_out, stream.cause) == (0, "no_response") and "was not sent" in stream.error_text
    assert 0 < arrived <= PROBES_PER_KIND  # the first packets only, never the stream's 50


# --- servers that are not coturn -------------------------------------------------------------


@pytest.mark.peers
def test_pion_carries_a_stream_on_a_channel(pion):
    [stream] = streams([pion.ice_server()])

    assert_clean(stream)
    assert stream.mechanism == "channel"


@pytest.mark.peers
def test_node_turn_which_drops_the_clients_channel_data_carries_a_stream_in_indications(nodeturn):
    [stream] = streams([nodeturn.ice_server()])

    assert_clean(stream)
    assert stream.mechanism == "indication"



# --- the benchmark ---------------------------------------------------------------------------


@pytest.mark.slow
def test_the_concurrent_stream_benchmark_runs_in_quick_mode_and_reports_loss_and_cpu(capsys):
    import bench_quality

    assert bench_quality.main(["--quick"]) == 0
    printed = capsys.readouterr().out
    assert "10 streams x 50 packets/s for 1 s (500 packets/s each way): 10 reported" in printed
    assert "transport CPU" in printed and "highest under 0.1% loss:" in printed
