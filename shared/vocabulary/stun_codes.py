"""The registry of STUN/TURN error codes that can end up in ``icecandidateerror.errorCode``.

Codes 300-699 come from a server's ERROR-CODE attribute (the IANA "STUN Error Codes"
registry); 700-799 are produced by the local ICE agent (W3C webrtc-pc defines 701, "server not
reachable"). Each entry says where the code is defined, who produces it, what it means for
someone gathering candidates, and what to check next.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    code: int
    name: str
    reference: str
    meaning: str
    advice: str

    @property
    def produced_by(self) -> str:
        return "local ICE agent" if self.code >= 700 else "STUN/TURN server"


def _entries(*rows: tuple[int, str, str, str, str]) -> dict[int, ErrorCode]:
    return {row[0]: ErrorCode(*row) for row in rows}


REGISTRY: dict[int, ErrorCode] = _entries(
    (300, "Try Alternate", "RFC 8489",
     "The server redirected the request to the server in its ALTERNATE-SERVER attribute.",
     "The alternate server failed too, or the redirect was unusable: check both servers."),
    (400, "Bad Request", "RFC 8489",
     "The server could not parse the request.",
     "The server and client disagree on the protocol; check the server's logs and version."),
    (401, "Unauthorized", "RFC 8489",
     "The server refused the credentials (it is only reported when the retry with credentials "
     "fails too).",
     "Check the username and credential, the server's realm, and for time-limited (REST API) "
     "credentials the clock and the shared secret."),
    (403, "Forbidden", "RFC 8656",
     "The request was valid but the server's policy does not allow it (for example a denied "
     "peer or relay address).",
     "Check the server's allowed/denied address lists and user permissions."),
    (405, "Mobility Forbidden", "RFC 8016",
     "The server does not allow TURN mobility for this allocation.",
     "Disable mobility on the client or enable it on the server."),
    (420, "Unknown Attribute", "RFC 8489",
     "The server did not understand a comprehension-required attribute of the request.",
     "The server is older than the client's protocol features; upgrade the server."),
    (430, "Stale Credentials", "RFC 3489 (obsolete)",
     "A legacy server says the shared secret expired.",
     "Fetch fresh credentials; consider replacing the legacy server."),
    (431, "Integrity Check Failure", "RFC 3489 (obsolete)",
     "A legacy server found a wrong MESSAGE-INTEGRITY.",
     "Check the credential; consider replacing the legacy server."),
    (432, "Missing Username", "RFC 3489 (obsolete)",
     "A legacy server wanted a USERNAME with the MESSAGE-INTEGRITY.",
     "Configure a username; consider replacing the legacy server."),
    (433, "Use TLS", "RFC 3489 (obsolete)",
     "A legacy server wants the shared-secret request over TLS.",
     "Use a turns:/stuns: URL, or replace the legacy server."),
    (437, "Allocation Mismatch", "RFC 8656",
     "An allocation already exists for this client address and port, or none exists where one "
     "was expected.",
     "Another client or an earlier run holds an allocation from the same address and port; "
     "wait for it to expire or use another local port."),
    (438, "Stale Nonce", "RFC 8489",
     "The server's NONCE expired and the retry with a fresh one failed too.",
     "The server rotates nonces faster than requests complete; check its stale-nonce setting."),
    (440, "Address Family not Supported", "RFC 8656",
     "The server cannot relay the requested address family (IPv4/IPv6).",
     "Request the other address family or enable it on the server."),
    (441, "Wrong Credentials", "RFC 8656",
     "The credentials of a request differ from those that created the allocation.",
     "Use the same username and credential for the whole allocation."),
    (442, "Unsupported Transport Protocol", "RFC 8656",
     "The server does not relay the requested transport protocol.",
     "Check the server's relay options (for example coturn's --no-udp-relay)."),
    (443, "Peer Address Family Mismatch", "RFC 8656",
     "The peer address family differs from the relayed address family.",
     "Use a peer of the same family as the relayed address."),
    (446, "Connection Already Exists", "RFC 6062",
     "A TCP connection to that peer already exists on this allocation.",
     "Reuse the existing connection."),
    (447, "Connection Timeout or Failure", "RFC 6062",
     "The server could not open the TCP connection to the peer.",
     "Check that the peer accepts TCP connections from the server."),
    (486, "Allocation Quota Reached", "RFC 8656",
     "The user already holds as many allocations as the server allows.",
     "Close unused allocations or raise the server's per-user quota (coturn: --user-quota)."),
    (487, "Role Conflict", "RFC 8445",
     "ICE roles conflicted in a connectivity check.",
     "Nothing to fix on a STUN/TURN server: it is resolved by the ICE agents."),
    (500, "Server Error", "RFC 8489",
     "The server had a temporary error.",
     "Retry later and check the server's logs."),
    (508, "Insufficient Capacity", "RFC 8656",
     "The server has no relay addresses or ports left (or a global quota is reached).",
     "Widen the server's relay port range or total quota (coturn: --max-port, --total-quota)."),
    (600, "Global Failure", "RFC 3489 (obsolete)",
     "A legacy server refuses the request for good.",
     "Replace or reconfigure the legacy server."),
    (701, "Server Not Reachable", "W3C webrtc-pc",
     "No usable answer came from the server: the name did not resolve, nothing answered, the "
     "connection or the TLS handshake failed. The error text names the cause.",
     "Follow the error text: check DNS for a lookup failure, firewalls and the server's port "
     "for timeouts and refused connections, the certificate for TLS failures."),
)


def describe(code: int) -> ErrorCode | None:
    return REGISTRY.get(code)


def reason_phrase(code: int) -> str:
    """The standard reason phrase of a code, or a generic one for unregistered codes."""
    entry = REGISTRY.get(code)
    if entry is not None:
        return entry.name
    return "Locally generated error" if code >= 700 else "Unregistered error"
