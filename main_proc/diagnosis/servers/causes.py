"""Why one URL failed: the ``CAUSES`` table, first match wins, from its error code, its
machine-readable cause (``shared.vocabulary.failure_causes``; never the English error text), its kind of
server and transport, what it did over the other address family, and what the other URLs of
the same host did. What to check is said in the words of the server's product when its
SOFTWARE names one (``server_products``), else in generic words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from icegather.main_proc.diagnosis.server_products import Wording, phrased
from icegather.main_proc.diagnosis.servers.outcomes import Finding, ServerOutcome
from icegather.shared.net.endpoints import is_ipv6
from icegather.shared.vocabulary.failure_causes import SERVER_ERROR_CAUSES, FailureCause
from icegather.shared.vocabulary.stun_codes import describe

SERVER_CODES = frozenset(range(300, 700))
ANY_KIND = frozenset({"stun", "turn"})
ANY_TRANSPORT = frozenset({"udp", "tcp", "tls"})


@dataclass(frozen=True)
class Cause:
    """A row of the cause table: which failures it explains, and what it says about them.
    Placeholders: {expired_at} and {ago} (an expired credential); {answered_family},
    {failed_family}, {failed_address} and {record} (the DNS record of the failed family)."""

    name: str
    finding: str  # what is wrong, in a few words
    next_check: Wording  # what to look at first
    codes: frozenset[int] = SERVER_CODES
    causes: frozenset[str] = SERVER_ERROR_CAUSES  # the error's machine-readable cause
    kinds: frozenset[str] = ANY_KIND
    transports: frozenset[str] = ANY_TRANSPORT
    # True: only when UDP alone fails at the server (``udp_alone_fails``).
    udp_alone_fails: bool = False
    # True: only when the URL answered over the other address family than its error came over.
    other_family_answered: bool = False
    # Only for a credential in this state ("expired", "minted"); "" for any.
    credential: str = ""

    def explains(self, outcome: ServerOutcome, udp_alone_fails: bool) -> bool:
        return (
            outcome.error_code in self.codes
            and outcome.error_cause in self.causes
            and outcome.kind in self.kinds
            and outcome.transport in self.transports
            and (not self.udp_alone_fails or udp_alone_fails)
            and (not self.other_family_answered or outcome.answered_over_other_family is not None)
            and self.credential in ("", outcome.credential)
        )


def _code(*codes: int) -> frozenset[int]:
    return frozenset(codes)


def _cause(*causes: FailureCause) -> frozenset[str]:
    return frozenset(causes)


UNREACHABLE = _code(701)
# A TLS handshake that failed or never finished: the server took the TCP connection.
TLS_CAUSES = _cause("tls_failed", "tls_timeout")
TURN = frozenset({"turn"})
UDP = frozenset({"udp"})

# What a name with an address of a family that has no server behind it needs.
LISTEN = Wording(
    "have the server listen on {failed_family} too",
    {
        "coturn": "have coturn listen on {failed_family} too (listening-ip; with none, it listens on every address)",
        "pion": "have Pion TURN listen on {failed_family} too (a PacketConnConfig, and a ListenerConfig for TCP, "
                "whose socket is on an {failed_family} address)",
        "node-turn": "have node-turn listen on {failed_family} too (listeningIps; with none, it listens on every "
                     "address)",
    },
)
FAMILY_FIX = "the name's {failed_family} address (its {record} record, or the hosts file): remove it, or {listen}"
CREDENTIALS = Wording(
    "the username and credential; for time-limited (REST API) credentials, the shared secret and the clock of the "
    "machine that made them"
)

CAUSES: tuple[Cause, ...] = (
    Cause(
        "credential expired",
        "the time-limited credential expired at {expired_at}, {ago} s ago",
        Wording("the clock of the machine that minted it, and the time to live it was minted with"),
        codes=_code(401, 441),
        kinds=TURN,
        credential="expired",
    ),
    Cause(
        "shared secret",
        "the server refused a credential minted just now from the shared secret: the secrets differ",
        Wording(
            "the shared secret given to icegather against the server's",
            {
                "coturn": "the shared secret given to icegather against the server's (coturn: static-auth-secret)",
                "pion": "the shared secret given to icegather against the sharedSecret of Pion's "
                        "turn.NewLongTermAuthHandler (which takes a username that is the expiry time alone)",
                "node-turn": "node-turn has no shared-secret (TURN REST API) credentials: give icegather a username "
                             "and credential of its credentials option",
            },
        ),
        codes=_code(401, 441),
        kinds=TURN,
        credential="minted",
    ),
    Cause("credentials", "the TURN server refused the username or credential", CREDENTIALS, codes=_code(401, 441),
          kinds=TURN),
    Cause(
        # Pion answers a signed Allocate whose credential does not verify with 400.
        "credentials",
        "the TURN server refused the username or credential (it answered 400 to the request they signed)",
        CREDENTIALS,
        codes=_code(400),
        causes=_cause("signed_request_refused"),
        kinds=TURN,
    ),
    Cause(
        "quota",
        "the TURN server's allocation quota for this user (or in total) is used up",
        Wording(
            "stale sessions of this user, and the server's allocation quotas (per user and in total)",
            {"coturn": "stale sessions of this user, and the server's user-quota / total-quota"},
        ),
        codes=_code(486),
    ),
    Cause(
        "capacity",
        "the TURN server has no relay capacity left",
        Wording(
            "the server's relay port range and load",
            {
                "coturn": "the server's relay port range (min-port/max-port) and load",
                "pion": "the MinPort..MaxPort of Pion's RelayAddressGeneratorPortRange, and load",
                "node-turn": "node-turn's minPort..maxPort, and load",
            },
        ),
        codes=_code(508),
    ),
    Cause(
        "relay transport",
        "the TURN server does not relay over the transport asked for",
        Wording("which transports the server relays", {"coturn": "the server's no-udp-relay / no-tcp-relay settings"}),
        codes=_code(442),
    ),
    Cause(
        "relay address family",
        "the TURN server has no relay in any address family asked for (IPv4 and IPv6, together and alone)",
        Wording(
            "the server's relay addresses",
            {
                "coturn": "the server's relay-ip addresses",
                "pion": "the RelayAddress of each of Pion's RelayAddressGenerators",
                "node-turn": "node-turn's relayIps",
            },
        ),
        codes=_code(440),
    ),
    Cause("forbidden", "the server's policy forbids the request",
          Wording("the server's allowed/denied address lists and the user's rights"), codes=_code(403)),
    Cause("redirect", "the server redirected with 300 Try Alternate and the alternate failed too",
          Wording("both the server and its ALTERNATE-SERVER"), codes=_code(300)),
    Cause("protocol", "the server did not understand the request",
          Wording("that the URL points at a STUN/TURN server, and the server's version"), codes=_code(400, 420)),
    Cause("server error", "the server failed internally", Wording("the server's own log"), codes=_code(500)),
    Cause(
        "answers unverified",
        "the server answers, but no answer carried a MESSAGE-INTEGRITY that verifies: each was discarded, as RFC "
        "8489 requires",
        Wording(
            "that the server signs its answers with the key of the credential the request was signed with (RFC "
            "8489 section 9.2), in its version and log; a middlebox that rewrites STUN breaks the signature too"
        ),
        codes=UNREACHABLE,
        causes=_cause("answer_unverified"),
    ),
    Cause(
        "answers wrong transaction",
        "the server answers, but with transaction IDs no request had (made up): no answer could be matched to its "
        "request, so each was discarded",
        Wording(
            "the server's software: a response carries its request's transaction ID (RFC 8489 section 6.3); a "
            "middlebox that rewrites STUN can do the same"
        ),
        codes=UNREACHABLE,
        causes=_cause("answer_wrong_transaction"),
    ),
    Cause(
        "mapped address wrong",
        "the server's Binding answer contradicts itself: its XOR-MAPPED-ADDRESS, which a browser uses, is not the "
        "address its MAPPED-ADDRESS names, so the srflx candidate a browser makes from it is wrong",
        Wording(
            "the server's software: XOR-MAPPED-ADDRESS is XORed with the magic cookie 0x2112A442 in network byte "
            "order (RFC 8489 section 14.2); use a STUN server that encodes it right"
        ),
        codes=UNREACHABLE,
        causes=_cause("mapped_address_mismatch"),
    ),
    Cause(
        "family closed",
        "answers over {answered_family}; nothing listens over {failed_family} ({failed_address})",
        phrased(FAMILY_FIX, listen=LISTEN),
        codes=UNREACHABLE,
        causes=_cause("port_unreachable", "connection_refused"),
        other_family_answered=True,
    ),
    Cause(
        "family silent",
        "answers over {answered_family}; never answered over {failed_family} ({failed_address})",
        phrased(f"{FAMILY_FIX}; and firewalls on the way for {{failed_family}}", listen=LISTEN),
        codes=UNREACHABLE,
        causes=_cause("no_response", "connect_timeout"),
        other_family_answered=True,
    ),
    Cause("dns", "the host name does not resolve", Wording("the spelling of the name and its DNS A/AAAA records"),
          codes=UNREACHABLE, causes=_cause("dns")),
    Cause(
        "udp port closed",
        "nothing listens on that UDP port (the host answered ICMP port unreachable)",
        Wording("the port in the URL and that the server runs and listens on it"),
        codes=UNREACHABLE,
        causes=_cause("port_unreachable"),
    ),
    Cause(
        "host unreachable",
        "a router on the way says the server's host cannot be reached (ICMP host unreachable)",
        Wording("that the server's address is right and the host is up, and the routing to it"),
        codes=UNREACHABLE,
        causes=_cause("host_unreachable"),
    ),
    Cause("network unreachable", "a router on the way has no route to the server's network (ICMP network unreachable)",
          Wording("the routing between here and the server"), codes=UNREACHABLE, causes=_cause("network_unreachable")),
    Cause(
        "firewall rejects",
        "a firewall on the way rejects UDP to the server (ICMP administratively prohibited)",
        Wording("the firewall rules between here and the server, for UDP to this port"),
        codes=UNREACHABLE,
        causes=_cause("prohibited"),
    ),
    Cause(
        "packet too big",
        "the path to the server carries smaller packets than were sent (ICMP packet too big)",
        Wording("the MTU on the path: tunnels and VPNs lower it"),
        codes=UNREACHABLE,
        causes=_cause("fragmentation_needed"),
    ),
    Cause(
        "icmp",
        "an ICMP error came back for the packets to the server",
        Wording("the ICMP type and code in the error text, and the path to the server"),
        codes=UNREACHABLE,
        causes=_cause("icmp_other"),
    ),
    Cause(
        "cannot send",
        "this machine refused to send to the server (no route, or not permitted): nothing was sent",
        Wording("this machine's routes and local firewall, and the local address gathered from"),
        codes=UNREACHABLE,
        causes=_cause("send_failed"),
    ),
    Cause(
        "tcp port closed",
        "nothing listens on that TCP port (connection refused)",
        Wording("the port in the URL, and that the server listens on TCP (and TLS) there"),
        codes=UNREACHABLE,
        causes=_cause("connection_refused"),
    ),
    Cause(
        "tls",
        "the TLS handshake failed",
        Wording(
            "the server certificate: the URL's name must be on it, the chain complete and trusted, the dates valid "
            "(for a test server, --insecure-tls)"
        ),
        codes=UNREACHABLE,
        causes=TLS_CAUSES,
    ),
    Cause(
        "udp blocked",
        "UDP to the server is dropped on the way, while TCP to the same host and port works",
        Wording("firewalls between here and the server: they drop UDP to this port"),
        codes=UNREACHABLE,
        causes=_cause("no_response"),
        transports=UDP,
        udp_alone_fails=True,
    ),
    Cause(
        "silent",
        "the server never answered: packets are dropped on the way, or it is down",
        Wording("that the server runs, and firewalls on the path (UDP and TCP to the port)"),
        codes=UNREACHABLE,
        causes=_cause("no_response"),
    ),
    Cause(
        "tcp dropped",
        "the TCP connection could not be set up in time: packets are dropped on the way",
        Wording("firewalls on the path, and that the server runs"),
        codes=UNREACHABLE,
        causes=_cause("connect_timeout"),
    ),
    Cause(
        "hang-up",
        "the server ended the connection without answering",
        Wording("that the port speaks STUN/TURN (not, say, TLS on a turn: URL or plain TCP on a turns: URL)"),
        codes=UNREACHABLE,
        causes=_cause("connection_reset", "connection_closed", "connection_lost"),
    ),
    Cause("not stun", "something answered that is not a STUN/TURN server",
          Wording("that the URL's port is the STUN/TURN port"), codes=UNREACHABLE, causes=_cause("malformed_response")),
    Cause(
        "address family",
        "no local address of the server's address family",
        Wording("this machine's IPv4/IPv6 connectivity, or use a server address of the other family"),
        codes=UNREACHABLE,
        causes=_cause("no_local_address"),
    ),
    Cause(
        "redirect unreachable",
        "the server redirected (300 Try Alternate) to an address this machine cannot reach",
        Wording(
            "the server's alternate: it must be reachable in the same address family",
            {"coturn": "the server's alternate-server setting: the alternate must be reachable in the same address "
                       "family"},
        ),
        codes=UNREACHABLE,
        causes=_cause("redirect_unreachable"),
    ),
    Cause(
        "redirect not followed",
        "the server redirected (300 Try Alternate) to another server, which this module's credentials may not go to",
        Wording("probe the alternate server itself, with a module that allows it"),
        codes=UNREACHABLE,
        causes=_cause("redirect_not_followed"),
    ),
    Cause(
        "internal error",
        "icegather failed on this URL: a bug, logged with its traceback",
        Wording("the traceback the transport wrote to stderr; please report it"),
        codes=UNREACHABLE,
        causes=_cause("internal_error"),
    ),
    Cause("local socket", "a local socket could not be opened", Wording("the local address given to gather from"),
          codes=UNREACHABLE, causes=_cause("socket_failed")),
)


def udp_alone_fails(outcome: ServerOutcome, outcomes: Sequence[ServerOutcome]) -> bool:
    """UDP alone fails at the server: another URL of the same host and port answered over TCP or
    TLS, and no URL of that host answered over UDP (which would show UDP gets through)."""
    others = [other for other in outcomes if other.host == outcome.host and other is not outcome and other.answered]
    return any(other.port == outcome.port and other.transport in ("tcp", "tls") for other in others) and not any(
        other.transport == "udp" for other in others
    )


def explain_failure(outcome: ServerOutcome, outcomes: Sequence[ServerOutcome]) -> Finding:
    """The first row of ``CAUSES`` that explains a failed URL (a generic one if none does)."""
    only_udp = udp_alone_fails(outcome, outcomes)
    for cause in CAUSES:
        if cause.explains(outcome, only_udp):
            values = _values(outcome)
            next_check = cause.next_check.said_for(outcome.product).format(**values)
            return Finding(outcome.url, cause.name, cause.finding.format(**values), next_check, outcome.entry)
    known = describe(outcome.error_code) if outcome.error_code is not None else None
    finding = f"the server answered {outcome.error_code} {known.name if known else ''}".strip()
    return Finding(outcome.url, "other", finding, known.advice if known else "the server's log", outcome.entry)


def _values(outcome: ServerOutcome) -> dict[str, object]:
    """The outcome's facts for the placeholders of a row."""
    failed = outcome.error_server_address or ""
    expired = outcome.expired_at
    return {
        "expired_at": datetime.fromtimestamp(expired, timezone.utc).isoformat(timespec="seconds") if expired else "",
        "ago": outcome.expired_seconds_ago,
        "answered_family": outcome.answered_over_other_family,
        "failed_family": outcome.failed_family,
        "failed_address": f"[{failed}]" if failed and is_ipv6(failed) else failed,
        "record": "AAAA" if outcome.failed_family == "IPv6" else "A",
    }
