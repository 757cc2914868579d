"""Waiting, on the event loop, for what has no event of its own to await."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(holds: Callable[[], object], within: float = 10) -> None:
    """Let the loop run until ``holds()`` is true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not holds():
        assert time.monotonic() < deadline, "it never happened"
        await asyncio.sleep(0.01)
