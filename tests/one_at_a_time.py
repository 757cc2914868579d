"""Tests marked ``timing`` run alone: with no other test beside them on pytest-xdist's workers.

The suite runs on two workers (``-n 2`` in pyproject.toml), because most of its time is spent
waiting on real servers and timeouts. A test that measures real time (a path's delay and
jitter, a page's spread of answers, a probe's budget) would read the other worker's load as
its own, so it holds the room alone, and every other test shares it.

Two ``flock`` locks make a readers-writer lock that lets a waiting ``timing`` test in first:
the turnstile, which both kinds pass through, and the room. A ``timing`` test keeps the
turnstile until it has the room to itself, so the other worker, queued at the turnstile,
cannot keep the room taken with one test after another. Timing tests that a worker runs in a row
(those of one module, mostly) keep the room between them: each way in waits for the other
worker's test to end. Each worker opens the two files when it starts and unlinks them when it
ends: the other one's locks hold on the files it has open.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


class Room:
    """One worker's way into the room: its own open files of the two locks."""

    def __init__(self, turnstile: int, room: int, paths: tuple[Path, Path]) -> None:
        self.turnstile = turnstile
        self.room = room
        self.paths = paths
        self.alone = False  # inside alone, from a timing test that the next one follows

    def enter(self, alone: bool) -> None:
        if alone and self.alone:
            return  # still inside alone: timing tests in a row keep the room
        if self.alone:
            # Kept for a timing test that did not come: out first, or this worker would wait at
            # the turnstile for a room it holds itself.
            self.leave()
        fcntl.flock(self.turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(self.room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(self.turnstile, fcntl.LOCK_UN)
        self.alone = alone

    def leave(self) -> None:
        fcntl.flock(self.room, fcntl.LOCK_UN)
        self.alone = False

    @contextlib.contextmanager
    def held(self, alone: bool, keep: bool = False) -> Iterator[None]:
        """Inside for the block; ``keep`` stays inside alone after it, for the timing test
        that comes next."""
        self.enter(alone)
        try:
            yield
        finally:
            if not keep:
                self.leave()


def lock_paths(run_id: str) -> tuple[Path, Path]:
    base = Path(tempfile.gettempdir())
    return base / f"icegather-tests-{run_id}.turnstile", base / f"icegather-tests-{run_id}.room"


def open_room() -> Room | None:
    """This worker's way into the room; None outside pytest-xdist, where tests run one by one."""
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id is None:
        return None
    paths = lock_paths(run_id)
    turnstile = os.open(paths[0], os.O_RDWR | os.O_CREAT, 0o600)
    try:
        room = os.open(paths[1], os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        os.close(turnstile)
        raise
    return Room(turnstile, room, paths)


def close_room(room: Room) -> None:
    os.close(room.turnstile)
    os.close(room.room)
    for path in room.paths:
        path.unlink(missing_ok=True)
