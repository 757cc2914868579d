"""The fixes of the audit's findings: in the words of the server's product where they are known
(``server_products``), else in generic words that name no product.

Pure data and two lookups, by finding name: ``fix_for`` (a finding on a server whose product
may be known) and ``explained_fix`` (``icegather explain``, which knows no server: every
product's words).
"""

from __future__ import annotations

from icegather.main_proc.diagnosis.server_products import ServerProduct, Wording, in_words_of
from icegather.shared.vocabulary.audit_plan import PeerKind

PEER_RANGES: dict[PeerKind, str] = {
    "loopback": "127.0.0.0/8 and ::1, and the IPv4-mapped ::ffff:127.0.0.0/104",
    "unspecified": "0.0.0.0/8 and ::, and the IPv4-mapped ::ffff:0.0.0.0/104",
    "metadata": "169.254.0.0/16",
    "private": "10.0.0.0/8, 172.16.0.0/12 and 192.168.0.0/16",
    "link-local": "fe80::/10",
    "shared": "100.64.0.0/10",
    "unique-local": "fc00::/7",
    "multicast": "224.0.0.0/4 and ff00::/8",
    "broadcast": "255.255.255.255",
}
# Go's net.IP methods treat an IPv4-mapped address as the IPv4 one, so each covers both forms.
PION_PEER_TESTS: dict[PeerKind, str] = {
    "loopback": "peerIP.IsLoopback()",
    "unspecified": "peerIP.IsUnspecified(), or peerIP.To4() starts with 0",
    "metadata": "peerIP.IsLinkLocalUnicast() (169.254.0.0/16)",
    "private": "peerIP.IsPrivate()",
    "link-local": "peerIP.IsLinkLocalUnicast()",
    "shared": "100.64.0.0/10 (net.ParseCIDR) contains peerIP",
    "unique-local": "peerIP.IsPrivate() (it covers fc00::/7)",
    "multicast": "peerIP.IsMulticast()",
    "broadcast": "peerIP.Equal(net.IPv4bcast)",
}
COTURN_MAPPED = "denied-peer-ip=::ffff:0.0.0.0-::ffff:255.255.255.255 for the {}"
COTURN_PEER_WORDS: dict[PeerKind, str] = {
    "loopback": "no-loopback-peers (the default since 4.5.2: remove allow-loopback-peers), and "
                + COTURN_MAPPED.format("IPv4-mapped forms, which coturn 4.6's IPv6 relays let through"),
    "unspecified": "upgrade to 4.5.2 or later (CVE-2020-26262), denied-peer-ip=0.0.0.0-0.255.255.255, and "
                   + COTURN_MAPPED.format("IPv4-mapped ::ffff:0.0.0.0"),
    "metadata": "denied-peer-ip=169.254.0.0-169.254.255.255",
    "private": "denied-peer-ip=10.0.0.0-10.255.255.255, 172.16.0.0-172.31.255.255 and 192.168.0.0-192.168.255.255",
    "link-local": "denied-peer-ip=fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "shared": "denied-peer-ip=100.64.0.0-100.127.255.255",
    "unique-local": "denied-peer-ip=fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "multicast": "no-multicast-peers",
    "broadcast": "no-multicast-peers (it covers broadcast too)",
}
UNLESS_MEANT = {"private": ", unless peers there are meant to be reached"}


def peer_fix(kind: PeerKind) -> Wording:
    ranges, unless = PEER_RANGES[kind], UNLESS_MEANT.get(kind, "")
    return Wording(
        f"refuse peers in {ranges} (the server's peer filter, or a firewall rule that drops what its relay "
        f"addresses send there){unless}",
        {
            "coturn": COTURN_PEER_WORDS[kind] + unless,
            "pion": "a PermissionHandler in each PacketConnConfig and ListenerConfig (nil grants every peer) that "
                    f"returns false when {PION_PEER_TESTS[kind]}{unless}",
            "node-turn": "it has no option that refuses peers (it grants every CreatePermission and ChannelBind): "
                         f"drop what its relayIps send to {ranges} with a firewall{unless}",
        },
    )


FIXES: dict[str, Wording] = {
    "open relay": Wording(
        "require credentials for every Allocate (long-term credentials, or the TURN REST API's shared secret)",
        {
            "coturn": "lt-cred-mech or use-auth-secret, never no-auth",
            "pion": "an AuthHandler that returns ok=false for a username it does not know",
            "node-turn": "authMech: 'long-term' with credentials (its default, 'none', takes anyone)",
        },
    ),
    **{f"{kind} peer": peer_fix(kind) for kind in PEER_RANGES},
    "tls version": Wording(
        "accept TLS 1.2 and later only",
        {"coturn": "no-tlsv1 and no-tlsv1_1", "pion": "MinVersion: tls.VersionTLS12 in the listener's tls.Config"},
    ),
    "software version": Wording(
        "send no version in SOFTWARE, or no SOFTWARE at all", {"coturn": "no-software-attribute"}
    ),
    "certificate untrusted": Wording(
        "serve the full chain from a certificate authority clients trust", {"coturn": "cert= the full chain file"}
    ),
}


def fix_for(name: str, product: ServerProduct | None) -> str:
    fix = FIXES[name]
    return in_words_of(product, fix.words, fix.generic)


def explained_fix(name: str) -> Wording:
    return FIXES[name]
