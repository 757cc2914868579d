"""Which of a URL's errors tells most about its server: ``PRECEDENCE``, as data.

A name with addresses of both families (A and AAAA records, or ``localhost``) is tried over each,
and each attempt may fail its own way: a certificate that does not verify over IPv4 and
"connection refused" over IPv6, say. A browser reports both errors; the summary names the URL by
one, and the diagnosis follows that one, so it must be the error that says most about the server
rather than whichever came first (the refusal, being quicker, usually does). The error of every
other family is still shown beside it.

The tiers, most telling first, by how much of the server each error shows:

1. ``server_response``: the server itself answered with an error response (wrong credentials,
   quota, 4xx/5xx). It is there, understood the request and said why it refuses: nothing else
   can say more, and the fix is on the server or in the credentials.
2. ``unusable_answer``: something at the server's address answered, but the answer could not be
   used: answers that do not verify or match a request, a contradictory or malformed answer, a
   TLS handshake that failed (certificate, protocol), a redirect that could not be followed. The
   server is there and speaks; what it says is wrong for this client.
3. ``hung_up``: a server accepted the TCP connection, then reset or closed it, or never finished
   the TLS handshake. Something listens, but did not answer.
4. ``refused_at_host``: the server's host said no process listens on that port (ICMP port
   unreachable, TCP connection refused). The host is there; the server is not, at that address.
5. ``silence``: nothing came back at all. The server may be down, or packets dropped on the way;
   the server is not heard from.
6. ``not_reached``: the attempt never reached the server's host, so it tells about the path or
   this machine, not the server: a router's or firewall's ICMP error, a send this machine
   refused, no local address of the family, a socket that would not open, a name that did not
   resolve, or a bug in icegather.

Within a tier, the first error seen wins. ``tests/test_error_precedence.py`` checks that every
``FailureCause`` is in exactly one tier.
"""

from __future__ import annotations

from icegather.shared.vocabulary.failure_causes import FailureCause

PRECEDENCE: tuple[tuple[str, frozenset[FailureCause]], ...] = (
    ("server_response", frozenset({"server_error", "signed_request_refused"})),
    ("unusable_answer", frozenset({
        "answer_unverified", "answer_wrong_transaction", "mapped_address_mismatch", "malformed_response",
        "tls_failed", "redirect_unreachable", "redirect_not_followed",
    })),
    ("hung_up", frozenset({"connection_reset", "connection_closed", "connection_lost", "tls_timeout"})),
    ("refused_at_host", frozenset({"port_unreachable", "connection_refused"})),
    ("silence", frozenset({"no_response", "connect_timeout"})),
    ("not_reached", frozenset({
        "host_unreachable", "network_unreachable", "prohibited", "fragmentation_needed", "icmp_other", "send_failed",
        "no_local_address", "socket_failed", "dns", "internal_error",
    })),
)

# A cause's tier as a number: the higher, the more it tells.
RANKS: dict[str, int] = {
    cause: len(PRECEDENCE) - position for position, (_, causes) in enumerate(PRECEDENCE) for cause in causes
}
TIERS: dict[str, str] = {cause: tier for tier, causes in PRECEDENCE for cause in causes}

# What an error shows of the server's address, beyond an answer: something there took the
# connection or spoke (the first three tiers), or at least its host said no (the fourth). The
# verdict keeps "no server answered" for gatherings that reached none of them.
CONNECTED_TIERS = frozenset({"server_response", "unusable_answer", "hung_up"})
REACHED_TIERS = CONNECTED_TIERS | {"refused_at_host"}


def rank(cause: str) -> int:
    """How much an error of this cause tells about its server (0: a cause this version does not
    know, as a hand-written record may carry, tells least)."""
    return RANKS.get(cause, 0)


def tier(cause: str | None) -> str | None:
    """The tier of an error's cause (None: no error, or a cause this version does not know)."""
    return TIERS.get(cause) if cause is not None else None
