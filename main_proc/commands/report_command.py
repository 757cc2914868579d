"""``icegather report RUN.ndjson --html FILE``: a saved run (``icegather --json --trace``, or
``--watch``'s summaries) as a timeline page. A record whose fields the page cannot draw is left
out, and said so: on the page, on stderr and in the exit status (2)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any, TextIO

from icegather.main_proc.commands.page_file import write_atomically
from icegather.main_proc.credentials.secrets_input import BadInput
from icegather.main_proc.diagnosis.exit_status import EXIT_BAD_INPUT, EXIT_OK
from icegather.main_proc.views.page.drawable_records import drawable
from icegather.main_proc.views.page.timeline_page import timeline_page
from icegather.main_proc.views.report import RECORD_FIELDS, schema_name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="icegather report",
        description="Draw a saved run as a self-contained timeline page. Save a run with: "
        "icegather --json --trace ... > RUN.ndjson",
    )
    parser.add_argument("run", metavar="RUN.ndjson", help="the NDJSON records of a run")
    parser.add_argument("--html", metavar="FILE", required=True, help="where to write the page")
    return parser


SKIPPED_SHOWN = 5  # line numbers named in the message; the count says how many more


@dataclass(frozen=True)
class SavedRun:
    """The records of a saved run the page can draw, and the line numbers of those it cannot
    (a field of another type than icegather writes there)."""

    records: tuple[dict[str, Any], ...]
    skipped: tuple[int, ...]


def read_run(path: str) -> SavedRun:
    """The records of a saved run; ``BadInput`` names the first line that is not one, or says
    that none can be drawn."""
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not UTF-8 text") from None
    records, skipped = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            keys = RECORD_FIELDS.get(schema_name(record)) if isinstance(record, dict) else None
        except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested too deep
            keys = None
        if keys is None:
            raise BadInput(f"{path} line {number} is not a record of icegather --json")
        if tuple(record) != keys:
            raise BadInput(f"{path} line {number} ({record['type']}) has other keys than this version of icegather "
                           f"writes ({other_keys(record, keys)}): written by another version?")
        if drawable(record):
            records.append(record)
        else:
            skipped.append(number)
    if not records:
        raise BadInput(f"{path} has no records" + (" icegather can draw (edited by hand?)" if skipped else ""))
    return SavedRun(tuple(records), tuple(skipped))


def other_keys(record: dict[str, Any], keys: tuple[str, ...]) -> str:
    """How a record's keys differ from the schema's, briefly."""
    missing = [key for key in keys if key not in record][:3]
    unknown = [key for key in record if key not in keys][:3]
    parts = ([f"no {', '.join(map(repr, missing))}"] if missing else []) + (
        [f"unknown {', '.join(repr(key)[:40] for key in unknown)}"] if unknown else [])
    return "; ".join(parts) or "in another order"


def skipped_text(skipped: tuple[int, ...]) -> str:
    """The records left out, in one line."""
    lines = ", ".join(map(str, skipped[:SKIPPED_SHOWN])) + (", ..." if len(skipped) > SKIPPED_SHOWN else "")
    return (f"{len(skipped)} record{'s' * (len(skipped) > 1)} left out: a field is not what icegather writes "
            f"there (line{'s' * (len(skipped) > 1)} {lines}; edited by hand?)")


def run_report(argv: list[str], out: TextIO, err: TextIO) -> int:
    args = build_parser().parse_args(argv)
    try:
        run = read_run(args.run)
        notes = [skipped_text(run.skipped)] if run.skipped else []
        write_atomically(args.html, timeline_page(run.records, title=f"icegather: {args.run}", notes=notes))
    except BadInput as exc:
        err.write(f"icegather report: {exc}\n")
        return EXIT_BAD_INPUT
    except OSError as exc:
        err.write(f"icegather report: cannot write {args.html}: {exc.strerror}\n")
        return EXIT_BAD_INPUT
    if run.skipped:
        # A page, but not of the whole file: a script must not take it for one.
        err.write(f"icegather report: wrote {args.html} with {notes[0]}\n")
        return EXIT_BAD_INPUT
    out.write(f"icegather report: wrote {args.html}\n")
    return EXIT_OK
