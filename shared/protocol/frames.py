"""Frames: what one ZeroMQ message carries. Sans-IO.

A frame is one or more encoded messages back to back (a msgpack stream). A sender does not
send each message the moment it is made: an ``Outbox`` collects what one turn of the event
loop produces for one connection, and the socket edge sends it at the end of that turn as
one frame (or a few). A ZeroMQ send costs the sender, and a receive the receiver, about as
much as encoding or validating a message, so a burst of events (a thousand gatherings
answering at once) costs each side a fraction of what one ZeroMQ message per event would.
A message made alone still goes alone, one loop iteration later: nothing waits for company.
A sender that feeds the other side's work can make the first frame of a burst small
(``first_frame``), so that the receiver starts at once rather than after a full frame's making;
each next frame of the burst may then be twice as big, up to the limit.

Each message keeps its own ``seq`` and is validated on its own, when the receiver reaches
it; a frame only bounds what one receive may bring: ``MAX_FRAME_BYTES``,
``MAX_FRAME_MESSAGES``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgpack  # type: ignore[import-untyped]

from icegather.shared.protocol.checks import ProtocolError
from icegather.shared.protocol.codec import decode, encode
from icegather.shared.protocol.messages import TO_MAIN, TO_TRANSPORT, Message

MAX_FRAME_BYTES = 256 * 1024
MAX_FRAME_MESSAGES = 256


class Outbox:
    """The sending end of one direction of one connection: numbers the messages (``seq``,
    from 0) and packs what is waiting into frames. ``first_frame``: how many messages make
    the first frame of a burst full."""

    def __init__(self, first_frame: int = MAX_FRAME_MESSAGES) -> None:
        if not 1 <= first_frame <= MAX_FRAME_MESSAGES:
            raise ValueError(f"a first frame holds 1 to {MAX_FRAME_MESSAGES} messages, not {first_frame}")
        self.next_seq = 0
        self._waiting: list[bytes] = []
        self._first_frame = first_frame
        self._full_at = first_frame

    @property
    def empty(self) -> bool:
        return not self._waiting

    def put(self, message: Message) -> bool:
        """Queue a message; True when a full frame waits, to be sent now rather than at the
        end of the turn (so that the receiver starts on a long burst while it is made)."""
        self._waiting.append(encode(message, self.next_seq))
        self.next_seq += 1
        return len(self._waiting) == self._full_at

    def take_frames(self) -> list[bytes]:
        """Everything put since the last call, in order, as frames within the limits (a
        message bigger than a frame goes alone, for the receiver to refuse)."""
        # Taken full, the burst goes on, and its next frame may be bigger; taken short (at the
        # end of a turn of the loop), it is over.
        full = len(self._waiting) >= self._full_at
        self._full_at = min(2 * self._full_at, MAX_FRAME_MESSAGES) if full else self._first_frame
        frames: list[bytes] = []
        frame: list[bytes] = []
        size = 0
        for packed in self._waiting:
            if frame and (len(frame) == MAX_FRAME_MESSAGES or size + len(packed) > MAX_FRAME_BYTES):
                frames.append(b"".join(frame))
                frame, size = [], 0
            frame.append(packed)
            size += len(packed)
        if frame:
            frames.append(b"".join(frame))
        self._waiting = []
        return frames


def decode_to_transport(frame: bytes) -> Iterator[tuple[int, Message]]:
    """The messages of a frame the main process sent, each validated when it is reached (the
    first bad one raises ``ProtocolError``), with its ``seq``."""
    return (decode(envelope, TO_TRANSPORT) for envelope in unpack(frame))


def decode_to_main(frame: bytes) -> Iterator[tuple[int, Message]]:
    """The messages of a frame the transport sent, each validated when it is reached (the
    first bad one raises ``ProtocolError``), with its ``seq``."""
    return (decode(envelope, TO_MAIN) for envelope in unpack(frame))


def unpack(frame: bytes) -> list[Any]:
    """The msgpack objects of a frame, in order. Raises ``ProtocolError``."""
    if not isinstance(frame, bytes) or len(frame) > MAX_FRAME_BYTES:
        raise ProtocolError(f"a frame must be at most {MAX_FRAME_BYTES} bytes")
    try:
        try:
            return [msgpack.unpackb(frame, raw=False, strict_map_key=True)]  # the usual frame: one message
        except msgpack.ExtraData as more:
            objects, rest = [more.unpacked], more.extra
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=MAX_FRAME_BYTES)
        unpacker.feed(rest)
        end = 0
        for unpacked in unpacker:  # complete objects only
            objects.append(unpacked)
            end = unpacker.tell()
            if len(objects) > MAX_FRAME_MESSAGES:
                break
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise ProtocolError(f"not msgpack: {type(exc).__name__}") from None
    if len(objects) > MAX_FRAME_MESSAGES:
        raise ProtocolError(f"a frame must hold at most {MAX_FRAME_MESSAGES} messages")
    if end != len(rest):
        raise ProtocolError("a frame ends inside a message")
    return objects
