"""Which peer connection a message from the transport belongs to, and whether it makes sense.

Sans-IO: a ``Router`` holds the observers of the peer connections a client has asked the
transport to gather for, and hands each validated message to the right one. A message it
cannot place is refused with the reason, and the client counts it as a bad message.
"""

from __future__ import annotations

from typing import Protocol

from icegather.shared import protocol
from icegather.shared.structs import (
    AuditResultInfo,
    CandidateInfo,
    IceCandidateErrorInfo,
    RelayCheckInfo,
    ServerAnswerInfo,
    TransactionTraceInfo,
)


class TransportObserver(Protocol):
    """What a peer connection hears from the transport. Each method returns False when the
    message made no sense in the peer connection's state (it is then counted as rejected)."""

    def on_candidate(self, info: CandidateInfo) -> bool: ...

    def on_candidate_error(self, info: IceCandidateErrorInfo) -> bool: ...

    def on_server_answer(self, info: ServerAnswerInfo) -> bool: ...

    def on_relay_check(self, info: RelayCheckInfo) -> bool: ...

    def on_transaction(self, info: TransactionTraceInfo) -> bool: ...

    def on_audit_result(self, info: AuditResultInfo) -> bool: ...

    def on_gathering_state(self, state: str) -> bool: ...

    def on_gather_rejected(self, reason: str) -> bool: ...

    def on_transport_failure(self, reason: str) -> None: ...


class Router:
    def __init__(self) -> None:
        self._observers: dict[int, TransportObserver] = {}
        self._last_pc_id = 0

    def add(self, observer: TransportObserver) -> int:
        """Register a new peer connection; return its ``pc_id``."""
        self._last_pc_id += 1
        self._observers[self._last_pc_id] = observer
        return self._last_pc_id

    def remove(self, pc_id: int) -> bool:
        """Forget a peer connection; False if it was not registered (or already removed)."""
        return self._observers.pop(pc_id, None) is not None

    def remove_all(self) -> list[TransportObserver]:
        observers, self._observers = list(self._observers.values()), {}
        return observers

    def route(self, message: protocol.Message) -> str | None:
        """Hand a message to its peer connection; return why it was refused, if it was."""
        name = type(message).__name__
        if isinstance(message, protocol.Heartbeat):
            return None
        pc_id = getattr(message, "pc_id", None)
        if pc_id is None:
            return f"unexpected {name}"
        observer = self._observers.get(pc_id)
        if observer is None:
            # Normal for a peer connection that closed while its messages were in flight.
            return None if 0 < pc_id <= self._last_pc_id else f"{name} for unknown pc_id {pc_id}"
        if isinstance(message, protocol.Candidate):
            accepted = observer.on_candidate(message.info)
        elif isinstance(message, protocol.CandidateError):
            accepted = observer.on_candidate_error(message.info)
        elif isinstance(message, protocol.ServerAnswer):
            accepted = observer.on_server_answer(message.info)
        elif isinstance(message, protocol.RelayCheck):
            accepted = observer.on_relay_check(message.info)
        elif isinstance(message, protocol.TransactionTrace):
            accepted = observer.on_transaction(message.info)
        elif isinstance(message, protocol.AuditResult):
            accepted = observer.on_audit_result(message.info)
        elif isinstance(message, protocol.GatheringState):
            accepted = observer.on_gathering_state(message.state)
        elif isinstance(message, protocol.GatherRejected):
            accepted = observer.on_gather_rejected(message.reason)
        else:
            return f"unexpected {name}"
        return None if accepted else f"{name} outside gathering for pc_id {pc_id}"
