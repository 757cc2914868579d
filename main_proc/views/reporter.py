"""Writes a gathering's records as they come: as lines for a person (``text_lines``), or as
NDJSON for a program (``--json``). The only I/O of the views."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TextIO

from icegather.main_proc.views.report import Tally, schema_name
from icegather.main_proc.views.text_lines import IN_SUMMARY_ONLY, format_line


class Reporter:
    """Writes records as they come, as lines or as NDJSON. ``before_write`` runs before each
    write (the progress line uses it to clear itself)."""

    def __init__(self, out: TextIO, as_json: bool, before_write: Callable[[], None] = lambda: None) -> None:
        self.out = out
        self.as_json = as_json
        self.before_write = before_write
        self.tally = Tally()

    def show(self, record: dict[str, Any]) -> None:
        """Write one record (the round's ``observe_round`` keeps the tally); as a line, unless the
        summary tells it."""
        if not self.as_json and schema_name(record) in IN_SUMMARY_ONLY:
            return
        text = json.dumps(record, ensure_ascii=False) if self.as_json else format_line(record)
        self.before_write()
        self.out.write(text + "\n")
        self.out.flush()
