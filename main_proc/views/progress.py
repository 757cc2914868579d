"""A one-line "still waiting" indicator for a terminal.

A dead server can take seconds to give up on; without a sign of life a person thinks the tool
hangs. The line names the slowest URL it waits on (``waiting_words``), is redrawn in place,
never wider than the terminal, and cleared before any other output, so it never mixes with the
records. The command line uses it only when stdout is a terminal.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from icegather.main_proc.diagnosis.servers.outcomes import ServerOutcome, server_names
from icegather.main_proc.views.text_lines import printable

FRAMES = "|/-\\"
CLEAR_LINE = "\r\033[K"


def progress_of(outcome: ServerOutcome) -> tuple[int, str]:
    """How far an unsettled URL has come, least first, and in words."""
    if not outcome.answered:
        return 0, "no answer yet"
    if "relay" not in outcome.gained:
        return 1, "answered, no relay yet"
    if not outcome.relay_checks:
        return 2, "relay check running"
    return 3, "quality stream running"


def waiting_words(outcomes: Sequence[ServerOutcome]) -> str:
    """How many URLs are still awaited, and the slowest of them: the one least far along (the
    first configured of those)."""
    pending = [outcome for outcome in outcomes if not outcome.settled]
    said = f"waiting for {len(pending)} of {len(outcomes)} server URLs"
    if not pending:
        return said
    slowest = min(pending, key=lambda outcome: progress_of(outcome)[0])
    name = server_names([(outcome.entry, outcome.url) for outcome in outcomes])[(slowest.entry, slowest.url)]
    which = ":" if len(pending) == 1 else ", the slowest"
    return f"{said}{which} {printable(name)} ({progress_of(slowest)[1]})"


def fitted(text: str, room: int) -> str:
    """``text`` cut to ``room`` characters, marked where it was cut: a line wider than the
    terminal would wrap, and its redraw would leave the wrapped part behind."""
    return text if len(text) <= room else text[: max(room - 1, 0)] + "…"


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
            elapsed = f" ({time.monotonic() - self._started:.1f} s)"
            room = shutil.get_terminal_size().columns - len(elapsed) - 3  # the frame, its space, the cursor
            self.out.write(f"{CLEAR_LINE}{FRAMES[frame % len(FRAMES)]} {fitted(self.describe(), room)}{elapsed}")
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
