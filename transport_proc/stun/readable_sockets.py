"""The transport's UDP sockets, watched for datagrams through one epoll of their own, which the
event loop watches in turn.

A gathering opens a few sockets and closes them milliseconds later. Registering each with the
event loop (``add_reader``) and removing it again costs about 14 us a socket in Python, more
than the socket's own system calls, and every datagram then takes its own trip through the
loop's queue of callbacks. Here a socket goes in and out with one ``epoll_ctl`` each (about
2 us), and one callback of the loop reads every socket that has a datagram waiting.

Level-triggered, as the loop's own: a socket with more datagrams waiting is read again on the
next turn (a channel reads what is queued at once only when asked: ``Channel.read_queued``),
and at most ``MOST_AT_ONCE`` sockets are read in one, so that a flood cannot keep
the loop from everything else. The epoll is made with the first socket and closed with the
last, so that no file outlives the sockets it watches.
"""

from __future__ import annotations

import asyncio
import select
import weakref
from collections.abc import Callable

MOST_AT_ONCE = 256


class ReadableSockets:
    """The sockets one event loop reads, each with the callback that reads it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weakly: the registry below keys watchers by their loop, weakly, and would never let go
        # of a loop its own watcher held.
        self._loop = weakref.ref(loop)
        self._epoll = select.epoll()
        self._readers: dict[int, Callable[[], object]] = {}
        loop.add_reader(self._epoll.fileno(), self._read)

    def watch(self, fd: int, reader: Callable[[], object]) -> None:
        """Call ``reader`` whenever ``fd`` has something to read (or an error queued)."""
        try:
            self._epoll.register(fd, select.EPOLLIN)
        except OSError:
            self._close_if_idle()
            raise
        self._readers[fd] = reader

    def forget(self, fd: int) -> None:
        """Stop watching ``fd``; before it is closed, as its number may be reused at once."""
        if self._readers.pop(fd, None) is None:
            return
        try:
            self._epoll.unregister(fd)
        finally:
            self._close_if_idle()

    def _close_if_idle(self) -> None:
        if self._readers or self._epoll.closed:
            return
        loop = self._loop()
        if loop is not None:
            if _each_loop.get(loop) is self:
                del _each_loop[loop]
            loop.remove_reader(self._epoll.fileno())
        self._epoll.close()

    def _read(self) -> None:
        for fd, _ in self._epoll.poll(0, MOST_AT_ONCE):
            # A reader earlier in this batch may have closed this socket: it is no longer here.
            reader = self._readers.get(fd)
            if reader is None:
                continue
            try:
                reader()
            except Exception as error:  # a bug in one socket's reader: the others are still read
                loop = self._loop()
                if loop is not None:
                    loop.call_exception_handler({"message": f"reading socket {fd} failed", "exception": error})


_each_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReadableSockets] = weakref.WeakKeyDictionary()


def readable_sockets(loop: asyncio.AbstractEventLoop) -> ReadableSockets:
    """The loop's watcher, made when there is none (no socket of it is watched)."""
    watcher = _each_loop.get(loop)
    if watcher is None:
        watcher = _each_loop[loop] = ReadableSockets(loop)
    return watcher
