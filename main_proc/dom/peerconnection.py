"""``RTCPeerConnection``: the gathering part of the W3C API, on top of a transport process.

``PeerConnectionObserver`` plays the part of Firefox's ``PeerConnectionObserver`` in
``PeerConnection.sys.mjs``: it receives what the transport reports for one peer connection
and turns it into DOM events. It is the one place where the transport's ``""`` address and
``0`` port become ``None`` (``error_event_init``).

Gathering starts with ``await pc.gather()`` (a browser starts it from ``setLocalDescription``;
there is no SDP here) and that call returns when gathering is complete or the connection is
closed. The events come in browser order: ``icegatheringstatechange`` ("gathering"), then
``icecandidate`` and ``icecandidateerror`` as they happen, then ``icegatheringstatechange``
("complete") and a last ``icecandidate`` whose ``candidate`` is None.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from icegather.main_proc.dom.event_target import Event, EventHandler, EventTarget
from icegather.main_proc.dom.ice_candidate import RTCIceCandidate
from icegather.main_proc.dom.ice_events import RTCPeerConnectionIceErrorEvent, RTCPeerConnectionIceEvent
from icegather.main_proc.dom.icegather_events import (
    IceNatTestEvent,
    IceRelayCheckEvent,
    IceRelayQualityEvent,
    IceServerAnswerEvent,
    IceServerNoteEvent,
    IceTransactionEvent,
)
from icegather.main_proc.link.transport_client import TransportClient
from icegather.main_proc.link.transport_error import TransportError
from icegather.main_proc.link.transport_supervisor import TransportSupervisor
from icegather.shared.config.dom_exception import invalid_state_error
from icegather.shared.config.gather_options import GatherOptions
from icegather.shared.config.ice_config import IceConfiguration, RTCConfiguration, parse_configuration
from icegather.shared.structs import (
    CandidateInfo,
    IceCandidateErrorInfo,
    NatTestInfo,
    RelayCheckInfo,
    RelayQualityInfo,
    ServerAnswerInfo,
    ServerNoteInfo,
    TransactionTraceInfo,
)
from icegather.shared.vocabulary.quality_thresholds import crossed
from icegather.shared.vocabulary.relay_outcomes import relay_outcome

# Candidates belong to one media section; the model has exactly one.
SDP_MID = "0"

# What the transport reports that becomes an ``IceServerEvent``.
ServerEventInfo = (
    ServerAnswerInfo | ServerNoteInfo | RelayCheckInfo | RelayQualityInfo | NatTestInfo | TransactionTraceInfo
)


def error_event_init(info: IceCandidateErrorInfo) -> dict[str, Any]:
    """The ``RTCPeerConnectionIceErrorEventInit`` for what the transport reported.

    The transport's ``""`` and ``0`` mean "no local socket talked to the server"; the DOM says
    ``null``, and so does this, for the port whenever the address is absent.
    """
    address = info.address if info.address != "" else None
    return {
        "address": address,
        "port": info.port if address is not None and info.port != 0 else None,
        "url": info.url,
        "errorCode": info.error_code,
        "errorText": info.error_text,
        "errorCause": info.cause,
        "serverIndex": info.server_index,
        "serverAddress": info.server_address or None,
    }


def server_event_init(info: ServerEventInfo) -> dict[str, Any]:
    """What the init of every ``IceServerEvent`` starts with: the local socket, the URL and the
    index of its entry."""
    return {"address": info.address, "port": info.port, "url": info.url, "serverIndex": info.server_index}


def relay_check_event_init(info: RelayCheckInfo) -> dict[str, Any]:
    """The ``icerelaycheck`` event's init: the facts in DOM-style names, ``""`` and ``0`` as
    ``None``, and the outcome they mean."""
    received = info.out_source_address != ""
    failed = info.failed_request != ""
    return {
        **server_event_init(info),
        "outcome": relay_outcome(info),
        "relayedAddress": info.relayed_address,
        "relayedPort": info.relayed_port,
        "probes": info.probes,
        "outReceived": info.out_received,
        "backReceived": info.back_received,
        "indicationProbes": info.indication_probes,
        "indicationOutReceived": info.indication_out_received,
        "indicationBackReceived": info.indication_back_received,
        "channelProbes": info.channel_probes,
        "channelOutReceived": info.channel_out_received,
        "channelBackReceived": info.channel_back_received,
        "strayProbes": info.stray_probes,
        "outSourceAddress": info.out_source_address if received else None,
        "outSourcePort": info.out_source_port if received else None,
        "rttMs": info.rtt_ms,
        "backCause": info.back_cause or None,
        "failedRequest": info.failed_request if failed else None,
        "errorCode": info.error_code if failed else None,
        "errorCause": info.error_cause or None,
        "errorText": info.error_text or None,
        "notCheckedReason": info.not_checked_reason or None,
    }


def answer_event_init(info: ServerAnswerInfo) -> dict[str, Any]:
    return {
        **server_event_init(info),
        "rttMs": info.rtt_ms,
        "serverAddress": info.server_address,
        "serverPort": info.server_port or None,
        "mappedAddress": info.mapped_address or None,
        "mappedPort": info.mapped_port or None,
        "otherAddress": info.other_address or None,
        "otherPort": info.other_port or None,
    }


def nat_test_event_init(info: NatTestInfo) -> dict[str, Any]:
    return {
        **server_event_init(info),
        "test": info.test,
        "serverAddress": info.server_address or None,
        "serverPort": info.server_port or None,
        "answered": info.answered,
        "sourceAddress": info.source_address or None,
        "sourcePort": info.source_port or None,
        "mappedAddress": info.mapped_address or None,
        "mappedPort": info.mapped_port or None,
    }


def lost(sent: int, received: int) -> float | None:
    """The fraction of ``sent`` that did not arrive; None when nothing was sent."""
    return round(1 - received / sent, 4) if sent else None


def relay_quality_event_init(info: RelayQualityInfo) -> dict[str, Any]:
    """The ``icerelayquality`` event's init: the stream's facts in DOM-style names, ``""`` and
    ``0`` as ``None``, and what they mean: loss each way, the delay the relay added to the
    fastest round trip (over TCP and TLS, where a loss shows up as a retransmission's delay),
    and the thresholds crossed."""
    far = info.far_url != ""
    added = None if info.rtt_p95_ms is None or info.rtt_min_ms is None else info.rtt_p95_ms - info.rtt_min_ms
    init = {
        **server_event_init(info),
        "relayedAddress": info.relayed_address,
        "relayedPort": info.relayed_port,
        "farUrl": info.far_url if far else None,
        "farServerIndex": info.far_server_index if far else None,
        "farRelayedAddress": info.far_relayed_address or None,
        "farRelayedPort": info.far_relayed_port or None,
        "mechanism": info.mechanism,
        "transport": info.transport,
        "seconds": info.seconds,
        "rate": info.rate,
        "packetsOut": info.packets_out,
        "packetsBack": info.packets_back,
        "packetsOutReceived": info.packets_out_received,
        "packetsBackReceived": info.packets_back_received,
        "lossOut": lost(info.packets_out, info.packets_out_received),
        "lossBack": lost(info.packets_back, info.packets_back_received),
        "jitterOutMs": info.jitter_out_ms,
        "jitterBackMs": info.jitter_back_ms,
        "rttMinMs": info.rtt_min_ms,
        "rttP50Ms": info.rtt_p50_ms,
        "rttP95Ms": info.rtt_p95_ms,
        "rttP99Ms": info.rtt_p99_ms,
        "addedDelayMs": added,
        "reordered": info.reordered,
        "duplicated": info.duplicated,
        "cause": info.cause or None,
        "seriesIntervalMs": info.series_interval_ms,
        "seriesSent": info.series_sent,
        "seriesLost": info.series_lost,
        # An interval from which nothing came back has no round trip (the wire's 0).
        "seriesRttMs": tuple(None if sent == gone else rtt
                             for sent, gone, rtt in zip(info.series_sent, info.series_lost, info.series_rtt_ms,
                                                            strict=True)),
    }
    return {**init, "degraded": crossed(init)}


class PeerConnectionObserver:
    """Transport reports for one peer connection -> DOM events on it."""

    def __init__(self, pc: RTCPeerConnection) -> None:
        self._pc = pc

    def _fire_while_gathering(self, event: Event) -> bool:
        """Fire ``event`` on the peer connection if it is gathering; if not, the message makes
        no sense: False."""
        if not self._pc._is_gathering():
            return False
        self._pc._fire(event)
        return True

    def on_candidate(self, info: CandidateInfo) -> bool:
        candidate = RTCIceCandidate(
            {
                "candidate": info.candidate,
                "sdpMid": SDP_MID,
                "sdpMLineIndex": 0,
                "relayProtocol": info.relay_protocol or None,
                "url": info.url or None,
            }
        )
        server_index = info.server_index if info.url else None
        init = {"candidate": candidate, "url": info.url or None, "serverIndex": server_index}
        return self._fire_while_gathering(RTCPeerConnectionIceEvent("icecandidate", init))

    def on_candidate_error(self, info: IceCandidateErrorInfo) -> bool:
        # W3C: icecandidateerror fires only while the gathering state is "gathering".
        return self._fire_while_gathering(RTCPeerConnectionIceErrorEvent("icecandidateerror", error_event_init(info)))

    def on_server_answer(self, info: ServerAnswerInfo) -> bool:
        if not self._pc._is_gathering():
            return False
        if info.software:  # the first answer's SOFTWARE comes with it: its note goes first
            self.on_server_note(ServerNoteInfo(info.address, info.port, info.url, "software", info.software,
                                               info.server_index))
        # A listener of the note may have closed the connection: the answer then has nobody to
        # tell, and the message was in turn all the same.
        self._fire_while_gathering(IceServerAnswerEvent("iceserveranswer", answer_event_init(info)))
        return True

    def on_server_note(self, info: ServerNoteInfo) -> bool:
        init = {**server_event_init(info), "note": info.note, "detail": info.detail}
        return self._fire_while_gathering(IceServerNoteEvent("iceservernote", init))

    def on_relay_check(self, info: RelayCheckInfo) -> bool:
        return self._fire_while_gathering(IceRelayCheckEvent("icerelaycheck", relay_check_event_init(info)))

    def on_relay_quality(self, info: RelayQualityInfo) -> bool:
        return self._fire_while_gathering(IceRelayQualityEvent("icerelayquality", relay_quality_event_init(info)))

    def on_nat_test(self, info: NatTestInfo) -> bool:
        return self._fire_while_gathering(IceNatTestEvent("icenattest", nat_test_event_init(info)))

    def on_transaction(self, info: TransactionTraceInfo) -> bool:
        init = {
            **server_event_init(info),
            "serverAddress": info.server_address,
            "serverPort": info.server_port, "method": info.method, "sendsMs": info.sends_ms,
            "endedMs": info.ended_ms, "outcome": info.outcome, "errorCode": info.error_code or None,
            "cause": info.cause or None, "rttMs": info.rtt_ms,
        }
        return self._fire_while_gathering(IceTransactionEvent("icetransaction", init))

    def on_gathering_state(self, state: str) -> bool:
        return self._pc._gathering_state_changed(state)

    def on_gather_rejected(self, reason: str) -> bool:
        self._pc._gathering_failed(TransportError(f"the transport refused to gather: {reason}"))
        return True

    def on_transport_failure(self, reason: str) -> None:
        self._pc._gathering_failed(TransportError(reason))


class RTCPeerConnection(EventTarget):
    onicecandidate: EventHandler[RTCPeerConnectionIceEvent] = EventHandler()
    onicecandidateerror: EventHandler[RTCPeerConnectionIceErrorEvent] = EventHandler()
    onicegatheringstatechange: EventHandler[Event] = EventHandler()
    oniceserveranswer: EventHandler[IceServerAnswerEvent] = EventHandler()  # icegather's own
    oniceservernote: EventHandler[IceServerNoteEvent] = EventHandler()  # icegather's own
    onicerelaycheck: EventHandler[IceRelayCheckEvent] = EventHandler()  # icegather's own
    onicerelayquality: EventHandler[IceRelayQualityEvent] = EventHandler()  # icegather's own
    onicenattest: EventHandler[IceNatTestEvent] = EventHandler()  # icegather's own
    onicetransaction: EventHandler[IceTransactionEvent] = EventHandler()  # icegather's own

    def __init__(
        self,
        configuration: RTCConfiguration | None = None,
        *,
        transport: TransportClient | TransportSupervisor | None = None,
        options: GatherOptions | None = None,
    ) -> None:
        """``configuration`` is a browser-shaped ``RTCConfiguration``; a bad one raises what a
        browser raises. ``transport`` is a transport to share, or a supervisor that hands out
        a working one (a fresh process after a failure). Without it, the connection starts a
        transport process of its own when it gathers and stops it when it closes."""
        super().__init__()
        self._configuration: IceConfiguration = parse_configuration(configuration)
        self._supervisor = transport if isinstance(transport, TransportSupervisor) else None
        self._transport = transport if isinstance(transport, TransportClient) else None
        self._owns_transport = transport is None
        self._options = options or GatherOptions()
        self._gathering_state = "new"
        self._closed = False
        self._pc_id: int | None = None
        self._finished: asyncio.Future[None] | None = None

    @property
    def iceGatheringState(self) -> str:
        return self._gathering_state

    @property
    def transport(self) -> TransportClient | None:
        return self._transport

    def getConfiguration(self) -> dict[str, Any]:
        return self._configuration.to_dict()

    def setConfiguration(self, configuration: Mapping[str, Any]) -> None:
        """Validate and replace the configuration; a bad one raises and changes nothing."""
        if self._closed:
            raise invalid_state_error("the peer connection is closed")
        self._configuration = parse_configuration(configuration)

    async def gather(self) -> None:
        """Gather candidates; return when gathering is complete or the connection closed.

        Raises ``TransportError`` if the transport dies, refuses the request or does not finish
        within ``GatherOptions.gathering_deadline``, and ``DOMException``
        ``InvalidStateError`` if the connection is closed or already gathered.
        """
        if self._closed:
            raise invalid_state_error("the peer connection is closed")
        if self._finished is not None:
            raise invalid_state_error("gathering has already started")
        self._finished = asyncio.get_running_loop().create_future()
        if self._transport is None:
            if self._supervisor is not None:
                self._transport = await self._supervisor.client()
            else:
                self._transport = await TransportClient.start()
            if self._closed:  # closed while the transport was starting
                if self._owns_transport:
                    self._transport.close()
                return
        self._pc_id = self._transport.gather(self._configuration, self._options, PeerConnectionObserver(self))
        # A timer, not wait_for and shield: their futures and callbacks, for each of thousands
        # of concurrent gatherings, were most of what one costs the main process in memory.
        deadline = self._options.gathering_deadline
        timer = asyncio.get_running_loop().call_later(
            deadline, self._deadline_passed, self._transport, self._pc_id, deadline
        )
        try:
            await self._finished
        finally:
            timer.cancel()

    def _deadline_passed(self, transport: TransportClient, pc_id: int, deadline: float) -> None:
        if self._finished is not None and not self._finished.done():
            transport.stop(pc_id)
            self._finished.set_exception(
                TransportError(f"gathering did not complete within {deadline:g} s, the most it can take")
            )

    def close(self) -> None:
        """Stop gathering and release TURN allocations; no event fires after this. It does not
        wait: a transport process of the connection's own exits in the background once its
        allocations are released (``aclose`` waits for that)."""
        if self._closed:
            return
        self._closed = True
        if self._transport is not None:
            if self._pc_id is not None:
                self._transport.stop(self._pc_id)
            if self._owns_transport:
                self._transport.close()
        if self._finished is not None and not self._finished.done():
            self._finished.set_result(None)

    async def aclose(self) -> None:
        """``close()``, then wait until a transport process of the connection's own has
        released its allocations and exited."""
        owned = self._transport if self._owns_transport else None
        self.close()
        if owned is not None:
            await owned.aclose()

    async def __aenter__(self) -> RTCPeerConnection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- called by PeerConnectionObserver -------------------------------------------------

    def _is_gathering(self) -> bool:
        return not self._closed and self._gathering_state == "gathering"

    def _gathering_state_changed(self, state: str) -> bool:
        allowed = {"new": "gathering", "gathering": "complete"}
        if self._closed or allowed.get(self._gathering_state) != state:
            return False
        self._gathering_state = state
        self._fire(Event("icegatheringstatechange"))
        if state == "complete" and not self._closed:
            # End of candidates, after the state change (Chromium's order).
            self._fire(RTCPeerConnectionIceEvent("icecandidate", {"candidate": None}))
            if self._finished is not None and not self._finished.done():
                self._finished.set_result(None)
        return True

    def _gathering_failed(self, error: TransportError) -> None:
        if self._finished is not None and not self._finished.done():
            self._finished.set_exception(error)
