"""One gathering observed from the main process: a peer connection gathers, each of its events
becomes a record (``report``) as it comes, and when it is over its records are read into one
outcome per URL and a diagnosis. The command line prints the records; the exporter turns the
result into metrics. Both read records the same way, so a probe and a terminal never disagree.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from icegather.main_proc.diagnosis.addresses.nat_behaviour import nat_behaviour
from icegather.main_proc.diagnosis.exit_status import exit_status
from icegather.main_proc.diagnosis.servers.outcomes import (
    Configured,
    CredentialFacts,
    ServerOutcome,
    credential_facts,
    server_outcomes,
)
from icegather.main_proc.diagnosis.verdicts import Diagnosis, diagnose
from icegather.main_proc.dom.event_target import Event
from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.transport_error import TransportError
from icegather.main_proc.link.transport_supervisor import TransportSupervisor
from icegather.main_proc.views.report import (
    Tally,
    answer_record,
    candidate_record,
    error_record,
    nat_test_record,
    note_record,
    relay_check_record,
    relay_quality_record,
    state_record,
    transaction_record,
)
from icegather.shared.config.gather_options import GatherOptions
from icegather.shared.config.ice_config import IceConfiguration, RTCConfiguration


@dataclass(frozen=True)
class RoundContext:
    """What a round's records are read against: the configured URLs (each with its entry's
    index), whether only relays are gathered, what each URL's username says of its credential,
    whether relays are checked."""

    urls: tuple[Configured, ...]
    relay_only: bool
    credentials: Mapping[Configured, CredentialFacts]
    checks_relay: bool
    checks_quality: bool = False

    @classmethod
    def of(
        cls, validated: IceConfiguration, options: GatherOptions, minted: frozenset[str], now: float
    ) -> RoundContext:
        """``minted``: the usernames minted just now from a shared secret."""
        entries = tuple(enumerate(validated.ice_servers))
        return cls(
            urls=tuple((index, url) for index, server in entries for url in server.urls),
            relay_only=validated.ice_transport_policy == "relay",
            credentials={
                (index, url): credential_facts(server.username, server.username in minted, now)
                for index, server in entries
                for url in server.urls
            },
            checks_relay=options.relay_check,
            checks_quality=options.relay_check and options.quality_seconds > 0,
        )

    def outcomes(self, records: Iterable[Mapping[str, Any]]) -> tuple[ServerOutcome, ...]:
        records = tuple(records)
        return server_outcomes(self.urls, records, self.relay_only, self.credentials, self.checks_relay,
                               self.checks_quality, nat_behaviour(records).mapping)


@dataclass(frozen=True)
class RoundResult:
    tally: Tally
    outcomes: tuple[ServerOutcome, ...]
    diagnosis: Diagnosis
    # Why gathering did not complete (the transport failed, or the time ran out), else None.
    failure: str | None
    elapsed_ms: float

    @property
    def succeeded(self) -> bool:
        """Gathering completed and the diagnosis found nothing."""
        return self.failure is None and self.tally.complete and not self.diagnosis.findings

    @property
    def status(self) -> int:
        return exit_status(self.tally.complete, len(self.diagnosis.findings), self.failure)


async def observe_round(
    configuration: dict[str, Any],
    context: RoundContext,
    options: GatherOptions,
    transport: TransportSupervisor | None,
    tally: Tally,
    on_record: Callable[[dict[str, Any]], None] = lambda record: None,
    timeout: float | None = None,
) -> RoundResult:
    """Gather once; add each record to ``tally`` and hand it to ``on_record`` as it comes. With
    ``timeout``, gathering is stopped after that many seconds and the result says what was
    known by then."""
    # A plain dict read from the command line or a file; RTCPeerConnection validates it at run time.
    pc = RTCPeerConnection(cast(RTCConfiguration, configuration), transport=transport, options=options)
    started = time.monotonic()

    def elapsed_ms() -> float:
        return (time.monotonic() - started) * 1000

    def record(build: Callable[[Any, float], dict[str, Any]]) -> Callable[[Event], None]:
        def listener(event: Event) -> None:
            built = build(event, elapsed_ms())
            tally.add(built)
            on_record(built)

        return listener

    pc.onicegatheringstatechange = record(lambda event, t: state_record(pc.iceGatheringState, t))
    pc.onicecandidate = record(candidate_record)
    pc.onicecandidateerror = record(error_record)
    pc.oniceserveranswer = record(answer_record)
    pc.oniceservernote = record(note_record)
    pc.onicerelaycheck = record(relay_check_record)
    pc.onicerelayquality = record(relay_quality_record)
    pc.onicenattest = record(nat_test_record)
    pc.onicetransaction = record(lambda event, t: transaction_record(event, t, tally.gathering_ms))
    failure = None
    timed_out = False
    try:
        await asyncio.wait_for(pc.gather(), timeout)
    except TransportError as exc:
        failure = str(exc)
    except asyncio.TimeoutError:
        timed_out = True
        failure = f"gathering was stopped after {timeout:g} s, the time the probe had"
    finally:
        finished_ms = elapsed_ms()
        pc.close()
    outcomes = context.outcomes(tally.records)
    diagnosis = diagnose(outcomes, finished=tally.complete and failure is None, timed_out=timed_out)
    return RoundResult(tally, outcomes, diagnosis, failure, finished_ms)


def unstarted_round(context: RoundContext, failure: str) -> RoundResult:
    """The result of a round whose time ran out before it could start."""
    outcomes = context.outcomes(())
    return RoundResult(Tally(), outcomes, diagnose(outcomes, finished=False, timed_out=True), failure, 0.0)
