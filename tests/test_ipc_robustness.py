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
from gathering_helpers import LOOPBACK, record_gathering

from icegather.main_proc.peerconnection import RTCPeerConnection
from icegather.main_proc.supervision import TransportError
from icegather.main_proc.transport_client import TransportClient


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
