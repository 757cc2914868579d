"""Waiting for several coroutines that run at once."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any


async def all_at_once(coroutines: Sequence[Coroutine[Any, Any, object]]) -> None:
    """Run ``coroutines`` at once and wait for every one. The usual single one is awaited as it
    is: a task and a gathering future for it would cost more than its own work."""
    if len(coroutines) == 1:
        await coroutines[0]
    else:
        await asyncio.gather(*coroutines)
