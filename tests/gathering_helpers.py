"""Running a peer connection against real servers and recording what it fired (its
errors by URL), and a closed port of either family to send to."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from icegather.main_proc.dom.event_target import Event
from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.transport_client import TransportClient
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule

# Fast but real: a silent server is given up after 0.05 + 0.1 + 0.1 = 0.25 s.
FAST_SCHEDULE = RetransmissionSchedule(initial_rto=0.05, max_sends=2, final_wait=2)
LOOPBACK = GatherOptions(schedule=FAST_SCHEDULE, local_addresses=("127.0.0.1",))
# What the command line asks beyond a browser: an IPv6 relay too, after an IPv4 one.
ASKING_IPV6 = GatherOptions(schedule=FAST_SCHEDULE, local_addresses=("127.0.0.1",), ipv6_relay=True)
DUAL_STACK = GatherOptions(schedule=FAST_SCHEDULE, local_addresses=("127.0.0.1", "::1"))


@dataclass
class Recording:
    """Every event a peer connection fired, in order, with what we need to check it."""

    events: list[Event] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)  # iceserveranswer events, kept apart
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() of each event
    states_seen: list[str] = field(default_factory=list)
    transport_pid: int | None = None

    @property
    def errors(self) -> list[Any]:
        return [e for e in self.events if e.type == "icecandidateerror"]

    @property
    def candidates(self) -> list[Any]:
        return [e.candidate for e in self.events if e.type == "icecandidate" and e.candidate is not None]

    @property
    def first_error_at(self) -> float:
        return min(
            at for event, at in zip(self.events, self.arrivals, strict=True) if event.type == "icecandidateerror"
        )

    def record(self, event: Event) -> None:
        self.events.append(event)
        self.arrivals.append(time.monotonic())

    def of_type(self, kind: str) -> list[Any]:
        return [c for c in self.candidates if c.type == kind]


def errors_by_url(recording: Recording) -> dict[str, list]:
    found: dict[str, list] = {}
    for error in recording.errors:
        found.setdefault(error.url, []).append(error)
    return found


def closed_port(host: str, kind: int) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


async def record_gathering(
    configuration: dict[str, Any],
    options: GatherOptions = LOOPBACK,
    transport: TransportClient | None = None,
) -> Recording:
    recording = Recording()
    pc = RTCPeerConnection(configuration, transport=transport, options=options)
    for kind in ("icecandidate", "icecandidateerror", "icegatheringstatechange"):
        pc.addEventListener(kind, recording.record)
    pc.addEventListener("icegatheringstatechange", lambda e: recording.states_seen.append(pc.iceGatheringState))
    pc.addEventListener("iceserveranswer", recording.answers.append)
    try:
        await asyncio.wait_for(pc.gather(), 30)
        recording.transport_pid = pc.transport.transport_pid if pc.transport else None
    finally:
        await pc.aclose()
    return recording


def gather(configuration: dict[str, Any], options: GatherOptions = LOOPBACK) -> Recording:
    return asyncio.run(record_gathering(configuration, options))


def events_of(kind: str, configuration: dict[str, Any], options: GatherOptions) -> list[Any]:
    """The events of one type (``icerelaycheck``, ``icetransaction``, ...) a gathering fired."""

    async def gather_and_collect() -> list[Any]:
        fired: list[Any] = []
        async with RTCPeerConnection(configuration, options=options) as pc:
            pc.addEventListener(kind, fired.append)
            await asyncio.wait_for(pc.gather(), 30)
        return fired

    return asyncio.run(gather_and_collect())
