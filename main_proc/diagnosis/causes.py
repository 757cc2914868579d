"""Why one URL failed: the ``CAUSES`` table, first match wins, from its error code, its
machine-readable cause (``shared.failure_causes``; never the English error text), its kind of
server and transport, and what the other URLs of the same host did."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from icegather.main_proc.diagnosis.outcomes import Finding, ServerOutcome
from icegather.shared.failure_causes import SERVER_ERROR_CAUSES, FailureCause
from icegather.shared.stun_codes import describe

SERVER_CODES = frozenset(range(300, 700))
ANY_KIND = frozenset({"stun", "turn"})
ANY_TRANSPORT = frozenset({"udp", "tcp", "tls"})


@dataclass(frozen=True)
class Cause:
    """A row of the cause table: which failures it explains, and what it says about them."""

    name: str
    finding: str  # what is wrong, in a few words
    next_check: str  # what to look at first
    codes: frozenset[int] = SERVER_CODES
    causes: frozenset[str] = SERVER_ERROR_CAUSES  # the error's machine-readable cause
    kinds: frozenset[str] = ANY_KIND
    transports: frozenset[str] = ANY_TRANSPORT
    # True: only when another URL of the same host worked over TCP or TLS.
    same_host_works_over_stream: bool = False
    # Only for a credential in this state ("expired", "minted"); "" for any.
    credential: str = ""

    def explains(self, outcome: ServerOutcome, same_host_works_over_stream: bool) -> bool:
        return (
            outcome.error_code in self.codes
            and outcome.error_cause in self.causes
            and outcome.kind in self.kinds
            and outcome.transport in self.transports
            and (not self.same_host_works_over_stream or same_host_works_over_stream)
            and self.credential in ("", outcome.credential)
        )


def _code(*codes: int) -> frozenset[int]:
    return frozenset(codes)


def _cause(*causes: FailureCause) -> frozenset[str]:
    return frozenset(causes)


UNREACHABLE = _code(701)
TURN = frozenset({"turn"})
UDP = frozenset({"udp"})

CAUSES: tuple[Cause, ...] = (
    Cause(
        "credential expired",
        "the time-limited credential expired at {expired_at}, {ago} s ago",
        "the clock of the machine that minted it, and the time to live it was minted with",
        codes=_code(401, 441),
        kinds=TURN,
        credential="expired",
    ),
    Cause(
        "shared secret",
        "the server refused a credential minted just now from the shared secret: the secrets differ",
        "the shared secret given to icegather against the server's (coturn: static-auth-secret)",
        codes=_code(401, 441),
        kinds=TURN,
        credential="minted",
    ),
    Cause(
        "credentials",
        "the TURN server refused the username or credential",
        "the username and credential; for time-limited (REST API) credentials, the shared secret "
        "and the clock of the machine that made them",
        codes=_code(401, 441),
        kinds=TURN,
    ),
    Cause(
        # Pion answers a signed Allocate whose credential does not verify with 400.
        "credentials",
        "the TURN server refused the username or credential (it answered 400 to the request they signed)",
        "the username and credential; for time-limited (REST API) credentials, the shared secret "
        "and the clock of the machine that made them",
        codes=_code(400),
        causes=_cause("signed_request_refused"),
        kinds=TURN,
    ),
    Cause(
        "quota",
        "the TURN server's allocation quota for this user (or in total) is used up",
        "stale sessions of this user, and the server's user-quota / total-quota",
        codes=_code(486),
    ),
    Cause(
        "capacity",
        "the TURN server has no relay capacity left",
        "the server's relay port range (min-port/max-port) and load",
        codes=_code(508),
    ),
    Cause(
        "relay transport",
        "the TURN server does not relay over the transport asked for",
        "the server's no-udp-relay / no-tcp-relay settings",
        codes=_code(442),
    ),
    Cause(
        "relay address family",
        "the TURN server has no relay in any address family asked for (IPv4 and IPv6, together and alone)",
        "the server's relay-ip addresses",
        codes=_code(440),
    ),
    Cause(
        "forbidden",
        "the server's policy forbids the request",
        "the server's allowed/denied address lists and the user's rights",
        codes=_code(403),
    ),
    Cause(
        "redirect",
        "the server redirected with 300 Try Alternate and the alternate failed too",
        "both the server and its ALTERNATE-SERVER",
        codes=_code(300),
    ),
    Cause(
        "protocol",
        "the server did not understand the request",
        "that the URL points at a STUN/TURN server, and the server's version",
        codes=_code(400, 420),
    ),
    Cause("server error", "the server failed internally", "the server's own log", codes=_code(500)),
    Cause(
        "dns",
        "the host name does not resolve",
        "the spelling of the name and its DNS A/AAAA records",
        codes=UNREACHABLE,
        causes=_cause("dns"),
    ),
    Cause(
        "udp port closed",
        "nothing listens on that UDP port (the host answered ICMP port unreachable)",
        "the port in the URL and that the server runs and listens on it",
        codes=UNREACHABLE,
        causes=_cause("port_unreachable"),
    ),
    Cause(
        "host unreachable",
        "a router on the way says the server's host cannot be reached (ICMP host unreachable)",
        "that the server's address is right and the host is up, and the routing to it",
        codes=UNREACHABLE,
        causes=_cause("host_unreachable"),
    ),
    Cause(
        "network unreachable",
        "a router on the way has no route to the server's network (ICMP network unreachable)",
        "the routing between here and the server",
        codes=UNREACHABLE,
        causes=_cause("network_unreachable"),
    ),
    Cause(
        "firewall rejects",
        "a firewall on the way rejects UDP to the server (ICMP administratively prohibited)",
        "the firewall rules between here and the server, for UDP to this port",
        codes=UNREACHABLE,
        causes=_cause("prohibited"),
    ),
    Cause(
        "packet too big",
        "the path to the server carries smaller packets than were sent (ICMP packet too big)",
        "the MTU on the path: tunnels and VPNs lower it",
        codes=UNREACHABLE,
        causes=_cause("fragmentation_needed"),
    ),
    Cause(
        "icmp",
        "an ICMP error came back for the packets to the server",
        "the ICMP type and code in the error text, and the path to the server",
        codes=UNREACHABLE,
        causes=_cause("icmp_other"),
    ),
    Cause(
        "cannot send",
        "this machine refused to send to the server (no route, or not permitted): nothing was sent",
        "this machine's routes and local firewall, and the local address gathered from",
        codes=UNREACHABLE,
        causes=_cause("send_failed"),
    ),
    Cause(
        "tcp port closed",
        "nothing listens on that TCP port (connection refused)",
        "the port in the URL, and that the server listens on TCP (and TLS) there",
        codes=UNREACHABLE,
        causes=_cause("connection_refused"),
    ),
    Cause(
        "tls",
        "the TLS handshake failed",
        "the server certificate: the URL's name must be on it, the chain "
        "complete and trusted, the dates valid (for a test server, --insecure-tls)",
        codes=UNREACHABLE,
        causes=_cause("tls_failed", "tls_timeout"),
    ),
    Cause(
        "udp blocked",
        "UDP to the server is dropped on the way, while TCP to the same host works",
        "firewalls between here and the server: they drop UDP to this port",
        codes=UNREACHABLE,
        causes=_cause("no_response"),
        transports=UDP,
        same_host_works_over_stream=True,
    ),
    Cause(
        "silent",
        "the server never answered: packets are dropped on the way, or it is down",
        "that the server runs, and firewalls on the path (UDP and TCP to the port)",
        codes=UNREACHABLE,
        causes=_cause("no_response"),
    ),
    Cause(
        "tcp dropped",
        "the TCP connection could not be set up in time: packets are dropped on the way",
        "firewalls on the path, and that the server runs",
        codes=UNREACHABLE,
        causes=_cause("connect_timeout"),
    ),
    Cause(
        "hang-up",
        "the server ended the connection without answering",
        "that the port speaks STUN/TURN (not, say, TLS on a turn: URL or plain TCP on a turns: URL)",
        codes=UNREACHABLE,
        causes=_cause("connection_reset", "connection_closed", "connection_lost"),
    ),
    Cause(
        "not stun",
        "something answered that is not a STUN/TURN server",
        "that the URL's port is the STUN/TURN port",
        codes=UNREACHABLE,
        causes=_cause("malformed_response"),
    ),
    Cause(
        "address family",
        "no local address of the server's address family",
        "this machine's IPv4/IPv6 connectivity, or use a server address of the other family",
        codes=UNREACHABLE,
        causes=_cause("no_local_address"),
    ),
    Cause(
        "redirect unreachable",
        "the server redirected (300 Try Alternate) to an address this machine cannot reach",
        "the server's alternate-server setting: the alternate must be reachable in the same address family",
        codes=UNREACHABLE,
        causes=_cause("redirect_unreachable"),
    ),
    Cause(
        "internal error",
        "icegather failed on this URL: a bug, logged with its traceback",
        "the traceback the transport wrote to stderr; please report it",
        codes=UNREACHABLE,
        causes=_cause("internal_error"),
    ),
    Cause(
        "local socket",
        "a local socket could not be opened",
        "the local address given to gather from",
        codes=UNREACHABLE,
        causes=_cause("socket_failed"),
    ),
)



def explain_failure(outcome: ServerOutcome, outcomes: Sequence[ServerOutcome]) -> Finding:
    """The first row of ``CAUSES`` that explains a failed URL (a generic one if none does)."""
    works_over_stream = any(
        other.host == outcome.host and other.transport in ("tcp", "tls") and other.answered for other in outcomes
    )
    for cause in CAUSES:
        if cause.explains(outcome, works_over_stream):
            return Finding(outcome.url, cause.name, _filled(cause.finding, outcome), cause.next_check)
    known = describe(outcome.error_code) if outcome.error_code is not None else None
    finding = f"the server answered {outcome.error_code} {known.name if known else ''}".strip()
    return Finding(outcome.url, "other", finding, known.advice if known else "the server's log")


def _filled(finding: str, outcome: ServerOutcome) -> str:
    """A finding with the outcome's facts in its placeholders (only expiry ones exist)."""
    if outcome.expired_at is None:
        return finding
    at = datetime.fromtimestamp(outcome.expired_at, timezone.utc).isoformat(timespec="seconds")
    return finding.format(expired_at=at, ago=outcome.expired_seconds_ago)
