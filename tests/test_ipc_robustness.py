"""Both ends of the ZeroMQ link survive garbage and notice a dead peer."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile

import msgpack
import pytest
import zmq
import zmq.asyncio

from gathering_helpers import LOOPBACK, record_gathering
from main_proc.peerconnection import RTCPeerConnection
from main_proc.transport_client import TransportClient, TransportError
from shared import protocol
from shared.structs import CandidateInfo, IceCandidateErrorInfo


class HostileTransport:
    """A fake transport on a real ROUTER socket: it greets properly, then sends what we tell it."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="icegather-test-")
        self.endpoint = f"ipc://{self.dir}/transport"
        self.context = zmq.asyncio.Context()
        self.sock = self.context.socket(zmq.ROUTER)
        self.sock.bind(self.endpoint)
        self.peer = b""
        self.seq = 0

    async def accept_client(self) -> None:
        self.peer, _ = await self.sock.recv_multipart()
        await self.send(protocol.ServerHello(pid=os.getpid()))

    async def send(self, message: protocol.Message) -> None:
        await self.send_raw(protocol.encode(message, self.seq))
        self.seq += 1

    async def send_raw(self, data: bytes) -> None:
        await self.sock.send_multipart([self.peer, data])

    async def next_request(self) -> protocol.Message:
        _, data = await self.sock.recv_multipart()
        return protocol.decode_to_transport(data)[1]

    def close(self) -> None:
        self.sock.close(linger=0)
        self.context.term()
        shutil.rmtree(self.dir)


def test_the_main_process_counts_and_drops_garbage_and_keeps_delivering_good_messages():
    async def scenario():
        fake = HostileTransport()
        connecting = asyncio.ensure_future(TransportClient.connect(fake.endpoint))
        await fake.accept_client()
        client = await connecting
        pc = RTCPeerConnection({"iceServers": [{"urls": "stun:stun.example.org"}]}, transport=client)
        errors = []
        pc.onicecandidateerror = errors.append
        gathering = asyncio.ensure_future(pc.gather())
        request = await fake.next_request()
        assert isinstance(request, protocol.Gather)
        pc_id = request.pc_id

        good_error = IceCandidateErrorInfo("127.0.0.1", 5000, "stun:stun.example.org", 701, "no response")
        await fake.send(protocol.GatheringState(pc_id, "gathering"))
        await fake.send_raw(b"\xc1\xc1 not msgpack")
        await fake.send_raw(msgpack.packb({"type": "candidate_error", "seq": fake.seq, "pc_id": pc_id,
                                           "info": {"address": "x", "port": -1}}))
        await fake.send_raw(protocol.encode(protocol.GatheringState(pc_id, "gathering"), 0))  # a replay
        await fake.send(protocol.CandidateError(pc_id + 100, good_error))  # a peer connection that never was
        await fake.send(protocol.CandidateError(pc_id, good_error))
        await fake.send(protocol.GatheringState(pc_id, "complete"))
        await fake.send(protocol.CandidateError(pc_id, good_error))  # after "complete": not allowed
        await fake.send(protocol.Candidate(pc_id, CandidateInfo("candidate:1 1 udp 1 127.0.0.1 9 typ host")))
        await asyncio.wait_for(gathering, 5)
        await asyncio.sleep(0.1)
        rejected = client.rejected
        client.close()
        fake.close()
        return errors, rejected, pc.iceGatheringState

    errors, rejected, state = asyncio.run(scenario())
    assert [(e.errorCode, e.errorText) for e in errors] == [(701, "no response")]
    assert state == "complete"
    # Not msgpack, invalid fields, a replayed seq, an unknown pc_id, and two messages after "complete".
    assert rejected == 6


def test_the_transport_survives_garbage_and_still_serves_a_well_behaved_client():
    async def scenario():
        transport = await TransportClient.start()
        context = zmq.asyncio.Context()
        rogue = context.socket(zmq.DEALER)
        rogue.connect(transport.process.endpoint)
        for frame in (b"", b"\xc1", msgpack.packb({"type": "gather", "seq": 0}), msgpack.packb([1, 2]),
                      msgpack.packb({"type": "close", "seq": 1, "pc_id": 1})):  # close before hello
            await rogue.send(frame)
        await rogue.send_multipart([b"two", b"frames"])
        rogue.close(linger=0)
        context.term()
        try:
            recording = await record_gathering({"iceServers": [{"urls": "stun:stun1.invalid"}]}, transport=transport)
        finally:
            transport.close()
        return recording

    recording = asyncio.run(scenario())
    assert [e.errorCode for e in recording.errors] == [701]


def test_a_transport_killed_mid_gathering_ends_the_gathering_with_transport_error(silent_udp_server):
    async def scenario():
        pc = RTCPeerConnection({"iceServers": [{"urls": f"stun:127.0.0.1:{silent_udp_server.port}"}]},
                               options=LOOPBACK)
        gathering = asyncio.ensure_future(pc.gather())
        while pc.iceGatheringState != "gathering":
            await asyncio.sleep(0.01)
        os.kill(pc.transport.transport_pid, signal.SIGKILL)
        with pytest.raises(TransportError) as caught:
            await asyncio.wait_for(gathering, 5)
        pc.close()
        return str(caught.value)

    message = asyncio.run(scenario())
    assert "killed by SIGKILL" in message
