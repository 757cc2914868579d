"""The transport survives garbage from a client; the main process notices a dead transport.
(What the main process does with a misbehaving transport: test_supervision.py.)"""

from __future__ import annotations

import asyncio
import os
import signal

import msgpack
import pytest
import zmq
import zmq.asyncio
from gathering_helpers import LOOPBACK
from test_service import a_rogue_client_then_a_gathering, running_service

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.transport_error import TransportError
from icegather.shared import protocol

GARBAGE = (
    b"",  # not msgpack
    b"\xc1",  # a byte msgpack never uses
    msgpack.packb({"type": "gather", "seq": 0}),  # fields missing
    msgpack.packb([1, 2]),  # not a map
    msgpack.packb({"type": "close", "seq": 1, "pc_id": 1}),  # skips seq 0 (and comes before hello)
)


def test_the_transport_rejects_and_counts_garbage_and_still_serves_a_well_behaved_client(tmp_path):
    endpoint = f"ipc://{tmp_path}/run/transport"

    async def misbehave(rogue: zmq.asyncio.Socket) -> protocol.Message:
        for frame in GARBAGE:
            await rogue.send(frame)
        await rogue.send_multipart([b"two", b"frames"])
        # A hello on the same connection, after the garbage: its answer proves that the
        # transport read every frame before it. Refused messages leave no client state
        # behind, so the hello starts at seq 0.
        await rogue.send(protocol.encode(protocol.ClientHello(), 0))
        return next(protocol.decode_to_main(await asyncio.wait_for(rogue.recv(), 10)))[1]

    with running_service("--bind", endpoint, ready=tmp_path / "run" / "transport") as process:
        hello, recording = asyncio.run(a_rogue_client_then_a_gathering(endpoint, misbehave))
    log = process.stderr.read()

    assert isinstance(hello, protocol.ServerHello)
    assert "rejected a message (6 so far)" in log and "rejected a message (7 so far)" not in log
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
