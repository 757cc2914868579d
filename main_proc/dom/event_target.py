"""A DOM-like event model: ``Event`` and ``EventTarget``.

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

from icegather.main_proc.dom.event_init import ReadOnly, init_dict
from icegather.shared.config.dom_exception import invalid_state_error
from icegather.shared.shapes import is_mapping

logger = logging.getLogger(__name__)

_TIME_ORIGIN = time.monotonic()

Listener = Callable[["Event"], Any]
E = TypeVar("E", bound="Event")


class Event:
    NONE, CAPTURING_PHASE, AT_TARGET, BUBBLING_PHASE = 0, 1, 2, 3

    type: ReadOnly[str] = ReadOnly()
    bubbles: ReadOnly[bool] = ReadOnly()
    cancelable: ReadOnly[bool] = ReadOnly()
    composed: ReadOnly[bool] = ReadOnly()
    target: ReadOnly[EventTarget | None] = ReadOnly()
    currentTarget: ReadOnly[EventTarget | None] = ReadOnly()
    eventPhase: ReadOnly[int] = ReadOnly()
    defaultPrevented: ReadOnly[bool] = ReadOnly()
    isTrusted: ReadOnly[bool] = ReadOnly()
    timeStamp: ReadOnly[float] = ReadOnly()

    def __init__(self, type: str, eventInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: A002, N803
        if not isinstance(type, str):
            raise TypeError("the event type must be a string")
        init = init_dict(eventInitDict)
        self._type = type
        self._bubbles = bool(init.get("bubbles", False))
        self._cancelable = bool(init.get("cancelable", False))
        self._composed = bool(init.get("composed", False))
        self._target: EventTarget | None = None
        self._currentTarget: EventTarget | None = None
        self._eventPhase = Event.NONE
        self._defaultPrevented = False
        self._stop = False
        self._stop_immediate = False
        self._dispatching = False
        self._isTrusted = False
        self._timeStamp = (time.monotonic() - _TIME_ORIGIN) * 1000

    def preventDefault(self) -> None:
        if self._cancelable:
            self._defaultPrevented = True

    def stopPropagation(self) -> None:
        self._stop = True

    def stopImmediatePropagation(self) -> None:
        self._stop = self._stop_immediate = True

    def composedPath(self) -> list[EventTarget]:
        return [self._currentTarget] if self._currentTarget is not None else []

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
        event._dispatching, event._isTrusted = True, trusted
        event._target = event._currentTarget = self
        event._eventPhase = Event.AT_TARGET
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
            event._currentTarget = None
            event._eventPhase = Event.NONE
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
    if is_mapping(options):
        return bool(options.get("capture", False)), bool(options.get("once", False))
    return bool(options), False


