"""What the benchmarks and tests read about processes from /proc: CPU time, memory, and which
child process runs the transport."""

from __future__ import annotations

import os
import resource


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) used so far: by this process, or by ``pid`` from /proc."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident memory: of this process, or of ``pid`` from /proc (VmHWM)."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_kb(pid: int) -> int:
    """Resident memory now (VmRSS), in kB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1])


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
