"""What the facts of ``icegather audit`` mean: a severity, a result in words and the fix.

Pure: ``classify_all`` reads the ``AuditResultInfo`` of every check the transport made and
gives the findings: one per check, except that a peer's CreatePermission and ChannelBind make
one finding, and ``plain_credentials`` spans URLs. Every finding has a name that
``icegather explain NAME`` explains (``FINDINGS``). Severities: critical (the server can be
abused now), warning (it should be fixed), info, ok.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from icegather.shared.audit_plan import PEER_KINDS, PEER_PORT, PeerKind
from icegather.shared.ice_url import parse_ice_url
from icegather.shared.structs import AuditResultInfo

Severity = Literal["critical", "warning", "info", "ok"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info", "ok")
DEFAULT_CERT_WARN_DAYS = 14
DAY = 86400
# OpenSSL's certificate verification codes (include/openssl/x509_vfy.h).
CERT_HAS_EXPIRED = 10
SELF_SIGNED = frozenset({18, 19})  # depth zero self-signed; self-signed in the chain
HOSTNAME_MISMATCH = 62


@dataclass(frozen=True)
class AuditFinding:
    url: str
    name: str  # what ``icegather explain`` knows it by
    severity: Severity
    result: str  # what the check saw, in words
    fix: str  # what to do about it; "" when nothing is to be done
    subject: str = ""  # the peer, TLS version, ... the check was about


@dataclass(frozen=True)
class Explained:
    """A finding's name, what it means and the fix, for ``icegather explain``."""

    name: str
    meaning: str
    fix: str


DENY = "coturn: denied-peer-ip={}"
MAPPED = "denied-peer-ip=::ffff:0.0.0.0-::ffff:255.255.255.255 for the {}"
PEER_FIXES: dict[PeerKind, tuple[Severity, str]] = {
    "loopback": ("critical", "coturn: no-loopback-peers (the default since 4.5.2: remove allow-loopback-peers), "
                             "and " + MAPPED.format("IPv4-mapped forms, which coturn 4.6's IPv6 relays let through")),
    "unspecified": ("critical", "upgrade coturn to 4.5.2 or later (CVE-2020-26262), "
                                "denied-peer-ip=0.0.0.0-0.255.255.255, and "
                                + MAPPED.format("IPv4-mapped ::ffff:0.0.0.0")),
    "metadata": ("critical", DENY.format("169.254.0.0-169.254.255.255")),
    "private": ("warning", DENY.format("10.0.0.0-10.255.255.255, 172.16.0.0-172.31.255.255 and "
                                       "192.168.0.0-192.168.255.255") + ", unless peers there are meant to be reached"),
    "link-local": ("warning", DENY.format("fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
    "shared": ("warning", DENY.format("100.64.0.0-100.127.255.255")),
    "unique-local": ("warning", DENY.format("fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
    "multicast": ("warning", "coturn: no-multicast-peers"),
    "broadcast": ("warning", "coturn: no-multicast-peers (it covers broadcast too)"),
}
PEER_MEANINGS: dict[PeerKind, str] = {
    "loopback": "services on the TURN server's own machine",
    "unspecified": "the TURN server's own machine, through the unspecified address",
    "metadata": "the cloud metadata service (instance credentials)",
    "private": "hosts of the private network the TURN server stands in",
    "link-local": "hosts on the TURN server's links",
    "shared": "hosts behind the carrier-grade NAT",
    "unique-local": "hosts of the private IPv6 network the TURN server stands in",
    "multicast": "multicast groups of the TURN server's network",
    "broadcast": "every host of the TURN server's network at once",
}
OPEN_RELAY_FIX = "require credentials: coturn lt-cred-mech or use-auth-secret, never no-auth"
OLD_TLS_FIX = "coturn: no-tlsv1 and no-tlsv1_1"
SOFTWARE_FIX = "coturn: no-software-attribute"
PLAIN_FIX = ("prefer turns: where clients support it; the password itself never travels (MESSAGE-INTEGRITY), "
             "but usernames and relayed traffic are in the clear")
NOT_AUDITED_FIX = "that the URL is right and the server runs: icegather -s URL says why it cannot be reached"

FINDINGS: tuple[Explained, ...] = (
    Explained("open relay", "the TURN server allocates relays without any credentials: anyone can use it as a proxy",
              OPEN_RELAY_FIX),
    *(Explained(f"{kind} peer", f"the TURN server relays to {meaning}: a client can reach them through it",
                PEER_FIXES[kind][1]) for kind, meaning in PEER_MEANINGS.items()),
    Explained("credentials", "the configured credentials allocate (without them, peers cannot be checked)",
              "give working credentials to check what the server relays to"),
    Explained("tls version", "a TLS protocol version the server accepts; TLS 1.0 and 1.1 are broken and deprecated",
              OLD_TLS_FIX),
    Explained("certificate expired", "the certificate has expired: clients refuse the TLS connection",
              "renew the certificate (and automate the renewal)"),
    Explained("certificate expiring", "the certificate expires soon (--cert-warn-days, 14 by default)",
              "renew the certificate before it expires"),
    Explained("certificate self-signed", "the certificate is self-signed: browsers refuse it",
              "use a certificate from a certificate authority clients trust"),
    Explained("certificate name", "the certificate does not name the host of the URL: clients refuse it",
              "a certificate whose subjectAltName has the URL's host"),
    Explained("certificate untrusted", "the certificate chain does not verify (incomplete, or an unknown issuer)",
              "serve the full chain (coturn: cert= the full chain file) from a trusted authority"),
    Explained("certificate", "the certificate verifies and is valid for longer than --cert-warn-days", ""),
    Explained("software version", "the server names its software and version in every answer (SOFTWARE): "
              "an attacker learns which vulnerabilities to try", SOFTWARE_FIX),
    Explained("plain credentials", "long-term credentials are accepted on a turn: URL of a host that also serves "
              "turns:", PLAIN_FIX),
    Explained("not audited", "a check got no usable answer (the server is unreachable or stopped answering)",
              NOT_AUDITED_FIX),
)


def classify(
    info: AuditResultInfo, now: float, cert_warn_days: int = DEFAULT_CERT_WARN_DAYS
) -> tuple[AuditFinding, ...]:
    """The findings of one check."""
    if info.outcome == "failed":
        return (finding(info, "not audited", "warning", f"{check_words(info)}: {info.error_text}", NOT_AUDITED_FIX),)
    if info.check == "allocate_without_credentials":
        if info.outcome == "accepted":
            return (finding(info, "open relay", "critical", f"allocated a relay ({info.subject}) with no credentials",
                            OPEN_RELAY_FIX),)
        return (finding(info, "open relay", "ok", f"refused without credentials ({refusal(info)})"),)
    if info.check == "allocate":
        if info.outcome == "accepted":
            return (finding(info, "credentials", "ok", "allocated with the configured credentials"),)
        return (finding(info, "credentials", "warning", f"the configured credentials were refused ({refusal(info)}): "
                        "what the server relays to is not checked", "give working credentials"),)
    if info.check in ("peer_permission", "peer_channel"):
        return (peer_finding(info, channel_granted=False),)
    if info.check == "tls_version":
        return (tls_version_finding(info),)
    if info.check == "certificate":
        return certificate_findings(info, now, cert_warn_days)
    return (software_finding(info),)


def finding(info: AuditResultInfo, name: str, severity: Severity, result: str, fix: str = "") -> AuditFinding:
    return AuditFinding(info.url, name, severity, result, fix if severity != "ok" else "", info.subject)


def refusal(info: AuditResultInfo) -> str:
    return f"{info.error_code} {info.error_text}".strip() if info.error_code else info.error_text or "refused"


def check_words(info: AuditResultInfo) -> str:
    subject = f" {info.subject}" if info.subject else ""
    return {
        "allocate_without_credentials": "Allocate",
        "allocate": "Allocate with credentials",
        "peer_permission": f"CreatePermission for{subject}",
        "peer_channel": f"ChannelBind to{subject}",
        "tls_version": f"TLS handshake with{subject}",
        "certificate": "TLS handshake for the certificate",
        "software": "Binding",
    }[info.check]


def classify_all(results: Sequence[AuditResultInfo], now: float, cert_warn_days: int) -> list[AuditFinding]:
    """The findings of an audit: a peer's granted ChannelBind joins its CreatePermission's."""
    bound = {(r.url, r.subject) for r in results if r.check == "peer_channel" and r.outcome == "accepted"}
    found: list[AuditFinding] = []
    for result in results:
        if result.check == "peer_permission" and result.outcome != "failed":
            found.append(peer_finding(result, channel_granted=(result.url, result.subject) in bound))
        elif not (result.check == "peer_channel" and result.outcome == "accepted"):
            found += classify(result, now, cert_warn_days)
    return found + list(without_credentials(results)) + list(plain_credentials(results))


def without_credentials(results: Sequence[AuditResultInfo]) -> Iterable[AuditFinding]:
    """TURN URLs that refused an Allocate without credentials and got none to try: their peers
    could not be asked for."""
    authenticated = {r.url for r in results if r.check == "allocate"}
    for r in results:
        if r.check == "allocate_without_credentials" and r.outcome == "refused" and r.url not in authenticated:
            yield AuditFinding(r.url, "credentials", "info", "no credentials given: what the server relays to is "
                               "not checked", "give --username and --credential-file, or --auth-secret-file")


def peer_finding(info: AuditResultInfo, channel_granted: bool) -> AuditFinding:
    kind = PEER_KINDS[info.subject]
    name = f"{kind} peer"
    request = "CreatePermission" if info.check == "peer_permission" else f"ChannelBind to port {PEER_PORT}"
    if channel_granted:
        request += f" and ChannelBind to port {PEER_PORT}"
    if info.outcome == "accepted":
        severity, fix = PEER_FIXES[kind]
        return finding(info, name, severity, f"{request} for {info.subject} granted", fix)
    if info.error_code == 443:
        return finding(info, name, "ok", f"{request} for {info.subject}: no relay of that address family (443)")
    return finding(info, name, "ok", f"{request} for {info.subject} refused ({refusal(info)})")


def tls_version_finding(info: AuditResultInfo) -> AuditFinding:
    old = info.subject in ("TLSv1", "TLSv1.1")
    if info.outcome == "accepted":
        if old:
            return finding(info, "tls version", "warning", f"accepts {info.subject}", OLD_TLS_FIX)
        return finding(info, "tls version", "ok", f"accepts {info.subject}")
    if old:
        return finding(info, "tls version", "ok", f"refuses {info.subject}")
    return finding(info, "tls version", "info", f"refuses {info.subject} ({info.error_text or 'no handshake'})",
                   "offer TLS 1.2 and 1.3")


def certificate_findings(info: AuditResultInfo, now: float, warn_days: int) -> tuple[AuditFinding, ...]:
    until = datetime.fromtimestamp(info.expires, timezone.utc).isoformat(timespec="seconds") if info.expires else "?"
    days = (info.expires - now) / DAY if info.expires else None
    if info.outcome == "refused" and info.error_code == CERT_HAS_EXPIRED:
        ago = f", {-days:.0f} days ago" if days is not None else ""
        return (finding(info, "certificate expired", "critical", f"expired at {until}{ago}",
                        "renew the certificate (and automate the renewal)"),)
    found = []
    if info.outcome == "refused":
        if info.error_code in SELF_SIGNED:
            name, fix = "certificate self-signed", "use a certificate from a certificate authority clients trust"
        elif info.error_code == HOSTNAME_MISMATCH:
            name, fix = "certificate name", "a certificate whose subjectAltName has the URL's host"
        else:
            name, fix = "certificate untrusted", "serve the full chain from a trusted certificate authority"
        found.append(finding(info, name, "warning", f"does not verify: {info.error_text}", fix))
    if days is not None and days < warn_days:
        found.append(finding(info, "certificate expiring", "warning", f"expires at {until}, in {days:.1f} days",
                             "renew the certificate before it expires"))
    if not found:
        found.append(finding(info, "certificate", "ok", f"verifies, valid until {until}"))
    return tuple(found)


def software_finding(info: AuditResultInfo) -> AuditFinding:
    if info.outcome == "accepted" and any(ch.isdigit() for ch in info.subject):
        return finding(info, "software version", "info", f"SOFTWARE says {info.subject!r}", SOFTWARE_FIX)
    said = f"SOFTWARE says {info.subject!r}, with no version" if info.subject else "no SOFTWARE attribute"
    return finding(info, "software version", "ok", said)


def plain_credentials(results: Iterable[AuditResultInfo]) -> tuple[AuditFinding, ...]:
    """Long-term credentials accepted on a turn: URL (UDP or TCP) of a host that also has a
    turns: URL among those audited."""
    results = list(results)
    urls = {result.url: parse_ice_url(result.url) for result in results}
    tls_hosts = {url.host.lower() for url in urls.values() if url.scheme == "turns"}
    return tuple(
        AuditFinding(result.url, "plain credentials", "info",
                     f"credentials accepted over {urls[result.url].transport.upper()} while {urls[result.url].host} "
                     "also serves turns:", PLAIN_FIX)
        for result in results
        if result.check == "allocate" and result.outcome == "accepted"
        and urls[result.url].scheme == "turn" and urls[result.url].host.lower() in tls_hosts
    )


def severity_order(found: AuditFinding) -> int:
    return SEVERITIES.index(found.severity)

