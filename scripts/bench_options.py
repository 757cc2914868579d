"""The command line every benchmark shares: its docstring as help, and ``--quick``, the short
run the test suite makes (tests/test_scripts.py)."""

from __future__ import annotations

import argparse


def quick_mode(argv: list[str] | None, description: str | None) -> bool:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run, for the test suite")
    return bool(parser.parse_args(argv).quick)
