"""Finding the processes a test's subject started, from /proc."""

from __future__ import annotations

import os


def transport_processes_of(pid: int) -> list[int]:
    """The child processes of ``pid`` that run the transport (not, say, the session's coturn)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    command = cmdline.read()
            except OSError:
                continue
            if parent == pid and b"transport_proc" in command:
                found.append(int(entry))
    return found
