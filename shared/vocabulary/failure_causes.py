"""Why a STUN/TURN server URL failed, as data.

Every ``IceCandidateErrorInfo`` carries one of these beside Firefox's five fields, set where the
failure happens in the transport; it reaches the DOM event (``errorCause``), the NDJSON record
and the diagnosis, which match on it instead of on the English ``errorText`` (rewording a text
changes no verdict). It says *what happened*, not what to do about it: the diagnosis adds the
context (the error code, the server's kind, the other URLs of the same host).
"""

from __future__ import annotations

from typing import Literal, get_args

FailureCause = Literal[
    # The server answered with an error response; the error code says which.
    "server_error",
    # The same, to a request signed with the long-term credential after the server's 401
    # challenge (RFC 8489 section 9.2): a 401 or 400 then means the credential was refused.
    "signed_request_refused",
    # 701, the server could not be reached or gave no usable answer:
    "dns",  # the host name did not resolve
    "port_unreachable",  # ICMP: nothing listens on that UDP port
    "host_unreachable",  # ICMP: a router says the host cannot be reached
    "network_unreachable",  # ICMP: a router has no route to the network
    "prohibited",  # ICMP: a firewall rejects the packets (administratively prohibited)
    "fragmentation_needed",  # ICMP: the packet is too big for the path
    "icmp_other",  # another ICMP error (time exceeded, ...)
    "send_failed",  # this machine refused to send (no route, not permitted, ...)
    "no_response",  # nothing came back within the retransmission schedule
    # Answers came, but none could be trusted, so the transaction ended as if none had (RFC
    # 8489 says to discard them); the count and the reason are in the error text:
    "answer_unverified",  # without a MESSAGE-INTEGRITY that verifies
    "answer_wrong_transaction",  # from the server's address, with another transaction ID
    "connection_refused",  # TCP: nothing listens on that port
    "connect_timeout",  # TCP: the connection was not set up in time
    "connection_reset",  # TCP: the server reset the connection
    "connection_closed",  # TCP: the server closed the connection before it answered
    "connection_lost",  # TCP: the connection failed in another way
    "tls_failed",  # the TLS handshake failed (certificate, protocol)
    "tls_timeout",  # the TLS handshake did not finish in time
    "malformed_response",  # something answered that is not a usable STUN/TURN response
    # A Binding success whose XOR-MAPPED-ADDRESS disagrees with its MAPPED-ADDRESS: the server
    # encodes it wrongly, and a browser would make a srflx candidate of a made-up address.
    "mapped_address_mismatch",
    "redirect_unreachable",  # 300 Try Alternate to an address this machine cannot reach
    "no_local_address",  # no local address of the server's address family
    "socket_failed",  # a local socket could not be opened
    "internal_error",  # a bug in icegather; logged with its traceback
]

FAILURE_CAUSES: tuple[FailureCause, ...] = get_args(FailureCause)
# The causes of an error response (codes 300-699); every other cause goes with 701.
SERVER_ERROR_CAUSES: frozenset[FailureCause] = frozenset({"server_error", "signed_request_refused"})
# The 701 causes of a server that did answer, with answers that had to be discarded.
DISCARDED_ANSWER_CAUSES: frozenset[FailureCause] = frozenset({"answer_unverified", "answer_wrong_transaction"})
