#!/usr/bin/env python3
"""Fuzz a real, confined transport process over its IPC socket with the cases of
``fuzz_protocol.py`` that go to the transport: random bytes, mutated messages, messages of any
shape at every level, frames with a bad message in the middle.

Each case comes from a new client: a ``client_hello`` and then the case's frame, so that the
sequence numbers of earlier cases do not stop it at the door. The transport must live through
every case, log no traceback, and then still serve a well-behaved client's gathering.

What a case may make the transport do is kept on this machine: a case whose messages would start
a gathering or an audit of a host that is neither loopback nor under ``.invalid`` is withheld
(and counted), decided by decoding it here first with the transport's own decoder.

    python scripts/fuzz_confined_transport.py              # 10,000 cases
    python scripts/fuzz_confined_transport.py --quick      # the suite's run: 1,000, the same each run
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import zmq
from fuzz_protocol import TO_THE_TRANSPORT, Case, cases, cases_asked
from hypothesis import HealthCheck, given, settings

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.transport_client import TransportClient
from icegather.shared import protocol
from icegather.shared.net.address_scopes import scope_of
from icegather.shared.net.endpoints import parse_ip
from icegather.transport_proc.stun.resolver import is_localhost, special_use_answer

FULL_EXAMPLES = 10_000
QUICK_EXAMPLES = 1000


def stays_here(host: str) -> bool:
    """A loopback address, or a name the transport's resolver answers without a lookup
    (``localhost``, and names under ``.invalid``, which never resolve)."""
    literal = parse_ip(host)
    if literal is not None:
        return scope_of(literal[0]) == "loopback"
    return is_localhost(host) or special_use_answer(host) is not None


def withheld(data: bytes) -> bool:
    """Whether the transport would act on a host beyond this machine for this frame."""
    messages: list[protocol.Message] = []
    # The messages before a bad one are acted on all the same.
    with contextlib.suppress(protocol.ProtocolError):
        messages.extend(message for _, message in protocol.decode_to_transport(data))
    return any(
        not stays_here(url.host)
        for message in messages if isinstance(message, (protocol.Gather, protocol.Audit))
        for server in message.configuration.ice_servers for url in server.urls
    )


@dataclass
class Outcome:
    counts: Counter[str] = field(default_factory=Counter)
    death: str | None = None


def fuzz(examples: int, derandomize: bool) -> tuple[Outcome, str]:
    runtime = tempfile.mkdtemp(prefix="icegather-fuzz-")  # a standalone service's: removed here
    endpoint = f"ipc://{runtime}/transport"
    transport = subprocess.Popen(
        [sys.executable, "-I", "-m", "icegather.transport_proc", "--bind", endpoint, "--watch-stdin",
         "--log-level", "WARNING"],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    log: list[str] = []
    assert transport.stderr is not None
    # Read as it comes: a transport whose stderr pipe is full waits on it.
    reader = threading.Thread(target=lambda: log.extend(transport.stderr), daemon=True)
    reader.start()
    context = zmq.Context()
    hello = protocol.encode(protocol.ClientHello(), 0)
    outcome = Outcome()

    @settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
              suppress_health_check=list(HealthCheck))
    @given(cases().filter(lambda case: case.direction == TO_THE_TRANSPORT))
    def case(drawn: Case) -> None:
        if outcome.death is not None:
            return
        if withheld(drawn.data):
            outcome.counts["withheld: a host beyond this machine"] += 1
            return
        client = context.socket(zmq.DEALER)
        client.connect(endpoint)
        client.send(hello)
        client.send(drawn.data)
        client.close(linger=1000)
        outcome.counts[f"sent: {drawn.shape}"] += 1
        if transport.poll() is not None:
            outcome.death = f"the transport exited ({transport.returncode}) after {drawn} {drawn.data[:200]!r}"

    case()
    if outcome.death is None:
        outcome.counts[f"then a client's gathering: {asyncio.run(a_gathering(endpoint))}"] += 1
    context.term()
    assert transport.stdin is not None
    transport.stdin.close()  # it exits, releasing what it holds
    transport.wait(30)
    reader.join(30)
    shutil.rmtree(runtime, ignore_errors=True)
    return outcome, "".join(log)


async def a_gathering(endpoint: str) -> str:
    """How a well-behaved client's gathering went: the error codes it got."""
    client = await TransportClient.connect(endpoint)
    pc = RTCPeerConnection({"iceServers": [{"urls": "stun:after.fuzz.invalid"}]}, transport=client)
    errors: list[int] = []
    pc.addEventListener("icecandidateerror", lambda event: errors.append(event.errorCode))
    try:
        await asyncio.wait_for(pc.gather(), 30)
    finally:
        await pc.aclose()
        await client.aclose()
    return f"complete, errors {errors}"


def main(argv: list[str] | None = None) -> int:
    examples, derandomize = cases_asked(argv, __doc__, FULL_EXAMPLES, QUICK_EXAMPLES)
    started = time.monotonic()
    outcome, log = fuzz(examples, derandomize)
    tracebacks = log.count("Traceback")
    refused = log.count("rejected a message")  # the service logs each message it refuses
    print(f"fuzz_confined_transport: {sum(outcome.counts.values())} cases in {time.monotonic() - started:.1f} s")
    for what, n in sorted(outcome.counts.items()):
        print(f"  {what}: {n}")
    print(f"  messages the transport refused: {refused}")
    print(f"  the transport: {'died: ' + outcome.death if outcome.death else 'lived'}, tracebacks logged: {tracebacks}")
    return 1 if outcome.death or tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
