"""Why a STUN/TURN server URL failed, as data.

Every ``IceCandidateErrorInfo`` carries one of these beside Firefox's five fields, set where the
failure happens in the transport; it reaches the DOM event (``errorCause``), the NDJSON record
and the diagnosis, which match on it instead of on the English ``errorText`` (rewording a text
changes no verdict). It says *what happened*, not what to do about it: the diagnosis adds the
context (the error code, the server's kind, the other URLs of the same host).
"""

from __future__ import annotations

from typing import Literal, get_args

from icegather.shared.vocabulary.meaning import Meaning

FailureCause = Literal[
    # The server answered with an error response; the error code says which.
    "server_error",
    "signed_request_refused",
    # 701, the server could not be reached or gave no usable answer:
    "dns",
    "port_unreachable",
    "host_unreachable",
    "network_unreachable",
    "prohibited",
    "fragmentation_needed",
    "icmp_other",
    "send_failed",
    "no_response",
    # Answers came, but none could be trusted, so the transaction ended as if none had (RFC
    # 8489 says to discard them); the count and the reason are in the error text:
    "answer_unverified",
    "answer_wrong_transaction",
    "connection_refused",
    "connect_timeout",
    "connection_reset",
    "connection_closed",
    "connection_lost",
    "tls_failed",
    "tls_timeout",
    "malformed_response",
    "mapped_address_mismatch",
    "redirect_unreachable",
    "redirect_not_followed",
    "no_local_address",
    "socket_failed",
    "internal_error",
]

FAILURE_CAUSES: tuple[FailureCause, ...] = get_args(FailureCause)
# The causes of an error response (codes 300-699); every other cause goes with 701.
SERVER_ERROR_CAUSES: frozenset[FailureCause] = frozenset({"server_error", "signed_request_refused"})
# The 701 causes of a server that did answer, with answers that had to be discarded.
DISCARDED_ANSWER_CAUSES: frozenset[FailureCause] = frozenset({"answer_unverified", "answer_wrong_transaction"})

# What each cause means (``icegather explain``); what to do is the diagnosis cause's it leads to.
FAILURE_CAUSE_MEANINGS: dict[FailureCause, Meaning] = {
    "server_error": Meaning("the server answered with an error response; the error code says which"),
    "signed_request_refused": Meaning(
        "the server answered with an error response to the request signed with the long-term credential after "
        "its 401 challenge (RFC 8489 section 9.2): a 401 or 400 then means the credential was refused"
    ),
    "dns": Meaning("the host name did not resolve"),
    "port_unreachable": Meaning("ICMP port unreachable came back: nothing listens on that UDP port"),
    "host_unreachable": Meaning("ICMP host unreachable came back: a router says the host cannot be reached"),
    "network_unreachable": Meaning("ICMP network unreachable came back: a router has no route to the network"),
    "prohibited": Meaning("ICMP administratively prohibited came back: a firewall rejects the packets"),
    "fragmentation_needed": Meaning("ICMP packet too big (fragmentation needed) came back: the packet is too big "
                                    "for the path"),
    "icmp_other": Meaning("another ICMP error came back (time exceeded, ...)"),
    "send_failed": Meaning("this machine refused to send (no route, not permitted, ...): nothing was sent"),
    "no_response": Meaning("nothing came back within the retransmission schedule"),
    "answer_unverified": Meaning("answers came, but none with a MESSAGE-INTEGRITY that verifies: each was "
                                 "discarded"),
    "answer_wrong_transaction": Meaning("answers came from the server's address, but with transaction IDs no "
                                        "request had: each was discarded"),
    "connection_refused": Meaning("TCP: nothing listens on that port (connection refused)"),
    "connect_timeout": Meaning("TCP: the connection was not set up in time"),
    "connection_reset": Meaning("TCP: the server reset the connection"),
    "connection_closed": Meaning("TCP: the server closed the connection before it answered"),
    "connection_lost": Meaning("TCP: the connection failed in another way"),
    "tls_failed": Meaning("the TLS handshake failed (certificate, protocol)"),
    "tls_timeout": Meaning("the TLS handshake did not finish in time"),
    "malformed_response": Meaning("something answered that is not a usable STUN/TURN response"),
    "mapped_address_mismatch": Meaning(
        "a Binding success whose XOR-MAPPED-ADDRESS disagrees with its MAPPED-ADDRESS: the server encodes it "
        "wrongly, and a browser would make a srflx candidate of a made-up address"
    ),
    "redirect_unreachable": Meaning("300 Try Alternate to an address this machine cannot reach"),
    "redirect_not_followed": Meaning(
        "300 Try Alternate that was not followed: the credentials may go only to the targets the exporter "
        "module allows, and the alternate server is another"
    ),
    "no_local_address": Meaning("no local address of the server's address family"),
    "socket_failed": Meaning("a local socket could not be opened"),
    "internal_error": Meaning("a bug in icegather; the transport logged its traceback"),
}
