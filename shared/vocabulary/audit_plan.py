"""What ``icegather audit`` tries on a TURN server, which both processes agree on: the checks,
and the peer addresses a TURN server should refuse to relay to, each with its kind.

The transport asks for a permission (CreatePermission) and a channel (ChannelBind) for each
peer, on the relay of the peer's address family when the server gave one; it never sends data
to any of them. The main process's audit table says, per kind, how serious an accepted
permission is and what the fix is.
"""

from __future__ import annotations

from typing import Literal, get_args

from icegather.shared.net.endpoints import parse_ip

AuditCheck = Literal[
    "allocate_without_credentials",  # an Allocate with no credentials at all
    "allocate",  # an Allocate with the configured credentials
    "ipv6_relay",  # beyond a browser: an Allocate for an IPv6 relay alone, on a socket of its own
    "peer_permission",  # CreatePermission for one of AUDIT_PEERS
    "peer_channel",  # ChannelBind to one of AUDIT_PEERS, after its permission was granted
    "tls_version",  # a TLS handshake that offers one protocol version only
    "certificate",  # the server's certificate, verified as a browser would
    "software",  # the SOFTWARE attribute of the first answer of the URL's audit that has one
]
AUDIT_CHECKS: tuple[AuditCheck, ...] = get_args(AuditCheck)

AuditOutcome = Literal["accepted", "refused", "failed"]  # failed: no usable answer
AUDIT_OUTCOMES: tuple[AuditOutcome, ...] = get_args(AuditOutcome)

PeerKind = Literal[
    "loopback", "unspecified", "metadata", "private", "link-local", "shared", "unique-local", "multicast", "broadcast"
]

# Each peer, and what it is. Besides the plain forms, the encodings that slipped past coturn's
# loopback block before CVE-2020-26262 was fixed: IPv4-mapped, and the unspecified address.
AUDIT_PEERS: tuple[tuple[str, PeerKind], ...] = (
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("::ffff:0.0.0.0", "unspecified"),
    ("169.254.169.254", "metadata"),  # the cloud metadata service
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("192.168.0.1", "private"),
    ("fe80::1", "link-local"),
    ("100.64.0.1", "shared"),
    ("fd00::1", "unique-local"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"),
)
PEER_KINDS: dict[str, PeerKind] = dict(AUDIT_PEERS)
# The port ChannelBind names (it needs one); nothing is ever sent to it. Each peer has a port
# and channel number of its own: a server that takes ::ffff:127.0.0.1 for 127.0.0.1 (Pion does)
# would otherwise refuse the second binding of one transport address, not the peer.
PEER_PORT = 3478
PEER_INDEX: dict[str, int] = {peer: index for index, (peer, _) in enumerate(AUDIT_PEERS)}


def peer_port(peer: str) -> int:
    return PEER_PORT + PEER_INDEX[peer]


def subject_fits(check: str, outcome: str, subject: str) -> bool:
    """Whether a result's subject is one its check can have: a peer of AUDIT_PEERS, the IP
    address of a relay that was given."""
    if check in ("peer_permission", "peer_channel"):
        return subject in PEER_KINDS
    if outcome == "accepted" and check in ("allocate_without_credentials", "allocate", "ipv6_relay"):
        return parse_ip(subject) is not None
    return True

TLS_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
