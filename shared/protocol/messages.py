"""The messages of the protocol, each declared once: a frozen dataclass whose ``WIRE`` says its
name on the wire, the check of each field (in wire order), and, for what the transport reports,
the observer method the main process hands it to.

A new message is one class here plus its sender and its handler; the codec, the validation,
the direction tables and the main process's routing all read the declaration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from icegather.shared.config.gather_options import GatherOptions
from icegather.shared.config.ice_config import IceConfiguration
from icegather.shared.protocol.checks import MAX_TEXT, Check, configuration, integer, list_of, number, one_of, text
from icegather.shared.protocol.restart_causes import RESTART_CAUSES, RestartCause
from icegather.shared.protocol.schemas import struct
from icegather.shared.structs import (
    AuditResultInfo,
    CandidateInfo,
    IceCandidateErrorInfo,
    NatTestInfo,
    RelayCheckInfo,
    RelayQualityInfo,
    SandboxInfo,
    ServerAnswerInfo,
    ServerNoteInfo,
    TransactionTraceInfo,
)

PROTOCOL_VERSION = 13

MAX_JOB_ID = 2**53
MAX_HEARTBEAT_INTERVAL = 3600.0
JOB_ID = integer(0, MAX_JOB_ID)
# The files one ``draining`` names: the resolver's five and a link's target, or the CA bundle.
MAX_REPLACED_FILES = 16


@dataclass(frozen=True)
class Route:
    """Where the main process hands a message from the transport: ``job_field`` names the
    gathering or audit it belongs to, ``handler`` the method of that job's observer, which gets
    the value of the field ``payload`` and returns False when the message makes no sense in
    the job's state. A job whose observer has no such method does not take the message."""

    job_field: str
    handler: str
    payload: str


@dataclass(frozen=True)
class Wire:
    name: str
    fields: Mapping[str, Check]
    route: Route | None = None


def _report(name: str, job_field: str, payload: str, check: Check) -> Wire:
    """A transport -> main message about one job: its id, and one payload for the handler
    ``on_<name>``."""
    return Wire(name, {job_field: JOB_ID, payload: check}, Route(job_field, f"on_{name}", payload))


# --- main -> transport ---------------------------------------------------------------------


@dataclass(frozen=True)
class ClientHello:
    WIRE: ClassVar[Wire] = Wire(
        "client_hello",
        {"protocol_version": integer(0, 2**16), "heartbeat_interval": number(0.0, MAX_HEARTBEAT_INTERVAL)},
    )
    protocol_version: int = PROTOCOL_VERSION
    heartbeat_interval: float = 0.0


@dataclass(frozen=True)
class Gather:
    WIRE: ClassVar[Wire] = Wire(
        "gather", {"pc_id": JOB_ID, "configuration": configuration, "options": struct(GatherOptions)}
    )
    pc_id: int
    configuration: IceConfiguration
    options: GatherOptions


@dataclass(frozen=True)
class Close:
    """Stop gathering for a peer connection and release its allocations."""

    WIRE: ClassVar[Wire] = Wire("close", {"pc_id": JOB_ID})
    pc_id: int


@dataclass(frozen=True)
class Audit:
    WIRE: ClassVar[Wire] = Wire(
        "audit", {"audit_id": JOB_ID, "configuration": configuration, "options": struct(GatherOptions)}
    )
    audit_id: int
    configuration: IceConfiguration
    options: GatherOptions


@dataclass(frozen=True)
class CloseAudit:
    WIRE: ClassVar[Wire] = Wire("close_audit", {"audit_id": JOB_ID})
    audit_id: int


# --- transport -> main ---------------------------------------------------------------------


@dataclass(frozen=True)
class ServerHello:
    WIRE: ClassVar[Wire] = Wire(
        "server_hello",
        {
            "pid": integer(0, 2**31),
            "protocol_version": integer(0, 2**16),
            "heartbeat_interval": number(0.0, MAX_HEARTBEAT_INTERVAL),
            "sandbox": struct(SandboxInfo),
        },
    )
    pid: int
    protocol_version: int = PROTOCOL_VERSION
    # The heartbeat interval the transport uses for this client: what it asked for, or the
    # transport's minimum (0: none).
    heartbeat_interval: float = 0.0
    sandbox: SandboxInfo = field(default_factory=SandboxInfo)


@dataclass(frozen=True)
class Heartbeat:
    WIRE: ClassVar[Wire] = Wire("heartbeat", {})


@dataclass(frozen=True)
class Draining:
    """The transport is restarting (``cause``: files it holds were replaced, ``paths``): it
    finishes the jobs it runs and refuses new ones, which the main process sends to a fresh
    transport from now on. Sent to every client once, when the drain starts (to a client that
    says hello later, right after ``server_hello``), before any refusal it causes."""

    WIRE: ClassVar[Wire] = Wire(
        "draining",
        {"cause": one_of(*RESTART_CAUSES), "paths": list_of(text(MAX_TEXT, empty=False), MAX_REPLACED_FILES)},
    )
    cause: RestartCause
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Candidate:
    WIRE: ClassVar[Wire] = _report("candidate", "pc_id", "info", struct(CandidateInfo))
    pc_id: int
    info: CandidateInfo


@dataclass(frozen=True)
class CandidateError:
    WIRE: ClassVar[Wire] = _report("candidate_error", "pc_id", "info", struct(IceCandidateErrorInfo))
    pc_id: int
    info: IceCandidateErrorInfo


@dataclass(frozen=True)
class ServerAnswer:
    WIRE: ClassVar[Wire] = _report("server_answer", "pc_id", "info", struct(ServerAnswerInfo))
    pc_id: int
    info: ServerAnswerInfo


@dataclass(frozen=True)
class ServerNote:
    WIRE: ClassVar[Wire] = _report("server_note", "pc_id", "info", struct(ServerNoteInfo))
    pc_id: int
    info: ServerNoteInfo


@dataclass(frozen=True)
class RelayCheck:
    WIRE: ClassVar[Wire] = _report("relay_check", "pc_id", "info", struct(RelayCheckInfo))
    pc_id: int
    info: RelayCheckInfo


@dataclass(frozen=True)
class RelayQuality:
    WIRE: ClassVar[Wire] = _report("relay_quality", "pc_id", "info", struct(RelayQualityInfo))
    pc_id: int
    info: RelayQualityInfo


@dataclass(frozen=True)
class NatTest:
    WIRE: ClassVar[Wire] = _report("nat_test", "pc_id", "info", struct(NatTestInfo))
    pc_id: int
    info: NatTestInfo


@dataclass(frozen=True)
class TransactionTrace:
    WIRE: ClassVar[Wire] = _report("transaction", "pc_id", "info", struct(TransactionTraceInfo))
    pc_id: int
    info: TransactionTraceInfo


@dataclass(frozen=True)
class GatheringState:
    WIRE: ClassVar[Wire] = _report("gathering_state", "pc_id", "state", one_of("gathering", "complete"))
    pc_id: int
    state: str


@dataclass(frozen=True)
class GatherRejected:
    """The transport refused a ``gather`` it could not run, or it ended with an internal error."""

    WIRE: ClassVar[Wire] = _report("gather_rejected", "pc_id", "reason", text(MAX_TEXT, empty=False))
    pc_id: int
    reason: str


@dataclass(frozen=True)
class AuditResult:
    WIRE: ClassVar[Wire] = _report("audit_result", "audit_id", "info", struct(AuditResultInfo))
    audit_id: int
    info: AuditResultInfo


@dataclass(frozen=True)
class AuditState:
    WIRE: ClassVar[Wire] = _report("audit_state", "audit_id", "state", one_of("auditing", "complete"))
    audit_id: int
    state: str


@dataclass(frozen=True)
class AuditRejected:
    WIRE: ClassVar[Wire] = _report("audit_rejected", "audit_id", "reason", text(MAX_TEXT, empty=False))
    audit_id: int
    reason: str


Message = (
    ClientHello | Gather | Close | Audit | CloseAudit
    | ServerHello | Heartbeat | Draining | Candidate | CandidateError | ServerAnswer | ServerNote | RelayCheck
    | RelayQuality | NatTest | TransactionTrace | GatheringState | GatherRejected | AuditResult | AuditState
    | AuditRejected
)

TO_TRANSPORT: dict[str, type[Message]] = {
    cls.WIRE.name: cls for cls in (ClientHello, Gather, Close, Audit, CloseAudit)
}
TO_MAIN: dict[str, type[Message]] = {
    cls.WIRE.name: cls
    for cls in (
        ServerHello, Heartbeat, Draining, Candidate, CandidateError, ServerAnswer, ServerNote, RelayCheck,
        RelayQuality, NatTest, TransactionTrace, GatheringState, GatherRejected, AuditResult, AuditState, AuditRejected,
    )
}

# Where a job in the transport sends what it has to say: the service queues it for its client.
Send = Callable[[Message], None]
