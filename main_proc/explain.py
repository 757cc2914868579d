"""``icegather explain [CODE ...]``: what a STUN/TURN error code means and what to do."""

from __future__ import annotations

from typing import TextIO

from icegather.main_proc.exit_status import EXIT_BAD_INPUT, EXIT_OK
from icegather.shared.stun_codes import REGISTRY, describe


def explain(argv: list[str], out: TextIO, err: TextIO) -> int:
    """``icegather explain [CODE ...]``: each code's name, origin and advice; all without CODE."""
    codes: list[int] = []
    for text in argv:
        # isascii: str.isdigit also accepts digits such as "²" that int() refuses.
        if not (text.isascii() and text.isdigit()) or describe(int(text)) is None:
            known = ", ".join(str(code) for code in REGISTRY)
            err.write(f"icegather: {text!r} is not a STUN/TURN error code icegather knows; known: {known}\n")
            return EXIT_BAD_INPUT
        codes.append(int(text))
    for code in codes or list(REGISTRY):
        entry = REGISTRY[code]
        out.write(
            f"{entry.code} {entry.name}  ({entry.reference}; sent by the {entry.produced_by})\n"
            f"  meaning: {entry.meaning}\n"
            f"  what to do: {entry.advice}\n"
        )
    return EXIT_OK
