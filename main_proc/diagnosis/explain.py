"""``icegather explain [WORD ...]``: every word icegather prints, exactly as printed, with which
kind of word it is, what it means and what to do.

The words come from the tables that print them, read here and never copied: the error-code
registry, the failure causes (``errorCause``), the diagnosis's cause tables (``CAUSES``,
``RELAY_CAUSES``, ``ADDRESS_RULES``) and its verdicts, the relay check's outcomes and the
reasons it was not checked, the server notes, the audit's findings and severities
(``audit_findings.SEVERITY_MEANINGS``, with the summary's count keys), and a table of this
module's own for words printed from no table: how a transport process ended
(``TRANSPORT_END_MEANINGS``). A word may be written
with hyphens for spaces (``udp-port-closed``), or as several arguments (``udp port closed``).
A word that two tables print for one thing (``dns``: an error cause and the diagnosis cause it
leads to) shows both entries.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from string import Formatter
from typing import TextIO, TypeVar

from icegather.main_proc.diagnosis.addresses.address_rules import ADDRESS_RULES
from icegather.main_proc.diagnosis.audit.audit_findings import COUNT_KEYS, FINDINGS, SEVERITY_MEANINGS
from icegather.main_proc.diagnosis.exit_status import EXIT_BAD_INPUT, EXIT_OK
from icegather.main_proc.diagnosis.relays.quality_causes import QUALITY_CAUSES
from icegather.main_proc.diagnosis.relays.relay_causes import RELAY_CAUSES
from icegather.main_proc.diagnosis.server_products import PRODUCTS, Wording
from icegather.main_proc.diagnosis.servers.causes import ANY_KIND, ANY_TRANSPORT, CAUSES, SERVER_CODES, Cause
from icegather.main_proc.diagnosis.verdicts import VERDICTS
from icegather.shared.vocabulary.failure_causes import FAILURE_CAUSE_MEANINGS, SERVER_ERROR_CAUSES
from icegather.shared.vocabulary.meaning import Meaning
from icegather.shared.vocabulary.quality_thresholds import QUALITY_THRESHOLDS
from icegather.shared.vocabulary.relay_outcomes import NOT_CHECKED_REASON_MEANINGS, RELAY_OUTCOME_MEANINGS
from icegather.shared.vocabulary.server_notes import SERVER_NOTE_MEANINGS
from icegather.shared.vocabulary.stun_codes import REGISTRY

DIAGNOSIS = "in the summary's diagnosis, and the cause label of icegather_server_failure"
# ``causes.explain_failure`` names a failure that no row of ``CAUSES`` explains "other".
OTHER_CAUSE = "other"
Word = TypeVar("Word", bound=str)

# How the transport process ended, as the failure of a gathering or an audit says
# ("the transport process (pid N) ..."; ``link.transport_process.describe_exit``).
TRANSPORT_END_MEANINGS = {
    "sandbox violation": Meaning(
        "the transport process made a system call its sandbox forbids (exec, ptrace, mount, a signal to "
        "another process...), and its seccomp filter killed it (SIGSYS): a bug in icegather or a library, or a "
        "server's answer that took over the parsing code",
        "report it with the server's URL; icegather sandbox shows the layers; --no-sandbox runs the transport "
        "unconfined, for debugging only"),
    "killed by": Meaning("a signal ended the transport process: SIGKILL from the out-of-memory killer or a user, "
                         "SIGSEGV or SIGABRT a crash", "look at the kernel's log (dmesg) for the out-of-memory "
                         "killer; report a crash with the command that made it"),
    "restarted to read": Meaning(
        "the transport process restarted, as planned, not a failure: a file its sandbox holds (a resolver file such as "
        "/etc/hosts or /etc/resolv.conf, or the CA certificates) was replaced by a new one, which it may not read; "
        "it finished its running gatherings and exited with status 75, and a fresh transport took the new ones",
        "nothing: a standalone service is started again by systemd (Restart=on-failure) or the program that embeds "
        "it"),
    "exited with status": Meaning("the transport process ended by itself before it was asked to: status 1 after an "
                                  "error it wrote on stderr", "the transport's error above the failure line"),
}


@dataclass(frozen=True)
class Entry:
    """One word: its kind and where it shows, what it means, what it is recognised by, and
    what to do (in generic words, and in each server product's own where a table has them)."""

    word: str  # exactly as printed
    kind: str  # "error code", "error cause", "diagnosis cause", ...
    where: str  # where it shows, or more about it
    meaning: str
    advice: Wording
    seen_with: str = ""
    title: str = ""  # said after the word in the heading: an error code's name

    def lines(self) -> Iterator[str]:
        yield f"{' '.join(filter(None, (self.word, self.title)))}  ({self.kind}: {self.where})"
        yield f"  meaning: {self.meaning}"
        if self.seen_with:
            yield f"  seen with: {self.seen_with}"
        yield f"  what to do: {self.advice.generic}"
        yield from (f"    {p.title}: {self.advice.words[p.name]}" for p in PRODUCTS if p.name in self.advice.words)


def readable(template: str) -> str:
    """A table's text with each placeholder as <its name>: ``{failed_family}`` reads <failed family>."""
    parts = []
    for text, field, _, _ in Formatter().parse(template):
        parts.append(text)
        if field is not None:
            parts.append(f"{' ' if text and text[-1].isalnum() else ''}<{field.replace('_', ' ')}>")
    return "".join(parts)


def checking(wording: Wording) -> Wording:
    """A diagnosis row's next check as advice: "check ..." (as the summary says it)."""
    return Wording(f"check {readable(wording.generic)}",
                   {name: f"check {readable(words)}" for name, words in wording.words.items()})


def one_of(names: Iterable[str]) -> str:
    return " or ".join(dict.fromkeys(names))


def leads_to(causes: Iterable[str]) -> Wording:
    return Wording(f"what the diagnosis cause it leads to says (icegather explain NAME): {one_of(causes)}")


def error_codes() -> Iterator[Entry]:
    for code in REGISTRY.values():
        yield Entry(str(code.code), "error code", f"{code.reference}; sent by the {code.produced_by}", code.meaning,
                    Wording(code.advice), title=code.name)


def error_causes() -> Iterator[Entry]:
    for cause, meaning in FAILURE_CAUSE_MEANINGS.items():
        codes = "an error response (300-699)" if cause in SERVER_ERROR_CAUSES else "701"
        yield Entry(cause, "error cause", f"the errorCause of an icecandidateerror with {codes}", meaning.says,
                    leads_to(row.name for row in CAUSES if cause in row.causes))


# What a row's conditions beyond the code and cause mean, in words.
CREDENTIAL_WORDS = {"expired": "to a time-limited username whose time has passed",
                    "minted": "to a credential icegather minted just now from --auth-secret-file"}


def recognised_by(row: Cause) -> str:
    codes = "300-699" if row.codes == SERVER_CODES else one_of(map(str, sorted(row.codes)))
    said = [f"errorCode {codes}"]
    if row.causes != SERVER_ERROR_CAUSES:
        said.append(f"with errorCause {one_of(sorted(row.causes))}")
    if row.kinds != ANY_KIND:
        said.append(f"from a {one_of(sorted(row.kinds)).upper()} server")
    if row.transports != ANY_TRANSPORT:
        said.append(f"over {one_of(sorted(row.transports)).upper()}")
    if row.credential:
        said.append(CREDENTIAL_WORDS[row.credential])
    if row.udp_alone_fails:
        said.append("while another URL of the same host and port answers over TCP or TLS, and none over UDP")
    if row.other_family_answered:
        said.append("over one address family, while the URL answered over the other")
    return " ".join(said)


def diagnosis_causes() -> Iterator[Entry]:
    named: dict[str, list[Cause]] = {}
    for row in CAUSES:
        named.setdefault(row.name, []).append(row)  # a name may take several rows
    for name, rows in named.items():
        yield Entry(name, "diagnosis cause", f"why a URL failed, {DIAGNOSIS}", readable(rows[0].finding),
                    checking(rows[0].next_check), "; or ".join(map(recognised_by, rows)))
    yield Entry(OTHER_CAUSE, "diagnosis cause", f"why a URL failed, {DIAGNOSIS}",
                "the server answered with an error code that no other diagnosis cause explains",
                Wording("what the error code's entry says (icegather explain CODE)"), "any other errorCode")
    for relay in RELAY_CAUSES:
        codes = f" with errorCode {one_of(map(str, sorted(relay.codes)))}" if relay.codes else ""
        yield Entry(relay.name, "diagnosis cause", f"why a relay does not carry data, {DIAGNOSIS}",
                    readable(relay.finding), checking(relay.next_check),
                    f"relay outcome {one_of(sorted(relay.outcomes))}{codes}")
    for rule in ADDRESS_RULES:
        yield Entry(rule.name, "diagnosis cause", f"an address peers elsewhere cannot use, {DIAGNOSIS}",
                    readable(rule.finding), checking(rule.next_check), "the addresses the servers gave (no traffic)")
    for quality in QUALITY_CAUSES:
        recognised = ("a stream that stopped before its end" if quality.stopped
                      else f"degraded {one_of(sorted(quality.degraded))}")
        yield Entry(quality.name, "diagnosis cause", f"why a relay that carries data would hurt a call, {DIAGNOSIS}",
                    readable(quality.finding), checking(quality.next_check),
                    f"{recognised}, over {one_of(sorted(quality.transports))}")


def degradations() -> Iterator[Entry]:
    for threshold in QUALITY_THRESHOLDS:
        yield Entry(threshold.name, "quality degradation", "what a call-like stream crossed: an entry of degraded "
                    "in an icerelayquality record", f"{threshold.unit} above {threshold.limit:g} "
                    f"({one_of(threshold.keys)}); the limit: {threshold.source}",
                    leads_to(q.name for q in QUALITY_CAUSES if threshold.name in q.degraded))


def verdicts() -> Iterator[Entry]:
    for verdict in VERDICTS:
        yield Entry(verdict.name, "verdict", "the summary's diagnosis of the whole gathering, and the verdict label "
                    "of icegather_probe_info", verdict.summary, Wording(verdict.next_check))


def described(meanings: Mapping[Word, Meaning], kind: str, where: str,
              advice: Mapping[Word, Wording]) -> Iterator[Entry]:
    """The entries of a table of ``Meaning``s; advice from its own, else from ``advice``."""
    for word, meaning in meanings.items():
        yield Entry(word, kind, where, meaning.says, Wording(meaning.advice) if meaning.advice else advice[word])


def relay_words() -> Iterator[Entry]:
    advice = {outcome: leads_to(r.name for r in RELAY_CAUSES if outcome in r.outcomes)
              for outcome in RELAY_OUTCOME_MEANINGS}
    yield from described(RELAY_OUTCOME_MEANINGS, "relay outcome", "what the relay check found: the outcome of an "
                         "icerelaycheck", advice)
    yield from described(NOT_CHECKED_REASON_MEANINGS, "relay not-checked reason",
                         "why a relay check sent no probe: the notCheckedReason of an icerelaycheck", {})


def server_notes() -> Iterator[Entry]:
    yield from described(SERVER_NOTE_MEANINGS, "server note", "what a server told of itself: the note of an "
                         "iceservernote, in brackets in its summary row", {})


def audit_findings() -> Iterator[Entry]:
    for finding in FINDINGS:
        yield Entry(finding.name, "audit finding", "a finding of icegather audit", finding.meaning,
                    finding.fix if finding.fix.generic else Wording("nothing"))


def audit_severities() -> Iterator[Entry]:
    yield from described(SEVERITY_MEANINGS, "audit severity", "how bad a finding of icegather audit is: its label, "
                         "its severity in NDJSON, and the audit's verdict", {})
    for severity, count_key in COUNT_KEYS.items():
        if count_key == severity:
            continue  # told above
        meaning = SEVERITY_MEANINGS[severity]
        yield Entry(count_key, "audit severity", f"the auditsummary record's count of findings {severity}",
                    meaning.says, Wording(meaning.advice))


def transport_ends() -> Iterator[Entry]:
    yield from described(TRANSPORT_END_MEANINGS, "transport end", "how the transport process ended, in the failure "
                         "of a gathering or an audit", {})


def vocabulary() -> tuple[Entry, ...]:
    """Every word, table by table."""
    return (*error_codes(), *error_causes(), *diagnosis_causes(), *verdicts(), *relay_words(), *degradations(),
            *server_notes(), *audit_findings(), *audit_severities(), *transport_ends())


def key(word: str) -> str:
    """How a word is looked up: any case, hyphens or spaces."""
    return " ".join(word.lower().replace("-", " ").split())


def index(entries: Iterable[Entry]) -> dict[str, list[Entry]]:
    found: dict[str, list[Entry]] = {}
    for entry in entries:
        found.setdefault(key(entry.word), []).append(entry)
    return found


def words_of(argv: Sequence[str], known: Mapping[str, list[Entry]]) -> tuple[list[list[Entry]], str | None]:
    """The entries of each word of ``argv``, the longest run of arguments that is one word first
    (``udp port closed``); and the first argument that begins no word (None when all do)."""
    found: list[list[Entry]] = []
    start = 0
    while start < len(argv):
        end = next((end for end in range(len(argv), start, -1) if key(" ".join(argv[start:end])) in known), None)
        if end is None:
            return found, argv[start]
        found.append(known[key(" ".join(argv[start:end]))])
        start = end
    return found, None


def unknown(word: str, known: Iterable[str]) -> str:
    # Close matches ignore underscores, so that "port unreachable" finds port_unreachable.
    spelled = {key(name).replace("_", " "): name for name in known}
    close = difflib.get_close_matches(key(word).replace("_", " "), spelled, n=3)
    hint = f"; did you mean {' or '.join(repr(spelled[name]) for name in close)}?" if close else ""
    return (f"icegather: {word!r} is neither a STUN/TURN error code icegather knows nor another word it prints"
            f"{hint} (icegather explain alone lists every word)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="icegather explain",
        description="What a word icegather prints means, exactly as printed, and what to do: an error code (401), "
        "an error cause (port_unreachable), a diagnosis cause (udp port closed), a verdict (turn failed), a relay "
        "outcome (wrong_source), a server note (ipv6_relay_refused), an audit finding (open relay) or severity (not "
        "checked), how the transport process ended (sandbox violation).",
        epilog="A word of several may be given as several arguments or with hyphens (udp-port-closed). Without "
        "one, every word. exit status: 0, or 2 for a word icegather does not print",
    )
    parser.add_argument("words", nargs="*", metavar="WORD")
    return parser


def explain(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Each word's entries; every word without arguments."""
    words = build_parser().parse_args(argv).words
    entries = vocabulary()
    known = index(entries)
    found, bad = words_of(words, known)
    if bad is not None:
        err.write(unknown(bad, (entry.word for entry in entries)) + "\n")
        return EXIT_BAD_INPUT
    for entry in [entry for entries_of_word in found for entry in entries_of_word] if words else entries:
        out.write("\n".join(entry.lines()) + "\n")
    return EXIT_OK
