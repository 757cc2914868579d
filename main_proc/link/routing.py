"""Which job a message from the transport belongs to, and whether it makes sense there.

Sans-IO: a ``Router`` holds the observers of the jobs (gatherings and audits) a client has
asked the transport to run, and hands each validated message to the one its declared route
names. A message it cannot place is refused with the reason, and the client counts it as a bad
message. A handler that raises (a bug on this side, not the transport's) ends its own job with
the error as its failure; the transport and its other jobs go on.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from icegather.shared import protocol

logger = logging.getLogger(__name__)


class TransportObserver(Protocol):
    """What a job (a gathering or an audit) hears from the transport. Besides a failure of the
    whole transport, it takes the messages whose declared route (``protocol.messages.Route``)
    names one of its methods: ``on_candidate(info)`` and so on. Each returns False when the
    message made no sense in the job's state (it is then counted as rejected); a message for a
    method the observer lacks is refused."""

    def on_transport_failure(self, reason: str) -> None: ...


class Router:
    def __init__(self) -> None:
        self._observers: dict[int, TransportObserver] = {}
        self._last_id = 0

    def add(self, observer: TransportObserver) -> int:
        """Register a new job; return its id (a ``pc_id`` or an ``audit_id``: one count for both)."""
        self._last_id += 1
        self._observers[self._last_id] = observer
        return self._last_id

    def remove(self, job_id: int) -> bool:
        """Forget a job; False if it was not registered (or already removed)."""
        return self.take(job_id) is not None

    def take(self, job_id: int) -> TransportObserver | None:
        """Forget a job and return its observer, to hand it to another transport."""
        return self._observers.pop(job_id, None)

    def remove_all(self) -> list[TransportObserver]:
        observers, self._observers = list(self._observers.values()), {}
        return observers

    def route(self, message: protocol.Message) -> str | None:
        """Hand a message to its job's observer; return why it was refused, if it was."""
        wire = message.WIRE
        if wire.route is None:
            return None if isinstance(message, protocol.Heartbeat) else f"unexpected {wire.name}"
        job_field = wire.route.job_field
        job_id: int = getattr(message, job_field)
        observer = self._observers.get(job_id)
        if observer is None:
            # Normal for a job that closed while its messages were in flight.
            return None if 0 < job_id <= self._last_id else f"{wire.name} for unknown {job_field} {job_id}"
        handler: Any = getattr(observer, wire.route.handler, None)
        if handler is None:
            return f"{wire.name} for {job_field} {job_id}, which is not that kind of job"
        try:
            accepted = handler(getattr(message, wire.route.payload))
        except Exception as exc:  # a bug in this job's handling: the job ends, the other jobs go on
            logger.exception("%s for %s %d could not be handled", wire.name, job_field, job_id)
            del self._observers[job_id]
            observer.on_transport_failure(f"icegather failed to handle {wire.name}: {type(exc).__name__}: {exc}")
            return None
        return None if accepted else f"{wire.name} out of turn for {job_field} {job_id}"
