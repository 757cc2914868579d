"""icegather runs on Linux only: the transport reads ICMP errors with ``IP_RECVERR``, and the
main process watches its transport through a pidfd (Linux 5.3; a thread where the kernel has
none). Elsewhere it says so once, clearly, instead of failing on the first missing system
call."""

from __future__ import annotations

import sys


def unsupported_platform(platform: str = sys.platform) -> str | None:
    """Why icegather cannot run on ``platform`` (this one by default), or None on Linux."""
    if platform.startswith("linux"):
        return None
    return f"this program runs on Linux only (it reads ICMP errors with IP_RECVERR); this system is {platform!r}"
