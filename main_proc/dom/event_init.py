"""What every event constructor shares: its init dictionary checked, and typed read-only
attributes set from it (the DOM's ``readonly attribute``), with WebIDL-like type checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar, overload

from icegather.shared.shapes import is_mapping

T = TypeVar("T")

_NO_INIT: Mapping[str, Any] = {}


def init_dict(event_init: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """An ``EventInit`` dictionary, checked; None stands for an empty one."""
    if event_init is None:
        return _NO_INIT
    if not is_mapping(event_init):
        raise TypeError("the event init must be a dictionary")
    return event_init



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
    def __get__(self, event: object, owner: type | None = None) -> T: ...

    def __get__(self, event: object | None, owner: type | None = None) -> ReadOnly[T] | T:
        if event is None:
            return self
        value: T = getattr(event, self.slot)
        return value

    def __set__(self, event: object, value: T) -> None:
        raise AttributeError(f"{type(event).__name__}.{self.name} is read-only")



def required(value: object, kind: type[T], name: str) -> T:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {kind.__name__}, not {type(value).__name__}")
    return value


def number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    return float(value)


def optional(value: object, kind: type[T], name: str) -> T | None:
    return None if value is None else required(value, kind, name)


def optional_number(value: object, name: str) -> float | None:
    return None if value is None else number(value, name)
