"""Where the transports a main process starts keep their IPC sockets: one directory each,
``TMP/icegather-UID/transport-XXXXXXXX``, in a parent of this user's that holds nothing else.
Both processes agree on it: the main process makes the directories, and a confined transport
may remove its own (its sandbox grants that in this parent only)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PREFIX = "transport-"


def runtime_parent() -> Path:
    return Path(tempfile.gettempdir(), f"icegather-{os.getuid()}")


def is_transport_runtime_dir(directory: Path) -> bool:
    """Whether ``directory`` is one a main process made for a transport of its own."""
    return directory.parent == runtime_parent() and directory.name.startswith(PREFIX)
