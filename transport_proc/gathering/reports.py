"""What one gathering's attempts report, each the moment it happens and only while the gathering
reports: candidates, failures, first answers, server notes and transaction traces."""

from __future__ import annotations

import logging
import time

from icegather.shared import protocol
from icegather.shared.config.ice_url import IceUrl
from icegather.shared.net.endpoints import Address
from icegather.shared.structs import (
    CandidateInfo,
    IceCandidateErrorInfo,
    ServerAnswerInfo,
    ServerNoteInfo,
    TransactionTraceInfo,
)
from icegather.shared.vocabulary.server_notes import ServerNote
from icegather.transport_proc.gathering import candidates
from icegather.transport_proc.gathering.attempts import Attempt, of_entry
from icegather.transport_proc.gathering.transaction_traces import trace_info
from icegather.transport_proc.stun import failures, nat_tests
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.stun.parser import ServerMessage
from icegather.transport_proc.stun.transaction import Tracer, Transacted

logger = logging.getLogger(__name__)


class Reports:
    """The reports of one gathering (``pc_id``): sent through ``send`` while ``reporting``,
    dropped otherwise. Trace times count from ``started``."""

    def __init__(self, pc_id: int, send: protocol.Send, trace: bool) -> None:
        self.pc_id = pc_id
        self._send = send
        self._trace = trace
        self.reporting = False
        self.started = time.monotonic()
        self._srflx_seen: set[tuple[str, int, str, int]] = set()

    @property
    def tracing(self) -> bool:
        """Whether transaction traces are sent (``trace`` on, and reporting)."""
        return self._trace and self.reporting

    def send(self, message: protocol.Message) -> None:
        if self.reporting:
            self._send(message)

    def candidate(self, info: CandidateInfo) -> None:
        self.send(protocol.Candidate(self.pc_id, info))

    def srflx(self, mapped: Address, base: Address, attempt: Attempt) -> None:
        # RFC 8445 section 5.1.3: a server-reflexive candidate equal to its base, or to one
        # already found from the same base, is redundant and not surfaced.
        key = (mapped[0], mapped[1], base[0], base[1])
        if tuple(mapped) == tuple(base) or key in self._srflx_seen:
            return
        self._srflx_seen.add(key)
        info = candidates.srflx_candidate(mapped, base, attempt.server_address[0], attempt.index, attempt.url.url)
        self.candidate(of_entry(info, attempt))

    def failure(self, url: IceUrl, server_index: int, failure: AttemptFailed, attempt: Attempt | None) -> None:
        """A failure of the URL: of one attempt, or (``attempt`` None) before any began."""
        address, port = failure.local_address or (attempt and attempt.local_address) or ("", 0)
        logger.info("%s failed from %s: %d %s", url.url, address or "-", failure.code, failure.text)
        self.send(protocol.CandidateError(self.pc_id,
            IceCandidateErrorInfo(
                address=address, port=port, url=url.url, error_code=failure.code,
                error_text=failure.text, cause=failure.cause, server_index=server_index,
                server_address=attempt.server_address[0] if attempt is not None else "",
            )
        ))

    def trace(self, info: TransactionTraceInfo, attempt: Attempt) -> None:
        """One record of the trace, made by a module that knows nothing of the attempt."""
        if self.tracing:
            self._send(protocol.TransactionTrace(self.pc_id, of_entry(info, attempt)))

    def tracer(self, attempt: Attempt) -> Tracer | None:
        """What reports the attempt's transactions, with ``trace`` on."""
        if not self._trace:
            return None

        def trace(done: Transacted) -> None:
            if self.reporting and attempt.channel is not None:
                url, local, server = attempt.url.url, attempt.channel.local_address, attempt.server_address
                self.trace(trace_info(done, url, local, server, self.started), attempt)

        return trace

    def answered(self, attempt: Attempt, response: ServerMessage, rtt: float, mapped: Address | None = None) -> None:
        """A response of an attempt. The first says the server is reachable from this socket;
        the first SOFTWARE names what runs there (some servers send it only in successes): in
        the first answer, as its ``software``, else as a note of its own when it comes.
        ``mapped``: a Binding success's mapped address, reported with its OTHER-ADDRESS."""
        if attempt.channel is None:
            return
        software = response.attributes.get("SOFTWARE")
        named = failures.sanitize_reason(software) if isinstance(software, str) and not attempt.software_noted else ""
        attempt.software_noted = attempt.software_noted or bool(named)
        if attempt.answered:
            if named:
                self.note(attempt, "software", named)
            return
        attempt.answered, attempt.rtt = True, rtt
        address, port = attempt.channel.local_address
        if self.reporting:
            other = nat_tests.well_formed(response.attributes.get("OTHER-ADDRESS")) if mapped else None
            self._send(protocol.ServerAnswer(self.pc_id, ServerAnswerInfo(
                address, port, attempt.url.url, round(rtt * 1000, 3), attempt.server_address[0], attempt.server_index,
                attempt.server_address[1], *(mapped or ("", 0)), *(other or ("", 0)), software=named,
            )))

    def note(self, attempt: Attempt, note: ServerNote, detail: str) -> None:
        if self.reporting and attempt.channel is not None:
            address, port = attempt.channel.local_address
            info = ServerNoteInfo(address, port, attempt.url.url, note, detail, attempt.server_index)
            self._send(protocol.ServerNote(self.pc_id, info))
