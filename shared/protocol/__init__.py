"""The wire protocol between the main process and the transport process.

Every message is one msgpack map: ``{"type": <name>, "seq": <n>, ...fields}``. ``seq`` counts
the messages of one direction of one connection from 0, so that the receiver can tell a lost
or replayed message from a good one (see ``SequenceChecker``). One ZeroMQ message, a frame,
carries one or more messages back to back: what one turn of the sender's event loop made
(``frames``; an ``Outbox`` packs them, an ``Inbox`` reads them).

This module is the counterpart of Firefox's ``PMediaTransport.ipdl`` plus its
``DEFINE_IPC_SERIALIZER_WITH_FIELDS`` lines, with one difference that matters: decoding
*validates*. Each message type declares its schema (``messages``); a message that does not match it exactly
(unknown type or field, wrong type, port or code out of range, oversized string, broken
invariant) raises ``ProtocolError`` and never reaches the code that acts on messages.

Messages, main -> transport:

===================  =========================================================================
``client_hello``     protocol_version, heartbeat_interval (seconds; 0: no heartbeats)
``gather``           pc_id, configuration (browser-shaped, with credentials), options
``close``            pc_id: stop gathering, release the peer connection's allocations
``audit``            audit_id, configuration, options: audit the TURN/STUN servers
``close_audit``      audit_id: stop the audit, release its allocations
===================  =========================================================================

Messages, transport -> main:

===================  =========================================================================
``server_hello``     protocol_version, pid, heartbeat_interval (the one it uses)
``heartbeat``        (nothing: it says the transport is alive, every heartbeat_interval)
``draining``         cause, paths: it restarts, finishing its jobs; new ones go to a fresh one
``candidate``        pc_id, info: CandidateInfo
``candidate_error``  pc_id, info: IceCandidateErrorInfo (Firefox: ``OnCandidateError``)
``server_answer``    pc_id, info: ServerAnswerInfo (a server URL answered; icegather's own)
``server_note``      pc_id, info: ServerNoteInfo (a fact about a server: software, IPv6 relays)
``relay_check``      pc_id, info: RelayCheckInfo (data through a relay and back; icegather's own)
``relay_quality``    pc_id, info: RelayQualityInfo (a call-like stream through a relay; its own)
``nat_test``         pc_id, info: NatTestInfo (one RFC 5780 test of the NAT; its own)
``transaction``      pc_id, info: TransactionTraceInfo (one STUN/TURN transaction, with trace on)
``gathering_state``  pc_id, state: "gathering" | "complete"
``gather_rejected``  pc_id, reason: the transport refused a ``gather`` it could not run
``audit_result``     audit_id, info: AuditResultInfo (one check of an audit)
``audit_state``      audit_id, state: "auditing" | "complete"
``audit_rejected``   audit_id, reason: the transport refused an ``audit`` it could not run
===================  =========================================================================
"""

from icegather.shared.protocol.checks import InvalidMessage, ProtocolError
from icegather.shared.protocol.codec import encode
from icegather.shared.protocol.frames import (
    MAX_FRAME_BYTES,
    MAX_FRAME_MESSAGES,
    Outbox,
    decode_to_main,
    decode_to_transport,
)
from icegather.shared.protocol.inbox import Inbox, SequenceChecker
from icegather.shared.protocol.messages import (
    MAX_JOB_ID,
    PROTOCOL_VERSION,
    Audit,
    AuditRejected,
    AuditResult,
    AuditState,
    Candidate,
    CandidateError,
    ClientHello,
    Close,
    CloseAudit,
    Draining,
    Gather,
    GatheringState,
    GatherRejected,
    Heartbeat,
    Message,
    NatTest,
    RelayCheck,
    RelayQuality,
    Send,
    ServerAnswer,
    ServerHello,
    ServerNote,
    TransactionTrace,
)

__all__ = [
    "MAX_FRAME_BYTES",
    "MAX_FRAME_MESSAGES",
    "MAX_JOB_ID",
    "PROTOCOL_VERSION",
    "Audit",
    "AuditRejected",
    "AuditResult",
    "AuditState",
    "Candidate",
    "CandidateError",
    "ClientHello",
    "Close",
    "CloseAudit",
    "Draining",
    "Gather",
    "GatherRejected",
    "GatheringState",
    "Heartbeat",
    "Inbox",
    "InvalidMessage",
    "Message",
    "NatTest",
    "Outbox",
    "ProtocolError",
    "RelayCheck",
    "RelayQuality",
    "Send",
    "SequenceChecker",
    "ServerAnswer",
    "ServerHello",
    "ServerNote",
    "TransactionTrace",
    "decode_to_main",
    "decode_to_transport",
    "encode",
]
