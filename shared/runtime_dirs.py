"""Where the transports a main process starts keep their IPC sockets: one directory each,
``PARENT/transport-XXXXXXXX``, in a parent of this user's that holds nothing else. Both
processes agree on it: the main process makes the directories, and a confined transport may
remove its own (its sandbox grants that in this parent only).

The parent is ``$XDG_RUNTIME_DIR/icegather-transports`` when that directory is set and usable
(the user's own, mode 0700, as systemd makes ``/run/user/UID``): nobody else can make a name in
it. Else it is ``TMP/icegather-UID``, a name anyone can take first in a shared temporary
directory; such a parent is refused, never used (``made_parent``).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

PREFIX = "transport-"
XDG_NAME = "icegather-transports"
# What to do about a parent that is not this user's alone, in the error that refuses it.
FIX_OWNER = "set XDG_RUNTIME_DIR to a directory of yours with mode 700 (systemd's /run/user/UID)"


class UnsafeRuntimeDir(OSError):
    """The parent exists, but is not a directory of this user's alone."""


def refusal(status: os.stat_result, uid: int) -> str | None:
    """Why a directory with ``status`` (``lstat``'s) may not hold user ``uid``'s sockets; None
    when it may: a directory (not a link to one), the user's, with no access for others."""
    if status.st_uid != uid:  # in a shared /tmp, only its owner (or root) can remove it
        return f"belongs to user {status.st_uid}, not to you ({uid}): {FIX_OWNER}"
    if not stat.S_ISDIR(status.st_mode):
        return "is not a directory: remove it"
    if status.st_mode & 0o077:
        return f"is open to others (mode {stat.S_IMODE(status.st_mode):o}): chmod 700 it"
    return None


def runtime_parent(environ: Mapping[str, str] = os.environ) -> Path:
    """The parent, as both processes find it."""
    xdg = environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(xdg):
        try:
            usable = refusal(os.lstat(xdg), os.getuid()) is None
        except OSError:
            usable = False
        if usable:
            return Path(xdg, XDG_NAME)
    return Path(tempfile.gettempdir(), f"icegather-{os.getuid()}")


def made_parent() -> Path:
    """The parent, made with mode 0700 if it does not exist (and kept); ``UnsafeRuntimeDir``
    with a one-line reason and its fix if it is anything else."""
    parent = runtime_parent()
    with contextlib.suppress(FileExistsError):
        os.mkdir(parent, 0o700)
    reason = refusal(os.lstat(parent), os.getuid())
    if reason is not None:
        raise UnsafeRuntimeDir(f"{parent} {reason}")
    return parent


def is_transport_runtime_dir(directory: Path) -> bool:
    """Whether ``directory`` is one a main process made for a transport of its own."""
    return directory.parent == runtime_parent() and directory.name.startswith(PREFIX)
