"""The receiving end of one direction of one connection: sequence numbers, then messages."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from icegather.shared.protocol.checks import InvalidMessage, ProtocolError
from icegather.shared.protocol.messages import Message


class SequenceChecker:
    """Checks the ``seq`` numbers of one direction of one connection.

    Each message must carry the next number. A lower one is a replay or a duplicate; a higher
    one means messages were lost in between (counted in ``lost``). Either is a protocol error:
    a receiver must never act on a message twice, nor pretend that nothing was lost. After a
    gap the checker expects the number after the one it saw, so one loss is reported once.
    """

    def __init__(self) -> None:
        self.expected = 0
        self.lost = 0

    def check(self, seq: int) -> None:
        if seq < self.expected:
            raise ProtocolError(f"sequence number {seq} was already used")
        if seq > self.expected:
            missing = seq - self.expected
            self.lost += missing
            self.expected = seq + 1
            raise ProtocolError(f"{missing} message(s) lost before sequence number {seq}")
        self.expected = seq + 1


class Inbox:
    """The receiving end of one direction of one connection: decodes, validates and
    sequence-checks the messages of each frame (``frames``)."""

    def __init__(self, decode: Callable[[bytes], Iterator[tuple[int, Message]]]) -> None:
        self._decode = decode
        self.sequence = SequenceChecker()

    def read(self, frame: bytes) -> Iterator[Message]:
        """The frame's messages in order, each checked when it is reached: the first that
        fails raises ``ProtocolError``, and what follows it in the frame is not read."""
        try:
            for seq, message in self._decode(frame):
                self.sequence.check(seq)
                yield message
        except InvalidMessage as invalid:
            self.sequence.check(invalid.seq)  # used: the next message is not taken for lost
            raise
