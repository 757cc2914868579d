"""What a server did that a browser's events do not show, as data: one ``ServerNote`` per fact.

The transport reports these beside the gathering's events (``ServerNoteInfo``): the software a
server names, and how it took what icegather asks beyond a browser (an IPv6 relay, asked on a
socket of its own so that the browser's result never depends on it). The diagnosis reads them
(which product gives the fix its words; which server cannot give IPv6 relays); none of them is
an error a browser would report.
"""

from __future__ import annotations

from typing import Literal, get_args

from icegather.shared.vocabulary.meaning import Meaning

ServerNote = Literal["software", "ipv6_relay", "ipv6_relay_refused", "ipv6_relay_ignored", "ipv6_relay_unanswered"]

SERVER_NOTES: tuple[ServerNote, ...] = get_args(ServerNote)
# What each note means, and its detail (``icegather explain``). None is an error: what to do is
# nothing, unless IPv6 relays are wanted.
IPV6_RELAY_WANTED = "nothing for browsers (they ask for IPv4 relays); for peers with IPv6 only, "
SERVER_NOTE_MEANINGS: dict[ServerNote, Meaning] = {
    "software": Meaning("the SOFTWARE attribute of a response (detail: its text); fixes are worded for the "
                        "product it names", "nothing (icegather audit says whether it shows too much)"),
    "ipv6_relay": Meaning("an IPv6 relay, asked for alone beyond what a browser asks, was given (detail: its "
                          "address)", "nothing"),
    "ipv6_relay_refused": Meaning("the server answered the ask for an IPv6 relay with an error (detail: code and "
                                  "reason)", IPV6_RELAY_WANTED + "give the server an IPv6 relay address"),
    "ipv6_relay_ignored": Meaning("the server gave an IPv4 relay to the ask for an IPv6 one (detail: its address)",
                                  IPV6_RELAY_WANTED + "a server that honours REQUESTED-ADDRESS-FAMILY"),
    "ipv6_relay_unanswered": Meaning(
        "the ask for an IPv6 relay got no usable answer (detail: what happened); some servers drop requests with "
        "an attribute they do not know", IPV6_RELAY_WANTED + "a server that knows REQUESTED-ADDRESS-FAMILY"),
}
