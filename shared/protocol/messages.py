"""The messages of the protocol, one frozen dataclass each, and their names on the wire."""

from __future__ import annotations

from dataclasses import dataclass

from icegather.shared.ice_config import IceConfiguration
from icegather.shared.structs import (
    AuditResultInfo,
    CandidateInfo,
    GatherOptions,
    IceCandidateErrorInfo,
    RelayCheckInfo,
    ServerAnswerInfo,
    TransactionTraceInfo,
)

PROTOCOL_VERSION = 6


@dataclass(frozen=True)
class ClientHello:
    protocol_version: int = PROTOCOL_VERSION
    heartbeat_interval: float = 0.0


@dataclass(frozen=True)
class Heartbeat:
    pass


@dataclass(frozen=True)
class ServerHello:
    pid: int
    protocol_version: int = PROTOCOL_VERSION
    # The heartbeat interval the transport uses for this client: what it asked for, or the
    # transport's minimum (0: none).
    heartbeat_interval: float = 0.0


@dataclass(frozen=True)
class Gather:
    pc_id: int
    configuration: IceConfiguration
    options: GatherOptions


@dataclass(frozen=True)
class Audit:
    pc_id: int
    configuration: IceConfiguration
    options: GatherOptions


@dataclass(frozen=True)
class Close:
    pc_id: int


@dataclass(frozen=True)
class Candidate:
    pc_id: int
    info: CandidateInfo


@dataclass(frozen=True)
class CandidateError:
    pc_id: int
    info: IceCandidateErrorInfo


@dataclass(frozen=True)
class ServerAnswer:
    pc_id: int
    info: ServerAnswerInfo


@dataclass(frozen=True)
class RelayCheck:
    pc_id: int
    info: RelayCheckInfo


@dataclass(frozen=True)
class TransactionTrace:
    pc_id: int
    info: TransactionTraceInfo


@dataclass(frozen=True)
class AuditResult:
    pc_id: int
    info: AuditResultInfo


@dataclass(frozen=True)
class GatheringState:
    pc_id: int
    state: str


@dataclass(frozen=True)
class GatherRejected:
    pc_id: int
    reason: str


Message = (
    ClientHello | ServerHello | Heartbeat | Gather | Audit | Close | Candidate | CandidateError
    | ServerAnswer | RelayCheck | TransactionTrace | AuditResult | GatheringState | GatherRejected
)


TO_TRANSPORT: dict[str, type[Message]] = {
    "client_hello": ClientHello,
    "gather": Gather,
    "audit": Audit,
    "close": Close,
}
TO_MAIN: dict[str, type[Message]] = {
    "server_hello": ServerHello,
    "heartbeat": Heartbeat,
    "candidate": Candidate,
    "candidate_error": CandidateError,
    "server_answer": ServerAnswer,
    "relay_check": RelayCheck,
    "transaction": TransactionTrace,
    "audit_result": AuditResult,
    "gathering_state": GatheringState,
    "gather_rejected": GatherRejected,
}
TYPE_NAMES: dict[type[Message], str] = {cls: name for name, cls in (TO_TRANSPORT | TO_MAIN).items()}
