"""``icegather report RUN.ndjson --html FILE``: a saved run (``icegather --json --trace``, or
``--watch``'s summaries) as a timeline page."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from icegather.main_proc.credentials.secrets_input import BadInput
from icegather.main_proc.diagnosis.exit_status import EXIT_BAD_INPUT, EXIT_OK
from icegather.main_proc.views.report import RECORD_FIELDS, schema_name
from icegather.main_proc.views.timeline_page import timeline_page


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="icegather report",
        description="Draw a saved run as a self-contained timeline page. Save a run with: "
        "icegather --json --trace ... > RUN.ndjson",
    )
    parser.add_argument("run", metavar="RUN.ndjson", help="the NDJSON records of a run")
    parser.add_argument("--html", metavar="FILE", required=True, help="where to write the page")
    return parser


def read_run(path: str) -> list[dict[str, Any]]:
    """The records of a saved run; ``BadInput`` names the first line that is not one."""
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not UTF-8 text") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            valid = isinstance(record, dict) and tuple(record) == RECORD_FIELDS.get(schema_name(record))
        except (ValueError, KeyError, TypeError):
            valid = False
        if not valid:
            raise BadInput(f"{path} line {number} is not a record of icegather --json")
        records.append(record)
    if not records:
        raise BadInput(f"{path} has no records")
    return records


def run_report(argv: list[str], out: TextIO, err: TextIO) -> int:
    args = build_parser().parse_args(argv)
    try:
        records = read_run(args.run)
        try:
            page = timeline_page(records, title=f"icegather: {args.run}")
        except (KeyError, TypeError, ValueError, AttributeError):
            raise BadInput(f"{args.run} holds records icegather cannot draw (edited by hand?)") from None
        with open(args.html, "w", encoding="utf-8") as file:
            file.write(page)
    except BadInput as exc:
        err.write(f"icegather report: {exc}\n")
        return EXIT_BAD_INPUT
    except OSError as exc:
        err.write(f"icegather report: cannot write {args.html}: {exc.strerror}\n")
        return EXIT_BAD_INPUT
    out.write(f"icegather report: wrote {args.html}\n")
    return EXIT_OK
