"""The main process supervises its transport: a bad message, a hang or a crash ends the
gatherings in flight with a clear TransportError, nothing is delivered twice or silently lost,
and the next peer connection gets a fresh transport."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import threading
import time

import msgpack
import pytest
from fake_transport import HostileTransport
from gathering_helpers import LOOPBACK, record_gathering

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.supervision import Supervision
from icegather.main_proc.link.transport_client import TransportClient
from icegather.main_proc.link.transport_error import TransportError
from icegather.main_proc.link.transport_process import TransportProcess
from icegather.main_proc.link.transport_supervisor import TransportSupervisor
from icegather.shared import protocol
from icegather.shared.config.gather_limits import GATHERING_DEADLINE_SCHEDULES
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule
from icegather.shared.structs import IceCandidateErrorInfo
from icegather.transport_proc.gathering.turn_attempt import ALLOCATION_MISMATCH_RETRIES
from icegather.transport_proc.turn.allocation import MAX_STALE_NONCE_RETRIES

GOOD_ERROR = IceCandidateErrorInfo("127.0.0.1", 5000, "stun:stun.example.org", 701, "no response", "no_response")
QUICK = Supervision(heartbeat_interval=0.05, heartbeat_timeout=0.5)


async def peer_connection_on_a_fake(
    supervision: Supervision,
) -> tuple[HostileTransport, TransportClient, RTCPeerConnection]:
    fake = HostileTransport()
    connecting = asyncio.ensure_future(TransportClient.connect(fake.endpoint, supervision=supervision))
    await fake.accept_client()
    client = await connecting
    pc = RTCPeerConnection({"iceServers": [{"urls": "stun:stun.example.org"}]}, transport=client)
    return fake, client, pc


def bad_messages(fake: HostileTransport, pc_id: int) -> dict[str, bytes]:
    """Each kind of bad message, as the next message the fake sends."""
    seq = fake.seq
    return {
        "not msgpack": b"\xc1\xc1 not msgpack",
        "invalid field": msgpack.packb(
            {
                "type": "candidate_error",
                "seq": seq,
                "pc_id": pc_id,
                "info": {"address": "x", "port": 1, "url": "stun:s", "error_code": 701, "error_text": "t",
                         "cause": "no_response", "server_index": 0, "server_address": ""},
            }
        ),
        "replayed": protocol.encode(protocol.CandidateError(pc_id, GOOD_ERROR), seq - 1),
        "skipped": protocol.encode(protocol.CandidateError(pc_id, GOOD_ERROR), seq + 1),
        "unknown pc_id": protocol.encode(protocol.CandidateError(pc_id + 100, GOOD_ERROR), seq),
        "before gathering": protocol.encode(protocol.GatheringState(pc_id, "complete"), seq),
        # Once a TypeError in the receive loop, which then died silently and left the gathering hanging.
        "type is a list": msgpack.packb({"type": [1], "seq": seq}),
    }


EXPECTED_REASON = {
    "not msgpack": "not msgpack",
    "invalid field": "is not an IP address",
    "replayed": "already used",
    "skipped": "1 message(s) lost before sequence number",
    "unknown pc_id": "unknown pc_id",
    "before gathering": "out of turn",
    "type is a list": "a message type must be a string, got list",
}


@pytest.mark.parametrize("kind", list(EXPECTED_REASON))
def test_a_bad_message_ends_the_gathering_with_an_error_naming_it_and_nothing_else_is_trusted(kind):
    async def scenario():
        fake, client, pc = await peer_connection_on_a_fake(Supervision(0, 0))
        errors = []
        pc.onicecandidateerror = errors.append
        gathering = asyncio.ensure_future(pc.gather())
        request = await fake.next_request()
        pc_id = request.pc_id
        if kind != "before gathering":
            await fake.send(protocol.GatheringState(pc_id, "gathering"))
            await fake.send(protocol.CandidateError(pc_id, GOOD_ERROR))  # delivered: sent before
        await fake.send_raw(bad_messages(fake, pc_id)[kind])
        await fake.send(protocol.CandidateError(pc_id, GOOD_ERROR))  # never delivered: sent after
        with pytest.raises(TransportError) as caught:
            await asyncio.wait_for(gathering, 5)
        await asyncio.sleep(0.05)
        rejected = client.rejected
        pc.close()
        client.close()
        fake.close()
        return str(caught.value), len(errors), rejected

    message, delivered, rejected = asyncio.run(scenario())
    assert message.startswith("the transport sent a bad message (")
    assert EXPECTED_REASON[kind] in message
    assert delivered == (0 if kind == "before gathering" else 1)
    assert rejected == 1  # counted once; after it nothing from that transport is even read


def test_a_transport_that_sends_no_heartbeat_counts_as_hung():
    async def scenario():
        fake, client, pc = await peer_connection_on_a_fake(QUICK)  # it greets, then never beats
        with pytest.raises(TransportError) as caught:
            await asyncio.wait_for(pc.gather(), 5)
        pc.close()
        client.close()
        fake.close()
        return str(caught.value)

    assert asyncio.run(scenario()).startswith("the transport stopped answering: nothing from it for ")


def test_a_real_transport_keeps_beating_through_a_long_quiet_gathering(silent_udp_server):
    async def scenario():
        supervisor = TransportSupervisor(supervision=QUICK)
        try:
            slow = GatherOptions(RetransmissionSchedule(0.3, 2, 2), local_addresses=("127.0.0.1",))
            pc = RTCPeerConnection(
                {"iceServers": [{"urls": silent_udp_server.url()}]}, transport=supervisor, options=slow
            )
            await asyncio.wait_for(pc.gather(), 10)  # 1.2 s of silence from the server, > the 0.5 s timeout
            pc.close()
            return supervisor.started
        finally:
            await supervisor.aclose()

    assert asyncio.run(scenario()) == 1


@pytest.mark.parametrize("fault", ["SIGKILL", "SIGSTOP"])
def test_a_crashed_or_hung_transport_fails_its_gatherings_and_the_next_one_gets_a_fresh_transport(
    fault, silent_udp_server
):
    async def scenario():
        supervisor = TransportSupervisor(supervision=QUICK)
        try:
            pc = RTCPeerConnection(
                {"iceServers": [{"urls": silent_udp_server.url()}]}, transport=supervisor, options=LOOPBACK
            )
            gathering = asyncio.ensure_future(pc.gather())
            while pc.iceGatheringState != "gathering":
                await asyncio.sleep(0.01)
            first = await supervisor.client()
            os.kill(first.transport_pid, getattr(signal, fault))
            with pytest.raises(TransportError) as caught:
                await asyncio.wait_for(gathering, 5)
            pc.close()
            gone = first.process.popen.poll() is not None  # a hung one was killed, not left behind
            second = await supervisor.client()
            recording = await record_gathering({"iceServers": [{"urls": "stun:stun1.invalid"}]}, transport=second)
            return str(caught.value), gone, first.transport_pid != second.transport_pid, recording, supervisor.started
        finally:
            await supervisor.aclose()

    message, gone, fresh, recording, started = asyncio.run(scenario())
    expected = "killed by SIGKILL" if fault == "SIGKILL" else "stopped answering"
    assert expected in message
    assert gone and fresh and started == 2
    assert [error.errorCode for error in recording.errors] == [701]


@pytest.fixture
def without_pidfd(monkeypatch):
    """As under gVisor or valgrind, or a kernel before 5.3: a thread waits for the exit instead."""

    def no_pidfd(pid: int, flags: int = 0) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)


@pytest.mark.usefixtures("without_pidfd")
def test_without_pidfd_a_transports_exit_is_still_noticed_at_once():
    async def scenario():
        # The process alone, without a client: nothing else (a lost connection) can notice it.
        process = TransportProcess.start()
        try:
            waiting = asyncio.ensure_future(process.wait_exit())
            await asyncio.sleep(0)  # waiting, with the process alive
            assert not waiting.done()
            os.kill(process.pid, signal.SIGKILL)
            return await asyncio.wait_for(waiting, 5)
        finally:
            process.kill()

    assert "killed by SIGKILL" in asyncio.run(scenario())


@pytest.mark.usefixtures("without_pidfd")
def test_without_pidfd_every_wait_for_a_transports_exit_shares_one_thread():
    async def scenario():
        process = TransportProcess.start()
        try:
            given_up = asyncio.ensure_future(process.wait_exit())
            await asyncio.sleep(0)
            given_up.cancel()  # a wait that ends first (a timeout)
            await asyncio.sleep(0)
            waiting = [asyncio.ensure_future(process.wait_exit()) for _ in range(3)]
            await asyncio.sleep(0)
            threads = sum(1 for thread in threading.enumerate() if thread.name == f"transport {process.pid} exit")
            listeners = len(process._exit_listeners or [])
            os.kill(process.pid, signal.SIGKILL)
            return threads, listeners, await asyncio.wait_for(asyncio.gather(*waiting), 5)
        finally:
            process.kill()

    threads, listeners, ends = asyncio.run(scenario())
    assert threads == 1
    assert listeners == 3  # the wait that gave up is forgotten
    assert all("killed by SIGKILL" in end for end in ends)


def test_a_transport_refusing_a_gather_ends_it_with_its_reason():
    async def scenario():
        fake, client, pc = await peer_connection_on_a_fake(Supervision(0, 0))
        gathering = asyncio.ensure_future(pc.gather())
        request = await fake.next_request()
        await fake.send(protocol.GatherRejected(request.pc_id, "the transport already runs 16384 gatherings"))
        with pytest.raises(TransportError) as caught:
            await asyncio.wait_for(gathering, 5)
        pc.close()
        client.close()
        fake.close()
        return str(caught.value), client.rejected

    message, rejected = asyncio.run(scenario())
    assert message == "the transport refused to gather: the transport already runs 16384 gatherings"
    assert rejected == 0


def test_a_listener_that_blocks_the_event_loop_for_many_heartbeats_raises_no_false_alarm(coturn):
    # Heartbeats every 0.05 s, a hang after 0.25 s of silence; the first candidate's listener
    # blocks the loop for 1 s. The transport must neither drop us nor be declared hung.
    quick = Supervision(heartbeat_interval=0.05, heartbeat_timeout=0.25)

    async def scenario():
        transport = await TransportClient.start(supervision=quick)
        pc = RTCPeerConnection({"iceServers": [coturn.ice_server("turn")]}, transport=transport, options=LOOPBACK)
        blocked = []

        def block(event) -> None:
            if not blocked:
                blocked.append(event)
                time.sleep(1.0)

        pc.addEventListener("icecandidate", block)
        await pc.gather()
        afterwards = await record_gathering({"iceServers": [coturn.ice_server("turn")]}, LOOPBACK, transport)
        failure = transport.failure
        await transport.aclose()
        return pc.iceGatheringState, failure, afterwards

    state, failure, afterwards = asyncio.run(scenario())
    assert state == "complete"
    assert failure is None
    assert len(afterwards.of_type("relay")) == 1  # and it still serves us


def test_a_transport_that_never_finishes_ends_gather_at_the_deadline_even_without_heartbeats():
    tiny = GatherOptions(RetransmissionSchedule(0.01, max_sends=1, final_wait=1))  # gives up after 0.01 s

    async def scenario():
        fake, client, pc = await peer_connection_on_a_fake(Supervision(0, 0))
        pc = RTCPeerConnection({"iceServers": [{"urls": "stun:stun.example.org"}]}, transport=client, options=tiny)
        gathering = asyncio.ensure_future(pc.gather())
        request = await fake.next_request()
        await fake.send(protocol.GatheringState(request.pc_id, "gathering"))  # and then nothing
        with pytest.raises(TransportError) as caught:
            await asyncio.wait_for(gathering, 30)
        closed = await fake.next_request()  # it also told the transport to stop
        client.close()
        fake.close()
        return str(caught.value), closed

    message, closed = asyncio.run(scenario())
    assert message == f"gathering did not complete within {tiny.schedule.gathering_deadline:g} s, the most it can take"
    assert isinstance(closed, protocol.Close)


def test_the_gathering_deadline_covers_the_slowest_attempt_the_transport_can_make():
    # name lookup; then from each of 1 + 3 local ports (437), twice (a redirect): TCP connect,
    # TLS handshake, the Allocate without and with credentials, and the stale-nonce retries.
    per_server = 2 + 2 + MAX_STALE_NONCE_RETRIES
    slowest = 1 + (1 + ALLOCATION_MISMATCH_RETRIES) * 2 * per_server
    assert slowest <= GATHERING_DEADLINE_SCHEDULES
