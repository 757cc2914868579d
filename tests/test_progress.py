"""The progress line's words: how many URLs are awaited and the slowest of them, never wider
than the terminal."""

from __future__ import annotations

import dataclasses

from icegather.main_proc.diagnosis.servers.outcomes import ServerOutcome
from icegather.main_proc.views.progress import fitted, waiting_words

SILENT = ServerOutcome("stun:198.51.100.7:3478", "stun", "udp", "198.51.100.7", False, None, (), None, None, None)
CHALLENGED = ServerOutcome("turn:t.example", "turn", "udp", "t.example", True, 0.4, (), None, None, None)
RELAYED = dataclasses.replace(CHALLENGED, url="turn:r.example", host="r.example", gained=("relay",),
                              checks_relay=True)
ANSWERED = dataclasses.replace(SILENT, url="stun:s.example", host="s.example", answered=True, rtt_ms=0.3,
                               gained=("srflx",))


def test_the_line_names_the_url_least_far_along_whatever_the_order():
    assert waiting_words([RELAYED, CHALLENGED, ANSWERED, SILENT]) == (
        "waiting for 3 of 4 server URLs, the slowest stun:198.51.100.7:3478 (no answer yet)"
    )
    assert waiting_words([ANSWERED, RELAYED, CHALLENGED]) == (
        "waiting for 2 of 3 server URLs, the slowest turn:t.example (answered, no relay yet)"
    )


def test_one_url_left_is_named_with_how_far_it_came():
    assert waiting_words([ANSWERED, RELAYED]) == "waiting for 1 of 2 server URLs: turn:r.example (relay check running)"


def test_a_url_configured_in_two_entries_is_named_with_its_entry():
    second = dataclasses.replace(SILENT, entry=1)
    answered = dataclasses.replace(SILENT, answered=True, rtt_ms=0.2, gained=("srflx",))

    assert waiting_words([answered, second]).endswith(": stun:198.51.100.7:3478 (iceServers[1]) (no answer yet)")


def test_with_nothing_left_to_wait_for_no_url_is_named():
    assert waiting_words([ANSWERED]) == "waiting for 0 of 1 server URLs"


def test_a_line_wider_than_the_terminal_is_cut_and_marked():
    assert fitted("waiting for 1 of 1 server URLs", 40) == "waiting for 1 of 1 server URLs"
    assert fitted("waiting for 1 of 1 server URLs", 12) == "waiting for…"
