"""``icegather explain [CODE|FINDING ...]``: what a STUN/TURN error code or an audit finding
means and what to do."""

from __future__ import annotations

from typing import TextIO

from icegather.main_proc.diagnosis.audit_findings import FINDINGS
from icegather.main_proc.diagnosis.exit_status import EXIT_BAD_INPUT, EXIT_OK
from icegather.shared.vocabulary.stun_codes import REGISTRY, describe

# By name with spaces for hyphens, so that "link-local-peer" finds "link-local peer".
AUDIT_FINDINGS = {explained.name.replace("-", " "): explained for explained in FINDINGS}


def explain(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Each code's name, origin and advice, and each audit finding's meaning and fix (a name
    may be written with hyphens: open-relay); everything without arguments."""
    codes: list[int] = []
    findings: list[str] = []
    for text in argv:
        name = text.replace("-", " ").lower()
        # isascii: str.isdigit also accepts digits such as "²" that int() refuses.
        if text.isascii() and text.isdigit() and describe(int(text)) is not None:
            codes.append(int(text))
        elif name in AUDIT_FINDINGS:
            findings.append(name)
        else:
            known = ", ".join(str(code) for code in REGISTRY)
            err.write(f"icegather: {text!r} is neither a STUN/TURN error code icegather knows ({known}) nor an "
                      f"audit finding ({', '.join(f.name.replace(' ', '-') for f in FINDINGS)})\n")
            return EXIT_BAD_INPUT
    everything = not argv
    for code in codes or (list(REGISTRY) if everything else []):
        entry = REGISTRY[code]
        out.write(
            f"{entry.code} {entry.name}  ({entry.reference}; sent by the {entry.produced_by})\n"
            f"  meaning: {entry.meaning}\n"
            f"  what to do: {entry.advice}\n"
        )
    for name in findings or (list(AUDIT_FINDINGS) if everything else []):
        finding = AUDIT_FINDINGS[name]
        out.write(f"{finding.name}  (an icegather audit finding)\n  meaning: {finding.meaning}\n")
        if finding.fix:
            out.write(f"  what to do: {finding.fix}\n")
    return EXIT_OK
