"""icegather's own events, beyond W3C: a server answered, a fact about a server, a relay check, a
relay's call-like stream, an RFC 5780 test of the NAT, a traced transaction.
Named and shaped like the W3C ones (DOM attribute names, read-only, an init dictionary). Each
is an ``IceServerEvent``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from icegather.main_proc.dom.event_init import ReadOnly, init_dict, number, optional, optional_number, required
from icegather.main_proc.dom.event_target import Event

# How an attribute is read from an init dictionary: (its value there or None, its name) -> value.
Reader = Callable[[object, str], object]


def read_attributes(event: Event, init: Mapping[str, Any], readers: Mapping[str, Reader]) -> None:
    """Set each attribute of ``readers`` from ``init``, checked by its reader."""
    for name, read in readers.items():
        setattr(event, f"_{name}", read(init.get(name), name))


def count(value: object, name: str) -> int:
    return required(0 if value is None else value, int, name)


def optional_int(value: object, name: str) -> int | None:
    return optional(value, int, name)


def optional_text(value: object, name: str) -> str | None:
    return optional(value, str, name)


def text(value: object, name: str) -> str:
    return required("" if value is None else value, str, name)


def flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be bool, not {type(value).__name__}")
    return value


def numbers(value: object, name: str) -> tuple[float | None, ...]:
    """A sequence of numbers, None standing for "none measured"."""
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a sequence of numbers")
    return tuple(optional_number(item, name) for item in value)


def counts(value: object, name: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a sequence of whole numbers")
    return tuple(required(item, int, name) for item in value)


def measure(value: object, name: str) -> float:
    return number(0.0 if value is None else value, name)


def texts(value: object, name: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a sequence of strings")
    return tuple(required(item, str, name) for item in value)


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
    # The server's port the answered request went to; a Binding success's mapped address and
    # RFC 5780 OTHER-ADDRESS (None when the answer had none).
    serverPort: ReadOnly[int | None] = ReadOnly()
    mappedAddress: ReadOnly[str | None] = ReadOnly()
    mappedPort: ReadOnly[int | None] = ReadOnly()
    otherAddress: ReadOnly[str | None] = ReadOnly()
    otherPort: ReadOnly[int | None] = ReadOnly()

    def __init__(self, type: str, eventInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: A002, N803
        super().__init__(type, eventInitDict)
        init = init_dict(eventInitDict)
        self._rttMs = number(init.get("rttMs", 0.0), "rttMs")
        self._serverAddress = optional(init.get("serverAddress"), str, "serverAddress")
        read_attributes(self, init, {"serverPort": optional_int, "mappedAddress": optional_text,
                                     "mappedPort": optional_int, "otherAddress": optional_text,
                                     "otherPort": optional_int})


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


class IceRelayQualityEvent(IceServerEvent):
    """``icerelayquality``: a call-like stream through one relay (``GatherOptions.quality_seconds``),
    to icegather's peer socket or, relay to relay, to a second allocation (``farUrl``). Not W3C:
    icegather's own. The facts of ``shared.structs.RelayQualityInfo`` in DOM-style names, with
    what they mean: the loss each way, the delay the relay adds, and the thresholds they cross
    (``degraded``, ``shared.vocabulary.quality_thresholds``). The series is per interval of
    ``seriesIntervalMs``: packets sent, lost, and their median round trip (None: none came back)."""

    relayedAddress: ReadOnly[str] = ReadOnly()
    relayedPort: ReadOnly[int] = ReadOnly()
    farUrl: ReadOnly[str | None] = ReadOnly()
    farServerIndex: ReadOnly[int | None] = ReadOnly()
    farRelayedAddress: ReadOnly[str | None] = ReadOnly()
    farRelayedPort: ReadOnly[int | None] = ReadOnly()
    mechanism: ReadOnly[str] = ReadOnly()
    transport: ReadOnly[str] = ReadOnly()
    seconds: ReadOnly[float] = ReadOnly()
    rate: ReadOnly[int] = ReadOnly()
    packetsOut: ReadOnly[int] = ReadOnly()
    packetsBack: ReadOnly[int] = ReadOnly()
    packetsOutReceived: ReadOnly[int] = ReadOnly()
    packetsBackReceived: ReadOnly[int] = ReadOnly()
    lossOut: ReadOnly[float | None] = ReadOnly()
    lossBack: ReadOnly[float | None] = ReadOnly()
    jitterOutMs: ReadOnly[float | None] = ReadOnly()
    jitterBackMs: ReadOnly[float | None] = ReadOnly()
    rttMinMs: ReadOnly[float | None] = ReadOnly()
    rttP50Ms: ReadOnly[float | None] = ReadOnly()
    rttP95Ms: ReadOnly[float | None] = ReadOnly()
    rttP99Ms: ReadOnly[float | None] = ReadOnly()
    addedDelayMs: ReadOnly[float | None] = ReadOnly()
    reordered: ReadOnly[int] = ReadOnly()
    duplicated: ReadOnly[int] = ReadOnly()
    degraded: ReadOnly[tuple[str, ...]] = ReadOnly()
    cause: ReadOnly[str | None] = ReadOnly()
    seriesIntervalMs: ReadOnly[float] = ReadOnly()
    seriesSent: ReadOnly[tuple[int, ...]] = ReadOnly()
    seriesLost: ReadOnly[tuple[int, ...]] = ReadOnly()
    seriesRttMs: ReadOnly[tuple[float | None, ...]] = ReadOnly()

    READERS: Mapping[str, Reader] = {
        "relayedAddress": text, "relayedPort": count, "farUrl": optional_text, "farServerIndex": optional_int,
        "farRelayedAddress": optional_text,
        "farRelayedPort": optional_int, "mechanism": text, "transport": text, "seconds": measure,
        "rate": count, "packetsOut": count, "packetsBack": count, "packetsOutReceived": count,
        "packetsBackReceived": count, "lossOut": optional_number, "lossBack": optional_number,
        "jitterOutMs": optional_number, "jitterBackMs": optional_number, "rttMinMs": optional_number,
        "rttP50Ms": optional_number, "rttP95Ms": optional_number, "rttP99Ms": optional_number,
        "addedDelayMs": optional_number, "reordered": count, "duplicated": count, "degraded": texts,
        "cause": optional_text, "seriesIntervalMs": measure, "seriesSent": counts, "seriesLost": counts,
        "seriesRttMs": numbers,
    }

    def __init__(self, type: str, eventInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: A002, N803
        super().__init__(type, eventInitDict)
        init = init_dict(eventInitDict)
        read_attributes(self, {"degraded": (), "seriesSent": (), "seriesLost": (), "seriesRttMs": (), **init},
                        self.READERS)


class IceNatTestEvent(IceServerEvent):
    """``icenattest``: one RFC 5780 test of the NAT in front of a host socket
    (``GatherOptions.nat_behaviour``): which ``test``, where the request went, whether and from
    where it was answered, and the mapped address in the answer (None when none). Not W3C:
    icegather's own; ``main_proc.diagnosis.addresses.nat_behaviour`` says what the tests mean."""

    test: ReadOnly[str] = ReadOnly()
    serverAddress: ReadOnly[str | None] = ReadOnly()
    serverPort: ReadOnly[int | None] = ReadOnly()
    answered: ReadOnly[bool] = ReadOnly()
    sourceAddress: ReadOnly[str | None] = ReadOnly()
    sourcePort: ReadOnly[int | None] = ReadOnly()
    mappedAddress: ReadOnly[str | None] = ReadOnly()
    mappedPort: ReadOnly[int | None] = ReadOnly()

    READERS: Mapping[str, Reader] = {
        "test": text, "serverAddress": optional_text, "serverPort": optional_int, "answered": flag,
        "sourceAddress": optional_text, "sourcePort": optional_int, "mappedAddress": optional_text,
        "mappedPort": optional_int,
    }

    def __init__(self, type: str, eventInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: A002, N803
        super().__init__(type, eventInitDict)
        read_attributes(self, {"answered": False, **init_dict(eventInitDict)}, self.READERS)


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


