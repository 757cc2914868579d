"""A one-line "still waiting" indicator for a terminal.

A dead server can take seconds to give up on; without a sign of life a person thinks the tool
hangs. The line is redrawn in place and cleared before any other output, so it never mixes
with the records. The command line uses it only when stdout is a terminal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TextIO

FRAMES = "|/-\\"
CLEAR_LINE = "\r\033[K"


class ProgressLine:
    def __init__(self, out: TextIO, describe: Callable[[], str], interval: float = 0.1) -> None:
        self.out = out
        self.describe = describe
        self.interval = interval
        self._shown = False
        self._task: asyncio.Task[None] | None = None
        self._started = time.monotonic()

    def start(self) -> None:
        self._started = time.monotonic()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        frame = 0
        while True:
            await asyncio.sleep(self.interval)
            elapsed = time.monotonic() - self._started
            self.out.write(f"{CLEAR_LINE}{FRAMES[frame % len(FRAMES)]} {self.describe()} ({elapsed:.1f} s)")
            self.out.flush()
            self._shown = True
            frame += 1

    def clear(self) -> None:
        if self._shown:
            self.out.write(CLEAR_LINE)
            self._shown = False

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.clear()
