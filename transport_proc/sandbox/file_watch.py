"""Watching the files the sandbox holds open by inode for a replacement it cannot follow.

Landlock grants reading ``/etc/hosts``, ``/etc/resolv.conf``... and the CA certificates'
bundle by the file (the inode) that the path named when the rule was made, not by the name.
NetworkManager, systemd-resolved, DHCP clients and ``sed -i`` replace the resolver's files by
renaming a new one over them, and ``update-ca-certificates`` the bundle; glibc notices the
change and rereads the new file, which the confined transport may not open, and every lookup
then fails (a TLS context made later could not read the new bundle either). Nothing can widen a
Landlock domain once it is in force, so the transport, told of such a replacement, restarts:
the service stops taking jobs, lets the running ones finish and exits with ``EX_TEMPFAIL``
(75), and a new transport reads the new file (``service.py``). Each set of files is watched
for its own cause (``shared.protocol.restart_causes``), which the transport tells its clients.

What each path names (``stat``, which Landlock does not cover, following a symbolic link as
glibc's open does) is noted just before the rules are made, and compared with what it names
now every ``POLL_INTERVAL`` seconds, as glibc itself checks ``resolv.conf`` before a lookup: a
file written in place keeps its inode and its rule; one renamed over, or made where there was
none, is replaced (``replaced``, a pure function). Polling, not inotify: an inotify descriptor
with watches takes an RCU grace period to close (5 to 20 ms measured, at every exit, which a
one-shot check waits for), and a watch on ``/etc`` sends every access there, by any process
on the machine, through the kernel's notification marks. A replacement is seen within a
second; a lookup in between fails as it would have before the watch was noticed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping

from icegather.shared.protocol.restart_causes import RestartCause

# How often the watched files are looked at: 6 stat calls, a few microseconds.
POLL_INTERVAL = 1.0

# A file as (st_dev, st_ino); None where the path names nothing.
Identity = tuple[int, int] | None


def replaced(recorded: Mapping[str, Identity], now: Mapping[str, Identity]) -> tuple[str, ...]:
    """The files that now name another file than the one their Landlock rule holds. A file
    that is gone is not among them: a new transport could not read it either (glibc then uses
    its defaults, as any program would); one made where there was none is."""
    return tuple(path for path, identity in now.items() if identity is not None and identity != recorded.get(path))


def restart_cause(replaced_files: Iterable[str], causes: Mapping[str, RestartCause]) -> RestartCause:
    """The cause a restart for ``replaced_files`` is told with: that of the first set of files
    (in the order they were watched) that has one of them."""
    found = set(replaced_files)
    return next(cause for path, cause in causes.items() if path in found)


def identity(path: str) -> Identity:
    """What ``path`` names now, following symbolic links as glibc's open does."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


class FileWatch:
    """What the watched files named when their rules were made; ``follow`` looks again every
    ``interval`` seconds and reports, once, the files replaced by ones the sandbox cannot read,
    and why the transport restarts."""

    def __init__(self, recorded: dict[str, Identity], causes: dict[str, RestartCause], interval: float) -> None:
        self._recorded = recorded
        self._causes = causes  # each watched file's, in the order the sets were given
        self._interval = interval
        self._next: asyncio.TimerHandle | None = None

    @classmethod
    def open(cls, files: Mapping[RestartCause, Iterable[str]], interval: float = POLL_INTERVAL) -> FileWatch:
        """Note what each of ``files`` names now, each set with its cause: call it just before
        the Landlock rules are made, so that a replacement in between is seen as one."""
        causes = {path: cause for cause, paths in files.items() for path in paths}
        return cls({path: identity(path) for path in causes}, causes, interval)

    def follow(self, on_replaced: Callable[[RestartCause, tuple[str, ...]], None]) -> None:
        """Look at the files on the running loop every ``interval`` seconds; call
        ``on_replaced`` with the cause and the replaced files, once: the transport is
        restarting after that."""
        loop = asyncio.get_running_loop()

        def look() -> None:
            found = replaced(self._recorded, {path: identity(path) for path in self._recorded})
            if found:
                self._next = None
                on_replaced(restart_cause(found, self._causes), found)
            else:
                self._next = loop.call_later(self._interval, look)

        self._next = loop.call_later(self._interval, look)

    def close(self) -> None:
        if self._next is not None:
            self._next.cancel()
            self._next = None
