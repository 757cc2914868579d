"""The NDJSON records' schema: one naming style for every key, and a table in the command line
guide that names every key icegather writes."""

from __future__ import annotations

import re
from pathlib import Path

from icegather.main_proc.views.report import (
    DIAGNOSIS_FIELDS,
    FINDING_FIELDS,
    OTHER_ERROR_FIELDS,
    QUALITY_FIELDS,
    RECORD_FIELDS,
    RELAY_ROW_FIELDS,
    SERIES_FIELDS,
    SERVER_FIELDS,
)

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "command-line.md"
EVERY_KEY = {key for keys in RECORD_FIELDS.values() for key in keys} | {
    *SERVER_FIELDS, *OTHER_ERROR_FIELDS, *RELAY_ROW_FIELDS, *DIAGNOSIS_FIELDS, *FINDING_FIELDS, *QUALITY_FIELDS,
    *SERIES_FIELDS,
}


def test_every_key_icegather_writes_is_camel_case():
    assert [key for key in sorted(EVERY_KEY) if not re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", key)] == []


def test_the_schema_table_in_the_guide_names_every_key_icegather_writes():
    section = GUIDE.read_text(encoding="utf-8").split("### The schema", 1)[1].split("```", 1)[0]
    named = {key for row in section.splitlines() if row.startswith("| `")
             for key in re.findall(r"`(\w+)`", row.split(" | ")[0])}

    assert EVERY_KEY - named == set()
    assert named - EVERY_KEY == set()
