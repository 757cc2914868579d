"""The DOM-like event model, the synthetic error event, and the "" / 0 -> None mapping."""

from __future__ import annotations

import logging

import pytest

from icegather.main_proc.dom.event_target import Event, EventHandler, EventTarget
from icegather.main_proc.dom.ice_candidate import RTCIceCandidate
from icegather.main_proc.dom.ice_events import RTCPeerConnectionIceErrorEvent, RTCPeerConnectionIceEvent
from icegather.main_proc.dom.icegather_events import IceRelayCheckEvent, IceServerAnswerEvent
from icegather.main_proc.dom.peerconnection import RTCPeerConnection, error_event_init
from icegather.shared.config.dom_exception import DOMException
from icegather.shared.structs import IceCandidateErrorInfo


class Target(EventTarget):
    onping = EventHandler()


def test_synthetic_error_event_needs_error_code_like_in_browsers():
    with pytest.raises(TypeError):
        RTCPeerConnectionIceErrorEvent("icecandidateerror")
    with pytest.raises(TypeError):
        RTCPeerConnectionIceErrorEvent("icecandidateerror", {"url": "stun:x"})


def test_synthetic_error_event_defaults_and_flags_match_the_spec():
    event = RTCPeerConnectionIceErrorEvent("icecandidateerror", {"errorCode": 701})
    assert (event.address, event.port, event.url, event.errorCode, event.errorText) == (None, None, "", 701, "")
    assert event.bubbles is False and event.cancelable is False
    assert event.type == "icecandidateerror" and event.isTrusted is False


def test_synthetic_error_event_keeps_every_given_field_and_can_be_dispatched():
    target = Target()
    received = []
    target.addEventListener("icecandidateerror", received.append)
    event = RTCPeerConnectionIceErrorEvent(
        "icecandidateerror",
        {"address": "192.0.2.2", "port": 5000, "url": "turn:t.example", "errorCode": 401, "errorText": "Unauthorized"},
    )
    assert target.dispatchEvent(event) is True
    assert received == [event]
    assert (event.address, event.port, event.url, event.errorCode, event.errorText) == (
        "192.0.2.2", 5000, "turn:t.example", 401, "Unauthorized",
    )
    assert event.target is target and event.currentTarget is None  # reset after dispatch


def test_synthetic_error_event_rejects_values_of_the_wrong_type():
    for bad in ({"errorCode": "701"}, {"errorCode": 701, "port": "80"}, {"errorCode": 701, "port": 70000},
                {"errorCode": 701, "address": 3}):
        with pytest.raises(TypeError):
            RTCPeerConnectionIceErrorEvent("icecandidateerror", bad)


@pytest.mark.parametrize(
    "info, address, port",
    [
        (IceCandidateErrorInfo("192.0.2.2", 5000, "stun:s.example", 701, "timeout", "no_response"), "192.0.2.2", 5000),
        (IceCandidateErrorInfo("", 0, "stun:s.invalid", 701, "host lookup failed", "dns"), None, None),
        (IceCandidateErrorInfo("::1", 443, "turns:[::1]", 701, "TLS", "tls_failed"), "::1", 443),
    ],
)
def test_empty_address_and_zero_port_become_none_and_nothing_else_changes(info, address, port):
    init = error_event_init(info)
    assert init == {"address": address, "port": port, "url": info.url, "errorCode": info.error_code,
                    "errorText": info.error_text, "errorCause": info.cause, "serverIndex": 0, "serverAddress": None}
    event = RTCPeerConnectionIceErrorEvent("icecandidateerror", init)
    assert (event.address, event.port, event.errorCause) == (address, port, info.cause)


def test_listeners_run_in_order_once_each_and_survive_an_exception_in_one(caplog):
    target = Target()
    calls = []

    def broken(event):
        calls.append("broken")
        raise RuntimeError("listener bug")

    def second(event):
        calls.append("second")

    target.addEventListener("ping", broken)
    target.addEventListener("ping", second)
    target.addEventListener("ping", second)  # the same listener twice is one listener
    with caplog.at_level(logging.ERROR):
        target.dispatchEvent(Event("ping"))
    assert calls == ["broken", "second"]
    assert "listener bug" in caplog.text


def test_once_listeners_and_removed_listeners_do_not_run_again():
    target = Target()
    calls = []
    target.addEventListener("ping", lambda e: calls.append("once"), {"once": True})
    listener = lambda e: calls.append("removed")  # noqa: E731
    target.addEventListener("ping", listener)
    target.dispatchEvent(Event("ping"))
    target.removeEventListener("ping", listener)
    target.dispatchEvent(Event("ping"))
    assert calls == ["once", "removed"]


def test_listener_added_during_dispatch_waits_for_the_next_dispatch():
    target = Target()
    calls = []

    def adder(event):
        calls.append("adder")
        target.addEventListener("ping", lambda e: calls.append("late"))

    target.addEventListener("ping", adder)
    target.dispatchEvent(Event("ping"))
    assert calls == ["adder"]
    target.dispatchEvent(Event("ping"))
    assert calls == ["adder", "adder", "late"]


def test_stop_immediate_propagation_skips_the_remaining_listeners():
    target = Target()
    calls = []
    target.addEventListener("ping", lambda e: (calls.append(1), e.stopImmediatePropagation()))
    target.addEventListener("ping", lambda e: calls.append(2))
    target.dispatchEvent(Event("ping"))
    assert calls == [1]


def test_handler_attribute_keeps_its_position_when_replaced_and_goes_away_with_none():
    target = Target()
    calls = []
    target.onping = lambda e: calls.append("handler-1")
    target.addEventListener("ping", lambda e: calls.append("listener"))
    target.onping = lambda e: calls.append("handler-2")
    target.dispatchEvent(Event("ping"))
    assert calls == ["handler-2", "listener"]
    target.onping = None
    assert target.onping is None
    target.dispatchEvent(Event("ping"))
    assert calls == ["handler-2", "listener", "listener"]


def test_redispatching_an_event_during_its_dispatch_is_an_invalid_state_error():
    target = Target()
    errors = []

    def redispatch(event):
        try:
            target.dispatchEvent(event)
        except DOMException as exc:
            errors.append(exc.name)

    target.addEventListener("ping", redispatch)
    target.dispatchEvent(Event("ping"))
    assert errors == ["InvalidStateError"]


def test_cancelable_events_record_prevent_default_and_others_ignore_it():
    target = Target()
    target.addEventListener("ping", lambda e: e.preventDefault())
    assert target.dispatchEvent(Event("ping", {"cancelable": True})) is False
    assert target.dispatchEvent(Event("ping")) is True


def test_ice_event_carries_a_parsed_candidate_and_its_url():
    candidate = RTCIceCandidate({
        "candidate": "candidate:3 1 udp 16777215 203.0.113.9 61000 typ relay raddr 192.0.2.2 rport 50000",
        "sdpMid": "0", "relayProtocol": "tls", "url": "turns:t.example",
    })
    event = RTCPeerConnectionIceEvent("icecandidate", {"candidate": candidate, "url": "turns:t.example"})
    assert (candidate.type, candidate.address, candidate.port) == ("relay", "203.0.113.9", 61000)
    assert candidate.protocol == "udp"
    assert (candidate.relatedAddress, candidate.relatedPort, candidate.component) == ("192.0.2.2", 50000, "rtp")
    assert candidate.relayProtocol == "tls" and event.url == "turns:t.example"
    assert candidate.toJSON()["candidate"] == candidate.candidate
    assert RTCPeerConnectionIceEvent("icecandidate").candidate is None


def test_ice_candidate_needs_sdp_mid_or_mline_index_and_tolerates_unparsable_text():
    with pytest.raises(TypeError):
        RTCIceCandidate({"candidate": ""})
    odd = RTCIceCandidate({"candidate": "candidate:not really", "sdpMLineIndex": 0})
    assert odd.candidate == "candidate:not really" and odd.address is None


def test_peer_connection_exposes_handlers_state_and_a_configuration_that_bad_input_cannot_change():
    pc = RTCPeerConnection({"iceServers": [{"urls": "stun:stun.example.org"}]})
    assert pc.iceGatheringState == "new"
    for name in ("onicecandidate", "onicecandidateerror", "onicegatheringstatechange"):
        assert getattr(pc, name) is None
    with pytest.raises(DOMException) as caught:
        pc.setConfiguration({"iceServers": [{"urls": "turn:t.example"}]})
    assert caught.value.name == "InvalidAccessError"
    assert pc.getConfiguration()["iceServers"] == [{"urls": ["stun:stun.example.org"]}]
    pc.close()
    with pytest.raises(DOMException):
        pc.setConfiguration({})


@pytest.mark.parametrize(
    ("event", "attribute"),
    [
        (RTCPeerConnectionIceErrorEvent("icecandidateerror", {"errorCode": 701}), "errorCode"),
        (RTCPeerConnectionIceEvent("icecandidate", {}), "candidate"),
        (IceServerAnswerEvent("iceserveranswer", {"url": "stun:s.example"}), "rttMs"),
        (IceRelayCheckEvent("icerelaycheck", {"outcome": "works"}), "outcome"),
    ],
)
def test_event_attributes_are_read_only_as_in_the_dom(event, attribute):
    before = getattr(event, attribute)
    with pytest.raises(AttributeError, match="read-only"):
        setattr(event, attribute, 5)
    assert getattr(event, attribute) == before
