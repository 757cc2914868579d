"""The suite's own rule for its two workers (``one_at_a_time``): a ``timing`` test runs alone,
and one that waits goes in before tests that came after it. Each "worker" here is a Room of
its own files, as each xdist worker opens them, driven from a thread."""

from __future__ import annotations

import fcntl
import os
import threading
import uuid
from collections.abc import Iterator

import pytest
from local_exporter import wait_for
from one_at_a_time import Room, close_room, lock_paths, open_room


@pytest.fixture
def rooms(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Room]]:
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", uuid.uuid4().hex)
    opened = [room for room in (open_room() for _ in range(3)) if room is not None]
    assert len(opened) == 3
    yield opened
    for room in opened:  # those a test left open
        close_room(room)


def enter(room: Room, alone: bool, inside: threading.Event, leave: threading.Event) -> threading.Thread:
    """A test on its worker, in the room until ``leave`` (longer than any check here waits, so
    that a wrong lock cannot pass by a test leaving on its own)."""

    def hold() -> None:
        with room.held(alone):
            inside.set()
            leave.wait(60)

    thread = threading.Thread(target=hold, daemon=True)  # a lock that hangs fails, not hangs
    thread.start()
    return thread


def join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()


def turnstile_taken(room: Room) -> bool:
    try:
        fcntl.flock(room.turnstile, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(room.turnstile, fcntl.LOCK_UN)
    return False


def test_tests_that_are_not_timed_share_the_room(rooms):
    first, second, _ = rooms
    inside = [threading.Event(), threading.Event()]
    leave = threading.Event()
    threads = [enter(first, False, inside[0], leave), enter(second, False, inside[1], leave)]

    assert inside[0].wait(10) and inside[1].wait(10)
    leave.set()
    join(threads)


def test_a_timed_test_waits_for_the_room_to_empty_and_then_keeps_out_tests_that_came_after_it(rooms):
    shared, timed, later = rooms
    shared_in, timed_in, later_in = threading.Event(), threading.Event(), threading.Event()
    shared_out, timed_out, later_out = threading.Event(), threading.Event(), threading.Event()
    threads = [enter(shared, False, shared_in, shared_out)]
    assert shared_in.wait(10)

    threads.append(enter(timed, True, timed_in, timed_out))
    # The timed test holds the turnstile while it waits for the room: the test after it queues.
    wait_for(lambda: turnstile_taken(later))
    assert not timed_in.is_set()
    threads.append(enter(later, False, later_in, later_out))
    assert not later_in.wait(0.2)  # queued at the turnstile, though the room is shared now

    shared_out.set()
    assert timed_in.wait(10)
    assert not later_in.wait(0.2)  # queued behind the timed test, which is alone in the room
    timed_out.set()
    assert later_in.wait(10)
    later_out.set()
    join(threads)


def test_closing_the_rooms_removes_the_lock_files(rooms):
    paths = lock_paths(os.environ["PYTEST_XDIST_TESTRUNUID"])
    assert all(path.exists() for path in paths)
    for room in rooms:
        close_room(room)
    rooms.clear()
    assert not any(path.exists() for path in paths)


def test_timing_tests_in_a_row_keep_the_room_between_them(rooms):
    timed, other, _ = rooms
    other_in, other_out = threading.Event(), threading.Event()
    with timed.held(alone=True, keep=True):
        pass
    thread = enter(other, False, other_in, other_out)  # comes between the two timing tests

    assert not other_in.wait(0.2)
    with timed.held(alone=True):  # the second: in at once, and it leaves the room
        assert not other_in.is_set()
    assert other_in.wait(10)
    other_out.set()
    join([thread])


def test_a_room_kept_for_a_timing_test_that_does_not_come_is_left_before_the_next_test_waits(rooms):
    kept, timed, _ = rooms
    with kept.held(alone=True, keep=True):
        pass
    timed_in, timed_out = threading.Event(), threading.Event()
    threads = [enter(timed, True, timed_in, timed_out)]
    wait_for(lambda: turnstile_taken(kept))  # the other worker's timing test waits for the room
    kept_in, kept_out = threading.Event(), threading.Event()
    threads.append(enter(kept, False, kept_in, kept_out))  # not a timing test after all

    assert timed_in.wait(10)  # the kept room was let go
    timed_out.set()
    assert kept_in.wait(10)
    kept_out.set()
    join(threads)
