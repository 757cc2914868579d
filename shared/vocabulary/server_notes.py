"""What a server did that a browser's events do not show, as data: one ``ServerNote`` per fact.

The transport reports these beside the gathering's events (``ServerNoteInfo``): the software a
server names, and how it took what icegather asks beyond a browser (an IPv6 relay, asked on a
socket of its own so that the browser's result never depends on it). The diagnosis reads them
(which product gives the fix its words; which server cannot give IPv6 relays); none of them is
an error a browser would report.
"""

from __future__ import annotations

from typing import Literal, get_args

ServerNote = Literal[
    "software",  # the SOFTWARE attribute of a response (detail: its text)
    "ipv6_relay",  # an IPv6 relay, asked for alone, was given (detail: its address)
    "ipv6_relay_refused",  # the server answered the IPv6 ask with an error (detail: code and reason)
    "ipv6_relay_ignored",  # the server gave an IPv4 relay to the IPv6 ask (detail: its address)
    "ipv6_relay_unanswered",  # the IPv6 ask got no usable answer (detail: what happened)
]

SERVER_NOTES: tuple[ServerNote, ...] = get_args(ServerNote)
