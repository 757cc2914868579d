"""The ``--html`` page on disk: always written whole (a browser that reloads it while ``--watch``
rewrites it never sees half a page), and during ``--watch`` rewritten after a round only when
the last write is ``REWRITE_AFTER_S`` old, and once more at the end."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Sequence

from icegather.main_proc.views.page.round_window import Record, RoundWindow
from icegather.main_proc.views.page.timeline_page import timeline_page

# Rounds against a nearby server take about a millisecond, and writing the page about as long:
# rewriting it after each of them would double the cost of --watch 0 for a page no one can
# reload that often.
REWRITE_AFTER_S = 1.0


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to a new file beside ``path`` and rename it over ``path``. ``OSError`` as
    ``open`` raises it; no temporary file is left behind."""
    directory, name = os.path.split(os.path.abspath(path))
    # A fresh name, opened with "x": never another process's file, and the umask applies as to
    # a file written in place.
    temporary = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(temporary, "x", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def rewrite_due(now: float, written_at: float | None) -> bool:
    return written_at is None or now - written_at >= REWRITE_AFTER_S


class PageFile:
    """The page of a run at ``path``: ``round_ended`` after each round, ``flush`` when the run
    ends, however it ends (its last rounds may not be drawn yet)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.window = RoundWindow()
        self._written_at: float | None = None
        self._behind = False

    def round_ended(self, records: Sequence[Record], summary: Record) -> None:
        self.window.add(records, summary)
        self._behind = True
        if rewrite_due(time.monotonic(), self._written_at):
            self.flush()

    def flush(self) -> None:
        if self._behind:
            write_atomically(self.path, timeline_page(self.window.records()))
            self._written_at = time.monotonic()
            self._behind = False
