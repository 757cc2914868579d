"""Tests marked ``timing`` run alone: with no other test beside them on pytest-xdist's workers.

The suite runs on two workers (``-n 2`` in pyproject.toml), because most of its time is spent
waiting on real servers and timeouts. A test that measures real time (a path's delay and
jitter, a page's spread of answers, a probe's budget) would read the other worker's load as
its own, so it holds the room alone, and every other test shares it.

Two ``flock`` locks make a readers-writer lock that lets a waiting ``timing`` test in first:
the turnstile, which both kinds pass through, and the room. A ``timing`` test keeps the
turnstile until it has the room to itself, so the other worker, queued at the turnstile,
cannot keep the room taken with one test after another. Each worker opens the two files when
it starts and unlinks them when it ends: the other one's locks hold on the files it has open.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Room:
    turnstile: int
    room: int

    @contextlib.contextmanager
    def held(self, alone: bool) -> Iterator[None]:
        fcntl.flock(self.turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(self.room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(self.turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(self.room, fcntl.LOCK_UN)


def lock_paths(run_id: str) -> tuple[Path, Path]:
    base = Path(tempfile.gettempdir())
    return base / f"icegather-tests-{run_id}.turnstile", base / f"icegather-tests-{run_id}.room"


def open_room() -> Room | None:
    """This worker's way into the room; None outside pytest-xdist, where tests run one by one."""
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id is None:
        return None
    turnstile, room = (os.open(path, os.O_RDWR | os.O_CREAT, 0o600) for path in lock_paths(run_id))
    return Room(turnstile, room)


def close_room(room: Room) -> None:
    os.close(room.turnstile)
    os.close(room.room)
    for path in lock_paths(os.environ["PYTEST_XDIST_TESTRUNUID"]):
        path.unlink(missing_ok=True)
