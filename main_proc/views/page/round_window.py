"""What the page of a run in progress draws, bounded however long the run: the summaries of the
last ``ROUNDS_DRAWN`` rounds and every record of the last round (its waterfall). ``--watch
--html`` keeps this instead of every record of every round."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from icegather.main_proc.views.page.timeline_page import ROUNDS_DRAWN

Record = Mapping[str, Any]


class RoundWindow:
    def __init__(self) -> None:
        self._summaries: deque[Record] = deque(maxlen=ROUNDS_DRAWN)
        self._last_round: Sequence[Record] = ()

    def add(self, records: Sequence[Record], summary: Record) -> None:
        """A round has ended: its records and its summary."""
        self._last_round = tuple(records)
        self._summaries.append(summary)

    def records(self) -> list[Record]:
        """The records for ``timeline_page``, in the order of a run's: the earlier rounds'
        summaries, then the last round with its summary."""
        summaries = list(self._summaries)
        return [*summaries[:-1], *self._last_round, *summaries[-1:]]
