"""icegather's own events, beyond W3C: a server answered, a fact about a server, a relay check, a
traced transaction.
Named and shaped like the W3C ones (DOM attribute names, read-only, an init dictionary). Each
is an ``IceServerEvent``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from icegather.main_proc.dom.event_init import ReadOnly, init_dict, number, optional, optional_number, required
from icegather.main_proc.dom.event_target import Event


class IceServerEvent(Event):
    """What every event here names: the server ``url``, its ``serverIndex`` (the index in
    ``iceServers`` of the URL's entry) and the local socket (``address``, ``port``) that talked
    to the server."""

    address: ReadOnly[str | None] = ReadOnly()
    port: ReadOnly[int | None] = ReadOnly()
    url: ReadOnly[str] = ReadOnly()
    serverIndex: ReadOnly[int | None] = ReadOnly()

    def __init__(self, type: str, eventInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: A002, N803
        super().__init__(type, eventInitDict)
        init = init_dict(eventInitDict)
        self._address = optional(init.get("address"), str, "address")
        self._port = optional(init.get("port"), int, "port")
        self._url = required(init.get("url", ""), str, "url")
        self._serverIndex = optional(init.get("serverIndex"), int, "serverIndex")


class IceServerAnswerEvent(IceServerEvent):
    """``iceserveranswer``: a STUN/TURN server URL answered a request. Not W3C: icegather's own,
    for diagnosis (which servers are reachable, and their round-trip time ``rttMs``)."""

    rttMs: ReadOnly[float] = ReadOnly()
    serverAddress: ReadOnly[str | None] = ReadOnly()

    def __init__(self, type: str, eventInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: A002, N803
        super().__init__(type, eventInitDict)
        init = init_dict(eventInitDict)
        self._rttMs = number(init.get("rttMs", 0.0), "rttMs")
        self._serverAddress = optional(init.get("serverAddress"), str, "serverAddress")


class IceServerNoteEvent(IceServerEvent):
    """``iceservernote``: a fact about a server that no browser event shows (``note``, one of
    ``shared.vocabulary.server_notes``, and its ``detail``): the software it names, how it took a request
    icegather makes beyond a browser. Not W3C: icegather's own."""

    note: ReadOnly[str] = ReadOnly()
    detail: ReadOnly[str] = ReadOnly()

    def __init__(self, type: str, eventInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: A002, N803
        super().__init__(type, eventInitDict)
        init = init_dict(eventInitDict)
        self._note = required(init.get("note", ""), str, "note")
        self._detail = required(init.get("detail", ""), str, "detail")


class IceRelayCheckEvent(IceServerEvent):
    """``icerelaycheck``: what the relay check found for one relayed address. Not W3C:
    icegather's own. ``outcome`` names the result (``shared.vocabulary.relay_outcomes``); the other
    attributes are the facts behind it (``shared.structs.RelayCheckInfo``, in DOM-style names)."""

    outcome: ReadOnly[str] = ReadOnly()
    relayedAddress: ReadOnly[str | None] = ReadOnly()
    relayedPort: ReadOnly[int | None] = ReadOnly()
    probes: ReadOnly[int] = ReadOnly()
    outReceived: ReadOnly[int] = ReadOnly()
    backReceived: ReadOnly[int] = ReadOnly()
    indicationProbes: ReadOnly[int] = ReadOnly()
    indicationOutReceived: ReadOnly[int] = ReadOnly()
    indicationBackReceived: ReadOnly[int] = ReadOnly()
    channelProbes: ReadOnly[int] = ReadOnly()
    channelOutReceived: ReadOnly[int] = ReadOnly()
    channelBackReceived: ReadOnly[int] = ReadOnly()
    strayProbes: ReadOnly[int] = ReadOnly()
    outSourceAddress: ReadOnly[str | None] = ReadOnly()
    outSourcePort: ReadOnly[int | None] = ReadOnly()
    rttMs: ReadOnly[float | None] = ReadOnly()
    backCause: ReadOnly[str | None] = ReadOnly()
    failedRequest: ReadOnly[str | None] = ReadOnly()
    errorCode: ReadOnly[int | None] = ReadOnly()
    errorCause: ReadOnly[str | None] = ReadOnly()
    errorText: ReadOnly[str | None] = ReadOnly()
    notCheckedReason: ReadOnly[str | None] = ReadOnly()

    def __init__(self, type: str, eventInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: A002, N803
        super().__init__(type, eventInitDict)
        init = init_dict(eventInitDict)
        self._outcome = required(init.get("outcome", ""), str, "outcome")
        self._relayedAddress = optional(init.get("relayedAddress"), str, "relayedAddress")
        self._relayedPort = optional(init.get("relayedPort"), int, "relayedPort")
        self._probes = required(init.get("probes", 0), int, "probes")
        self._outReceived = required(init.get("outReceived", 0), int, "outReceived")
        self._backReceived = required(init.get("backReceived", 0), int, "backReceived")
        self._indicationProbes = required(init.get("indicationProbes", 0), int, "indicationProbes")
        self._indicationOutReceived = required(init.get("indicationOutReceived", 0), int, "indicationOutReceived")
        self._indicationBackReceived = required(init.get("indicationBackReceived", 0), int, "indicationBackReceived")
        self._channelProbes = required(init.get("channelProbes", 0), int, "channelProbes")
        self._channelOutReceived = required(init.get("channelOutReceived", 0), int, "channelOutReceived")
        self._channelBackReceived = required(init.get("channelBackReceived", 0), int, "channelBackReceived")
        self._strayProbes = required(init.get("strayProbes", 0), int, "strayProbes")
        self._outSourceAddress = optional(init.get("outSourceAddress"), str, "outSourceAddress")
        self._outSourcePort = optional(init.get("outSourcePort"), int, "outSourcePort")
        self._rttMs = optional_number(init.get("rttMs"), "rttMs")
        self._backCause = optional(init.get("backCause"), str, "backCause")
        self._failedRequest = optional(init.get("failedRequest"), str, "failedRequest")
        self._errorCode = optional(init.get("errorCode"), int, "errorCode")
        self._errorCause = optional(init.get("errorCause"), str, "errorCause")
        self._errorText = optional(init.get("errorText"), str, "errorText")
        self._notCheckedReason = optional(init.get("notCheckedReason"), str, "notCheckedReason")


class IceTransactionEvent(IceServerEvent):
    """``icetransaction``: one STUN/TURN transaction of the gathering, with
    ``GatherOptions(trace=True)``. Not W3C: icegather's own, what a timeline draws. Times are
    milliseconds since the gathering started; ``sendsMs`` has one entry per send (attempt 1 is
    the first)."""

    serverAddress: ReadOnly[str | None] = ReadOnly()
    serverPort: ReadOnly[int | None] = ReadOnly()
    method: ReadOnly[str] = ReadOnly()
    sendsMs: ReadOnly[tuple[float, ...]] = ReadOnly()
    endedMs: ReadOnly[float] = ReadOnly()
    outcome: ReadOnly[str] = ReadOnly()
    errorCode: ReadOnly[int | None] = ReadOnly()
    cause: ReadOnly[str | None] = ReadOnly()
    rttMs: ReadOnly[float | None] = ReadOnly()

    def __init__(self, type: str, eventInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: A002, N803
        super().__init__(type, eventInitDict)
        init = init_dict(eventInitDict)
        self._serverAddress = optional(init.get("serverAddress"), str, "serverAddress")
        self._serverPort = optional(init.get("serverPort"), int, "serverPort")
        self._method = required(init.get("method", ""), str, "method")
        self._sendsMs = tuple(number(sent, "sendsMs") for sent in init.get("sendsMs", ()))
        self._endedMs = number(init.get("endedMs", 0.0), "endedMs")
        self._outcome = required(init.get("outcome", ""), str, "outcome")
        self._errorCode = optional(init.get("errorCode"), int, "errorCode")
        self._cause = optional(init.get("cause"), str, "cause")
        self._rttMs = optional_number(init.get("rttMs"), "rttMs")


