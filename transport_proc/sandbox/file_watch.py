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

inotify through ctypes (two libc calls; the standard library has none, and a wrapper package
would add a dependency for them): the directories are watched, since a rename replaces the
directory's entry, not the file, for the watched names only. A file that is a symbolic link
(``/etc/resolv.conf`` -> ``/run/systemd/resolve/stub-resolv.conf``) has its target's directory
watched too. Every watch is added before confinement; once sealed, the event loop only reads
the descriptor. Which name changed is read from the events' bytes by ``changed_paths``, a pure
function; whether the sandbox can still read the file is then decided by comparing what each
path names now (``stat``, which Landlock does not cover) with what it named when the rule was
made (``replaced``): a file written in place keeps its inode and its rule.
"""
from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from icegather.shared.protocol.restart_causes import RestartCause
from icegather.transport_proc.sandbox.libc import checked, libc

logger = logging.getLogger(__name__)

# <sys/inotify.h>
IN_CLOSE_WRITE = 0x008
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_UNMOUNT = 0x2000
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
# A watched name written, renamed over, made or removed; the directory itself gone.
WATCHED_EVENTS = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF
# The directory's watch has ended: nothing more will be heard of its names.
WATCH_ENDED = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED
# struct inotify_event: wd, mask, cookie, len, then len bytes of name padded with NULs.
EVENT = struct.Struct("=iIII")
READ_SIZE = 65_536

# A file as (st_dev, st_ino); None where the path names nothing.
Identity = tuple[int, int] | None


@dataclass(frozen=True)
class WatchedDirectory:
    """One inotify watch: a directory, and the names in it that are watched files."""

    directory: str
    names: frozenset[str]

    def paths(self, names: Iterable[str]) -> set[str]:
        return {os.path.join(self.directory, name) for name in names}


def watched_directories(files: Iterable[str]) -> dict[str, frozenset[str]]:
    """For each directory to watch, the names in it: each file's own, and its symbolic link's
    final target's (a tool may replace either)."""
    directories: dict[str, set[str]] = {}
    for path in files:
        for name in dict.fromkeys((os.path.abspath(path), os.path.realpath(path))):
            directory, base = os.path.split(name)
            directories.setdefault(directory, set()).add(base)
    return {directory: frozenset(names) for directory, names in directories.items()}


def changed_paths(events: bytes, watches: Mapping[int, WatchedDirectory]) -> frozenset[str]:
    """The watched paths that ``events`` (what a read of the inotify descriptor gave) say may
    have changed: a watched name's event; every name of a directory whose watch ended; every
    name when the kernel's queue overflowed and events were lost."""
    changed: set[str] = set()
    offset = 0
    while offset + EVENT.size <= len(events):
        wd, mask, _cookie, length = EVENT.unpack_from(events, offset)
        start = offset + EVENT.size
        name = os.fsdecode(events[start : start + length].split(b"\0", 1)[0])
        offset = start + length
        if mask & IN_Q_OVERFLOW:
            for every in watches.values():
                changed |= every.paths(every.names)
            continue
        watched = watches.get(wd)
        if watched is None:
            continue
        changed |= watched.paths(watched.names if mask & WATCH_ENDED else watched.names & {name})
    return frozenset(changed)


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
    """inotify watches on the watched files' directories, made before confinement; ``follow``
    reports, once, the files replaced by ones the sandbox cannot read, and why it restarts."""

    def __init__(
        self, fd: int, watches: dict[int, WatchedDirectory], recorded: dict[str, Identity],
        causes: dict[str, RestartCause],
    ) -> None:
        self._fd = fd
        self._watches = watches
        self._recorded = recorded
        self._causes = causes  # each watched file's, in the order the sets were given
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def open(cls, files: Mapping[RestartCause, Iterable[str]]) -> FileWatch:
        """Watch each set of ``files``, and note what each file names now: call it just before
        the Landlock rules are made, so that a replacement in between is seen as one. A
        directory that does not exist is not watched (its files cannot appear without it).
        Raises ``OSError`` when no inotify descriptor can be had (the user's inotify instances
        used up)."""
        causes = {path: cause for cause, paths in files.items() for path in paths}
        fd = checked(libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC), "inotify_init1")
        watches: dict[int, WatchedDirectory] = {}
        try:
            for directory, names in watched_directories(causes).items():
                wd = libc.inotify_add_watch(fd, os.fsencode(directory), WATCHED_EVENTS | IN_ONLYDIR)
                if wd >= 0:
                    watches[wd] = WatchedDirectory(directory, names)
                elif ctypes.get_errno() != errno.ENOENT:  # the user's inotify watches used up
                    logger.warning("cannot watch %s (%s): a file replaced there is not followed",
                                   directory, os.strerror(ctypes.get_errno()))
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, watches, {path: identity(path) for path in causes}, causes)

    def follow(self, on_replaced: Callable[[RestartCause, tuple[str, ...]], None]) -> None:
        """Read events as the running loop finds them; call ``on_replaced`` with the cause and
        the replaced files, on the loop's thread, once: the transport is restarting after that."""
        loop = asyncio.get_running_loop()
        self._loop = loop

        def readable() -> None:
            found = self._read()
            if found:
                self._stop_reading()
                on_replaced(restart_cause(found, self._causes), found)

        loop.add_reader(self._fd, readable)

    def _read(self) -> tuple[str, ...]:
        changed: set[str] = set()
        while True:
            try:
                events = os.read(self._fd, READ_SIZE)
            except BlockingIOError:
                break
            changed |= changed_paths(events, self._watches)
        if not changed:
            return ()
        # Any change is checked against every file: a link's target stands for the link.
        return replaced(self._recorded, {path: identity(path) for path in self._recorded})

    def _stop_reading(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop = None

    def close(self) -> None:
        self._stop_reading()
        os.close(self._fd)
