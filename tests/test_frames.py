"""Frames: what one event-loop turn makes goes out as one ZeroMQ message, and each message in it
is still numbered, validated and delivered (or refused) on its own."""

from __future__ import annotations

import asyncio

import pytest
import zmq
import zmq.asyncio
from fake_transport import HostileTransport, lingerless_context
from test_service import running_service
from test_supervision import GOOD_ERROR, peer_connection_on_a_fake

from icegather.main_proc.link.supervision import Supervision
from icegather.main_proc.link.transport_client import TransportClient
from icegather.main_proc.link.transport_error import TransportError
from icegather.shared import protocol
from icegather.shared.config.gather_options import GatherOptions
from icegather.shared.config.ice_config import parse_configuration
from icegather.shared.protocol import (
    MAX_FRAME_BYTES,
    MAX_FRAME_MESSAGES,
    Inbox,
    Outbox,
    ProtocolError,
    decode_to_main,
    decode_to_transport,
    encode,
)


def errors(count: int) -> list[protocol.Message]:
    return [protocol.CandidateError(1, GOOD_ERROR) for _ in range(count)]


def test_an_outbox_numbers_its_messages_and_packs_what_waits_into_one_frame():
    outbox = Outbox()
    for message in [protocol.Heartbeat(), *errors(2)]:
        outbox.put(message)

    frames = outbox.take_frames()

    assert len(frames) == 1
    assert list(decode_to_main(frames[0])) == [(0, protocol.Heartbeat()), *zip((1, 2), errors(2), strict=True)]
    assert outbox.empty and outbox.take_frames() == []
    outbox.put(protocol.Heartbeat())
    assert list(decode_to_main(outbox.take_frames()[0])) == [(3, protocol.Heartbeat())]  # numbering goes on


def test_an_outbox_says_when_a_full_frame_waits_so_that_it_can_leave_before_the_turn_ends():
    outbox = Outbox()
    full = [outbox.put(message) for message in errors(MAX_FRAME_MESSAGES)]

    assert full == [False] * (MAX_FRAME_MESSAGES - 1) + [True]
    assert len(outbox.take_frames()) == 1
    assert outbox.put(protocol.Heartbeat()) is False  # counting starts again


def test_a_burst_that_starts_with_a_small_frame_doubles_each_next_one_up_to_the_limit_and_starts_small_again():
    outbox = Outbox(first_frame=16)
    sizes, waiting = [], 0
    for message in errors(16 + 32 + 64 + 128 + 2 * MAX_FRAME_MESSAGES):
        waiting += 1
        if outbox.put(message):  # a full frame leaves at once, as the senders do
            assert len(outbox.take_frames()) == 1
            sizes.append(waiting)
            waiting = 0

    assert sizes == [16, 32, 64, 128, MAX_FRAME_MESSAGES, MAX_FRAME_MESSAGES]
    outbox.put(protocol.Heartbeat())
    outbox.take_frames()  # the end of a turn: taken short, the burst is over
    assert [outbox.put(message) for message in errors(16)] == [False] * 15 + [True]
    for impossible in (0, MAX_FRAME_MESSAGES + 1):  # never full, or full past what a frame holds
        with pytest.raises(ValueError):
            Outbox(first_frame=impossible)


def test_an_outbox_splits_a_burst_at_the_message_limit():
    outbox = Outbox()
    for message in errors(2 * MAX_FRAME_MESSAGES + 10):
        outbox.put(message)

    frames = outbox.take_frames()

    assert [len(list(decode_to_main(frame))) for frame in frames] == [MAX_FRAME_MESSAGES, MAX_FRAME_MESSAGES, 10]
    inbox = Inbox(decode_to_main)
    assert sum(1 for frame in frames for _ in inbox.read(frame)) == 2 * MAX_FRAME_MESSAGES + 10  # in sequence


def test_an_outbox_splits_a_burst_at_the_byte_limit():
    servers = [{"urls": f"stun:{'s' * 200}{n}.example.org"} for n in range(8)]  # about 1.8 kB a request
    gather = protocol.Gather(1, parse_configuration({"iceServers": servers}), GatherOptions())
    outbox = Outbox()
    for _ in range(MAX_FRAME_MESSAGES):
        outbox.put(gather)

    frames = outbox.take_frames()

    assert len(frames) > 1
    assert all(len(frame) <= MAX_FRAME_BYTES for frame in frames)
    assert sum(len(list(decode_to_transport(frame))) for frame in frames) == MAX_FRAME_MESSAGES


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (encode(protocol.Heartbeat(), 0) + b"\xc1", "not msgpack"),  # a byte msgpack never uses
        (encode(protocol.Heartbeat(), 0) + b"\x81\xa4type", "ends inside a message"),
        (b"".join(encode(message, seq) for seq, message in enumerate(errors(MAX_FRAME_MESSAGES + 1))), "at most 256"),
        (b"\xc0" * (MAX_FRAME_BYTES + 1), "at most 262144 bytes"),
    ],
    ids=["garbage after a message", "truncated", "too many messages", "too big"],
)
def test_a_frame_that_breaks_the_framing_is_refused(frame, reason):
    with pytest.raises(ProtocolError, match=reason):
        list(decode_to_main(frame))


def test_the_messages_before_a_bad_one_in_a_frame_are_read_and_the_rest_are_not():
    bad = encode(protocol.CandidateError(1, GOOD_ERROR), 1).replace(b"127.0.0.1", b"127.0.0.x")
    frame = encode(protocol.Heartbeat(), 0) + bad + encode(protocol.Heartbeat(), 2)
    read = []

    with pytest.raises(ProtocolError, match="is not an IP address"):
        for message in Inbox(decode_to_main).read(frame):
            read.append(message)

    assert read == [protocol.Heartbeat()]


def test_the_main_process_delivers_a_frames_events_up_to_a_bad_message_and_then_trusts_nothing():
    async def scenario() -> tuple[str, int]:
        fake, client, pc = await peer_connection_on_a_fake(Supervision(0, 0))
        delivered = []
        pc.onicecandidateerror = delivered.append
        gathering = asyncio.ensure_future(pc.gather())
        pc_id = (await fake.next_request()).pc_id
        seq = fake.seq
        good = protocol.CandidateError(pc_id, GOOD_ERROR)
        frame = b"".join([
            encode(protocol.GatheringState(pc_id, "gathering"), seq),
            encode(good, seq + 1),
            encode(good, seq + 1),  # a replay
            encode(good, seq + 2),
        ])
        await fake.send_raw(frame)
        with pytest.raises(TransportError) as caught:
            await asyncio.wait_for(gathering, 5)
        pc.close()
        client.close()
        fake.close()
        return str(caught.value), len(delivered)

    reason, delivered = asyncio.run(scenario())

    assert "sequence number" in reason and "already used" in reason
    assert delivered == 1


def test_what_the_transport_makes_in_one_turn_reaches_the_client_as_one_frame(tmp_path):
    socket_path = tmp_path / "service" / "transport"
    configuration = parse_configuration({"iceServers": [{"urls": "stun:stun1.invalid"}]})

    async def scenario() -> list[protocol.Message]:
        context = lingerless_context()
        client = context.socket(zmq.DEALER)
        client.connect(f"ipc://{socket_path}")
        # The second gather reuses the pc_id: the transport refuses it in the same turn in which
        # it greets, so its answer to this one frame is one frame.
        requests = [protocol.ClientHello(), *[protocol.Gather(1, configuration, GatherOptions())] * 2]
        await client.send(b"".join(encode(message, seq) for seq, message in enumerate(requests)))
        first = await asyncio.wait_for(client.recv(), 10)
        client.close(linger=0)
        context.term()
        return [message for _, message in decode_to_main(first)]

    with running_service("--bind", f"ipc://{socket_path}", ready=socket_path):
        answered = asyncio.run(scenario())

    assert [type(message) for message in answered] == [protocol.ServerHello, protocol.GatherRejected]
    assert answered[1] == protocol.GatherRejected(1, "this id is already in use")


def test_a_hostile_transport_cannot_greet_with_more_than_its_hello():
    async def scenario() -> str:
        fake = HostileTransport()
        connecting = asyncio.ensure_future(TransportClient.connect(fake.endpoint, supervision=Supervision(0, 0)))
        fake.peer, _ = await fake.sock.recv_multipart()
        await fake.send_raw(encode(protocol.ServerHello(pid=1), 0) + encode(protocol.Heartbeat(), 1))
        with pytest.raises(TransportError) as caught:
            await connecting
        fake.close()
        return str(caught.value)

    assert asyncio.run(scenario()) == "the transport greeted with ServerHello, Heartbeat"
