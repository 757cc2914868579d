"""A DOM-like event model: ``Event``, ``EventTarget``, the two WebRTC ICE events and icegather's own.

The names are the DOM's own (``addEventListener``, ``errorCode``, ...), so that code and
knowledge move between a browser and this package unchanged. What the DOM defines behaves as
the DOM specifies it for a target without parents:

* listeners run synchronously, in the order they were added, each (type, callback, capture)
  at most once; a listener added during dispatch does not run in that dispatch, a removed one
  does not run any more; ``once`` listeners are removed before they run;
* an exception in a listener is reported (logged) and the other listeners still run;
* ``on<type>`` handler attributes are listeners too: the first assignment adds one, later
  assignments replace its callback in place, ``None`` removes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from icegather.main_proc.ice_candidate import RTCIceCandidate
from icegather.shared.dom_exception import invalid_state_error

logger = logging.getLogger(__name__)

_TIME_ORIGIN = time.monotonic()

Listener = Callable[["Event"], Any]
T = TypeVar("T")
E = TypeVar("E", bound="Event")


_NO_INIT: Mapping[str, Any] = {}


def _is_mapping(value: Any) -> bool:
    return value.__class__ is dict or isinstance(value, Mapping)  # dict first: the usual, fast case


def _mapping(event_init: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """An ``EventInit`` dictionary, checked; None stands for an empty one."""
    if event_init is None:
        return _NO_INIT
    if not _is_mapping(event_init):
        raise TypeError("the event init must be a dictionary")
    return event_init


class Event:
    NONE, CAPTURING_PHASE, AT_TARGET, BUBBLING_PHASE = 0, 1, 2, 3

    def __init__(self, type: str, eventInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: A002, N803
        if not isinstance(type, str):
            raise TypeError("the event type must be a string")
        init = _mapping(eventInitDict)
        self._type = type
        self._bubbles = bool(init.get("bubbles", False))
        self._cancelable = bool(init.get("cancelable", False))
        self._composed = bool(init.get("composed", False))
        self._target: EventTarget | None = None
        self._current_target: EventTarget | None = None
        self._phase = Event.NONE
        self._canceled = False
        self._stop = False
        self._stop_immediate = False
        self._dispatching = False
        self._trusted = False
        self._time_stamp = (time.monotonic() - _TIME_ORIGIN) * 1000

    @property
    def type(self) -> str:
        return self._type

    @property
    def bubbles(self) -> bool:
        return self._bubbles

    @property
    def cancelable(self) -> bool:
        return self._cancelable

    @property
    def composed(self) -> bool:
        return self._composed

    @property
    def target(self) -> EventTarget | None:
        return self._target

    @property
    def currentTarget(self) -> EventTarget | None:
        return self._current_target

    @property
    def eventPhase(self) -> int:
        return self._phase

    @property
    def defaultPrevented(self) -> bool:
        return self._canceled

    @property
    def isTrusted(self) -> bool:
        return self._trusted

    @property
    def timeStamp(self) -> float:
        return self._time_stamp


    def preventDefault(self) -> None:
        if self._cancelable:
            self._canceled = True

    def stopPropagation(self) -> None:
        self._stop = True

    def stopImmediatePropagation(self) -> None:
        self._stop = self._stop_immediate = True

    def composedPath(self) -> list[EventTarget]:
        return [self._current_target] if self._current_target is not None else []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} type={self._type!r}>"


@dataclass(eq=False)
class _Registration:
    callback: Any
    capture: bool
    once: bool
    removed: bool = False


class EventTarget:
    def __init__(self) -> None:
        self._listeners: dict[str, list[_Registration]] = {}
        self._event_handlers: dict[str, Callable[[Any], Any]] = {}
        # One stable listener per handler type, so that replacing a handler keeps its position.
        self._handler_listeners: dict[str, Listener] = {}

    def addEventListener(self, type: str, callback: Any, options: bool | Mapping[str, Any] | None = None) -> None:  # noqa: A002
        if callback is None:
            return
        if not callable(callback) and not callable(getattr(callback, "handleEvent", None)):
            raise TypeError("a listener must be callable or have a handleEvent method")
        capture, once = _flags(options)
        registrations = self._listeners.setdefault(type, [])
        if any(r.callback is callback and r.capture == capture for r in registrations):
            return
        registrations.append(_Registration(callback, capture, once))

    def removeEventListener(self, type: str, callback: Any, options: bool | Mapping[str, Any] | None = None) -> None:  # noqa: A002
        capture, _ = _flags(options)
        registrations = self._listeners.get(type, [])
        for registration in registrations:
            if registration.callback is callback and registration.capture == capture:
                registration.removed = True
                registrations.remove(registration)
                return

    def dispatchEvent(self, event: Event) -> bool:
        """Dispatch a user-created event (``isTrusted`` stays False)."""
        if not isinstance(event, Event):
            raise TypeError("dispatchEvent takes an Event")
        return self._dispatch(event, trusted=False)

    def _fire(self, event: Event) -> bool:
        """Dispatch an event that this object itself fires (``isTrusted`` True, as in browsers)."""
        return self._dispatch(event, trusted=True)

    def _dispatch(self, event: Event, trusted: bool) -> bool:
        if event._dispatching:
            raise invalid_state_error("the event is already being dispatched")
        event._dispatching, event._trusted = True, trusted
        event._target = event._current_target = self
        event._phase = Event.AT_TARGET
        event._stop = event._stop_immediate = False
        try:
            for registration in list(self._listeners.get(event.type, [])):
                if registration.removed:
                    continue
                if registration.once:
                    self.removeEventListener(event.type, registration.callback, registration.capture)
                self._invoke(registration.callback, event)
                if event._stop_immediate:
                    break
        finally:
            event._dispatching = False
            event._current_target = None
            event._phase = Event.NONE
        return not event.defaultPrevented

    @staticmethod
    def _invoke(callback: Any, event: Event) -> None:
        try:
            if callable(callback):
                callback(event)
            else:
                callback.handleEvent(event)
        except Exception:
            # DOM "report the exception": the dispatch goes on with the next listener.
            logger.exception("uncaught exception in a %r listener", event.type)

    def _set_event_handler(self, type: str, handler: Callable[[Any], Any] | None) -> None:  # noqa: A002
        if handler is not None and not callable(handler):
            raise TypeError(f"on{type} must be callable or None")
        had = type in self._event_handlers
        if handler is None:
            if had:
                del self._event_handlers[type]
                self.removeEventListener(type, self._handler_listener(type))
            return
        self._event_handlers[type] = handler
        if not had:
            self.addEventListener(type, self._handler_listener(type))

    def _handler_listener(self, type: str) -> Listener:  # noqa: A002
        if type not in self._handler_listeners:
            self._handler_listeners[type] = lambda event: self._event_handlers[type](event)
        return self._handler_listeners[type]


class EventHandler(Generic[E]):
    """The ``on<type>`` attribute of an ``EventTarget`` subclass (HTML "event handler IDL
    attribute"), typed by the event it receives: ``EventHandler[RTCPeerConnectionIceErrorEvent]``
    takes a callable of that event, so a type checker sees ``event.errorCode`` as an int."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.type = name.removeprefix("on")

    @overload
    def __get__(self, target: None, owner: type | None = None) -> EventHandler[E]: ...

    @overload
    def __get__(self, target: EventTarget, owner: type | None = None) -> Callable[[E], Any] | None: ...

    def __get__(
        self, target: EventTarget | None, owner: type | None = None
    ) -> EventHandler[E] | Callable[[E], Any] | None:
        if target is None:
            return self
        return target._event_handlers.get(self.type)

    def __set__(self, target: EventTarget, handler: Callable[[E], Any] | None) -> None:
        target._set_event_handler(self.type, handler)


def _flags(options: bool | Mapping[str, Any] | None) -> tuple[bool, bool]:
    if isinstance(options, Mapping):
        return bool(options.get("capture", False)), bool(options.get("once", False))
    return bool(options), False


class ReadOnly(Generic[T]):
    """A read-only attribute of an event (a DOM ``readonly attribute``): the constructor sets it
    once from the init dictionary, in ``_<name>``; assigning to it raises, as in strict-mode
    JavaScript. ``errorCode: ReadOnly[int] = ReadOnly()`` reads as an ``int`` to a type checker."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.slot = f"_{name}"

    @overload
    def __get__(self, event: None, owner: type | None = None) -> ReadOnly[T]: ...

    @overload
    def __get__(self, event: Event, owner: type | None = None) -> T: ...

    def __get__(self, event: Event | None, owner: type | None = None) -> ReadOnly[T] | T:
        if event is None:
            return self
        value: T = getattr(event, self.slot)
        return value

    def __set__(self, event: Event, value: T) -> None:
        raise AttributeError(f"{type(event).__name__}.{self.name} is read-only")


class RTCPeerConnectionIceEvent(Event):
    """``icecandidate``: a gathered candidate, or ``candidate`` None when gathering is over."""

    candidate: ReadOnly[RTCIceCandidate | None] = ReadOnly()
    url: ReadOnly[str | None] = ReadOnly()

    def __init__(self, type: str, eventInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: A002, N803
        super().__init__(type, eventInitDict)
        init = _mapping(eventInitDict)
        self._candidate: RTCIceCandidate | None = init.get("candidate")
        self._url: str | None = init.get("url")


class RTCPeerConnectionIceErrorEvent(Event):
    """``icecandidateerror``: one STUN/TURN server URL failed (W3C webrtc-pc section 4.8.3).

    ``errorCode`` is required, as in browsers; ``address`` and ``port`` default to None,
    ``url`` and ``errorText`` to "". ``port`` is None whenever ``address`` is. ``errorCause``
    is icegather's own: why the URL failed, as data (``shared.failure_causes``; None when not
    known, as for an event built by user code).
    """

    address: ReadOnly[str | None] = ReadOnly()
    port: ReadOnly[int | None] = ReadOnly()
    url: ReadOnly[str] = ReadOnly()
    errorCode: ReadOnly[int] = ReadOnly()
    errorText: ReadOnly[str] = ReadOnly()
    errorCause: ReadOnly[str | None] = ReadOnly()

    def __init__(self, type: str, eventInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: A002, N803
        init = _mapping(eventInitDict)
        if "errorCode" not in init:
            raise TypeError("RTCPeerConnectionIceErrorEvent needs an init dictionary with errorCode")
        super().__init__(type, init)
        self._address = _optional(init.get("address"), str, "address")
        self._port = _optional(init.get("port"), int, "port")
        self._url = _required(init.get("url", ""), str, "url")
        self._errorCode = _required(init["errorCode"], int, "errorCode")
        self._errorText = _required(init.get("errorText", ""), str, "errorText")
        self._errorCause = _optional(init.get("errorCause"), str, "errorCause")
        if self._port is not None and not 0 <= self._port <= 65535:
            raise TypeError("port must be an unsigned short (0-65535) or None")
        if not 0 <= self._errorCode <= 65535:
            raise TypeError("errorCode must be an unsigned short (0-65535)")

    def __repr__(self) -> str:
        return (
            f"<RTCPeerConnectionIceErrorEvent {self._errorCode} {self._errorText!r} url={self._url!r}"
            f" address={self._address!r} port={self._port!r}>"
        )


class IceServerAnswerEvent(Event):
    """``iceserveranswer``: a STUN/TURN server URL answered a request. Not W3C: icegather's own,
    for diagnosis (which servers are reachable, and their round-trip time ``rttMs``)."""

    address: ReadOnly[str | None] = ReadOnly()
    port: ReadOnly[int | None] = ReadOnly()
    url: ReadOnly[str] = ReadOnly()
    rttMs: ReadOnly[float] = ReadOnly()
    serverAddress: ReadOnly[str | None] = ReadOnly()

    def __init__(self, type: str, eventInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: A002, N803
        super().__init__(type, eventInitDict)
        init = _mapping(eventInitDict)
        self._address = _optional(init.get("address"), str, "address")
        self._port = _optional(init.get("port"), int, "port")
        self._url = _required(init.get("url", ""), str, "url")
        self._rttMs = _number(init.get("rttMs", 0.0), "rttMs")
        self._serverAddress = _optional(init.get("serverAddress"), str, "serverAddress")


class IceRelayCheckEvent(Event):
    """``icerelaycheck``: what the relay check found for one relayed address. Not W3C:
    icegather's own. ``outcome`` names the result (``shared.relay_outcomes``); the other
    attributes are the facts behind it (``shared.structs.RelayCheckInfo``, in DOM-style names)."""

    address: ReadOnly[str | None] = ReadOnly()
    port: ReadOnly[int | None] = ReadOnly()
    url: ReadOnly[str] = ReadOnly()
    outcome: ReadOnly[str] = ReadOnly()
    relayedAddress: ReadOnly[str | None] = ReadOnly()
    relayedPort: ReadOnly[int | None] = ReadOnly()
    probes: ReadOnly[int] = ReadOnly()
    outReceived: ReadOnly[int] = ReadOnly()
    backReceived: ReadOnly[int] = ReadOnly()
    outSourceAddress: ReadOnly[str | None] = ReadOnly()
    outSourcePort: ReadOnly[int | None] = ReadOnly()
    rttMs: ReadOnly[float | None] = ReadOnly()
    backCause: ReadOnly[str | None] = ReadOnly()
    failedRequest: ReadOnly[str | None] = ReadOnly()
    errorCode: ReadOnly[int | None] = ReadOnly()
    errorText: ReadOnly[str | None] = ReadOnly()

    def __init__(self, type: str, eventInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: A002, N803
        super().__init__(type, eventInitDict)
        init = _mapping(eventInitDict)
        self._address = _optional(init.get("address"), str, "address")
        self._port = _optional(init.get("port"), int, "port")
        self._url = _required(init.get("url", ""), str, "url")
        self._outcome = _required(init.get("outcome", ""), str, "outcome")
        self._relayedAddress = _optional(init.get("relayedAddress"), str, "relayedAddress")
        self._relayedPort = _optional(init.get("relayedPort"), int, "relayedPort")
        self._probes = _required(init.get("probes", 0), int, "probes")
        self._outReceived = _required(init.get("outReceived", 0), int, "outReceived")
        self._backReceived = _required(init.get("backReceived", 0), int, "backReceived")
        self._outSourceAddress = _optional(init.get("outSourceAddress"), str, "outSourceAddress")
        self._outSourcePort = _optional(init.get("outSourcePort"), int, "outSourcePort")
        self._rttMs = _optional_number(init.get("rttMs"), "rttMs")
        self._backCause = _optional(init.get("backCause"), str, "backCause")
        self._failedRequest = _optional(init.get("failedRequest"), str, "failedRequest")
        self._errorCode = _optional(init.get("errorCode"), int, "errorCode")
        self._errorText = _optional(init.get("errorText"), str, "errorText")


class IceTransactionEvent(Event):
    """``icetransaction``: one STUN/TURN transaction of the gathering, with
    ``GatherOptions(trace=True)``. Not W3C: icegather's own, what a timeline draws. Times are
    milliseconds since the gathering started; ``sendsMs`` has one entry per send (attempt 1 is
    the first)."""

    address: ReadOnly[str | None] = ReadOnly()
    port: ReadOnly[int | None] = ReadOnly()
    url: ReadOnly[str] = ReadOnly()
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
        init = _mapping(eventInitDict)
        self._address = _optional(init.get("address"), str, "address")
        self._port = _optional(init.get("port"), int, "port")
        self._url = _required(init.get("url", ""), str, "url")
        self._serverAddress = _optional(init.get("serverAddress"), str, "serverAddress")
        self._serverPort = _optional(init.get("serverPort"), int, "serverPort")
        self._method = _required(init.get("method", ""), str, "method")
        self._sendsMs = tuple(_number(sent, "sendsMs") for sent in init.get("sendsMs", ()))
        self._endedMs = _number(init.get("endedMs", 0.0), "endedMs")
        self._outcome = _required(init.get("outcome", ""), str, "outcome")
        self._errorCode = _optional(init.get("errorCode"), int, "errorCode")
        self._cause = _optional(init.get("cause"), str, "cause")
        self._rttMs = _optional_number(init.get("rttMs"), "rttMs")


def _required(value: object, kind: type[T], name: str) -> T:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {kind.__name__}, not {type(value).__name__}")
    return value


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    return float(value)


def _optional(value: object, kind: type[T], name: str) -> T | None:
    return None if value is None else _required(value, kind, name)


def _optional_number(value: object, name: str) -> float | None:
    return None if value is None else _number(value, name)
