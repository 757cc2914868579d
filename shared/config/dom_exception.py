"""The web platform's ``DOMException``, so that bad input fails as it does in a browser.

A browser rejects a bad ``iceServers`` entry with ``DOMException`` whose ``name`` says what
kind of mistake it was (``"SyntaxError"``, ``"InvalidAccessError"``, ...), and with the
ECMAScript ``TypeError`` for values of the wrong type. We do the same: one exception class
carrying the DOM name, plus Python's own ``TypeError``.
"""

from __future__ import annotations


class DOMException(Exception):
    """An error with a DOM name, as ``new DOMException(message, name)`` builds it in JavaScript."""

    def __init__(self, message: str = "", name: str = "Error") -> None:
        super().__init__(message)
        self.message = message
        self.name = name

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"

    def __repr__(self) -> str:
        return f"DOMException({self.message!r}, {self.name!r})"


def syntax_error(message: str) -> DOMException:
    return DOMException(message, "SyntaxError")


def invalid_access_error(message: str) -> DOMException:
    return DOMException(message, "InvalidAccessError")


def invalid_state_error(message: str) -> DOMException:
    return DOMException(message, "InvalidStateError")

