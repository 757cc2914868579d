"""What the facts of ``icegather audit`` mean: a severity, a result in words and the fix.

Pure: ``classify_all`` reads the ``AuditResultInfo`` of every check the transport made and
gives the findings: one per check, except that a peer's CreatePermission and ChannelBind make
one finding, and ``authenticated checks`` and ``plain credentials`` span checks. Every finding has a
name that ``icegather explain NAME`` explains (``FINDINGS``). Severities: critical (the server
can be abused now), warning (it should be fixed), not checked (a check could not run: it is
never counted as ok), info, ok. A fix is in the words of the server's product when its
SOFTWARE names one (``audit_fixes``), else in generic words.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from icegather.main_proc.diagnosis.audit.audit_fixes import explained_fix, fix_for
from icegather.main_proc.diagnosis.server_products import ServerProduct, Wording, recognise
from icegather.shared.config.ice_url import parse_ice_url
from icegather.shared.net.endpoints import family_name
from icegather.shared.structs import AuditResultInfo
from icegather.shared.vocabulary.audit_plan import PEER_KINDS, PeerKind
from icegather.shared.vocabulary.meaning import Meaning

Severity = Literal["critical", "warning", "not checked", "info", "ok"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "not checked", "info", "ok")
# The auditsummary record counts each severity under its key: the label, camelCase where it has
# a space.
COUNT_KEYS: dict[Severity, str] = {severity: severity for severity in SEVERITIES} | {"not checked": "notChecked"}
# How bad a finding is, in words (``icegather explain``): in capitals before each finding, in
# lower case in its summary line and NDJSON (``severity``, ``verdict``).
SEVERITY_MEANINGS: Mapping[Severity, Meaning] = {
    "critical": Meaning("the server can be abused now: it relays for anyone, or into its own machine or the "
                        "cloud metadata service, or its certificate has expired", "fix it first: the finding's "
                        "fix line says how, in the server product's words"),
    "warning": Meaning("the server should be fixed: it relays into private networks, or to multicast or "
                       "broadcast, accepts an old TLS version, or its certificate does not verify or expires soon",
                       "the finding's fix line"),
    "not checked": Meaning("a check could not run: without credentials, or with refused ones, the checks of what a "
                           "TURN server relays to, or a check that failed (its result says why); never counted as "
                           "ok: the audit exits 1", "give working --username and --credential-file, or "
                           "--auth-secret-file, and audit again"),
    "info": Meaning("a fact about the server, and no fault: a TLS version it refuses, the software it names, "
                    "credentials sent over plain UDP or TCP", "nothing"),
    "ok": Meaning("the check ran and found nothing to fix", "nothing"),
}
# What the exit status counts: a check that could not run is no pass.
FAILING: frozenset[Severity] = frozenset({"critical", "warning", "not checked"})
DEFAULT_CERT_WARN_DAYS = 14
DAY = 86400
# OpenSSL's certificate verification codes (include/openssl/x509_vfy.h).
CERT_HAS_EXPIRED = 10
SELF_SIGNED = frozenset({18, 19})  # depth zero self-signed; self-signed in the chain
HOSTNAME_MISMATCH = 62
# RFC 8656 section 11.2: a ChannelBind is refused with 400 for its channel number or its
# transport address being bound already, never for the peer (that is 403).
CHANNEL_BAD_REQUEST = 400


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
    """A finding's name, what it means and the fix (generic, and in each product's words), for
    ``icegather explain``."""

    name: str
    meaning: str
    fix: Wording = Wording("")  # noqa: RUF009 (frozen: one shared default is safe)


PEER_SEVERITIES: dict[PeerKind, Severity] = {
    "loopback": "critical", "unspecified": "critical", "metadata": "critical", "private": "warning",
    "link-local": "warning", "shared": "warning", "unique-local": "warning", "multicast": "warning",
    "broadcast": "warning",
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
CREDENTIALS_OPTIONS = "--username and --credential-file, or --auth-secret-file"
PLAIN_FIX = ("prefer turns: where clients support it; the password itself never travels (MESSAGE-INTEGRITY), "
             "but usernames and relayed traffic are in the clear")
AUTHENTICATED = "authenticated checks"
NOT_AUDITED_FIX = "that the URL is right and the server runs: icegather -s URL says why it cannot be reached"

FINDINGS: tuple[Explained, ...] = (
    Explained("open relay", "the TURN server allocates relays without any credentials: anyone can use it as a proxy",
              explained_fix("open relay")),
    *(Explained(f"{kind} peer", f"the TURN server relays to {meaning}: a client can reach them through it (a "
                "peer of an address family the relay does not have cannot be reached, whatever is granted: ok)",
                explained_fix(f"{kind} peer")) for kind, meaning in PEER_MEANINGS.items()),
    # Not "credentials": that is the diagnosis cause of a server that refuses them.
    Explained(AUTHENTICATED, "whether the checks that need an allocation ran: the configured credentials allocate; "
              "without them (none given, or refused) what the server relays to is not checked",
              Wording(f"give working credentials: {CREDENTIALS_OPTIONS}")),
    Explained("ipv6 relay", "whether the server gives an IPv6 relay when asked for one alone (beyond what a "
              "browser asks): the IPv6 peers are asked on it; without one they cannot be reached through the "
              "server"),
    Explained("tls version", "a TLS protocol version the server accepts; TLS 1.0 and 1.1 are broken and deprecated",
              explained_fix("tls version")),
    Explained("certificate expired", "the certificate has expired: clients refuse the TLS connection",
              Wording("renew the certificate (and automate the renewal)")),
    Explained("certificate expiring", "the certificate expires soon (--cert-warn-days, 14 by default)",
              Wording("renew the certificate before it expires")),
    Explained("certificate self-signed", "the certificate is self-signed: browsers refuse it",
              Wording("use a certificate from a certificate authority clients trust")),
    Explained("certificate name", "the certificate does not name the host of the URL: clients refuse it",
              Wording("a certificate whose subjectAltName has the URL's host")),
    Explained("certificate untrusted", "the certificate chain does not verify (incomplete, or an unknown issuer)",
              explained_fix("certificate untrusted")),
    Explained("certificate", "the certificate verifies and is valid for longer than --cert-warn-days"),
    Explained("software version", "the server names its software and version (SOFTWARE): an attacker learns "
              "which vulnerabilities to try", explained_fix("software version")),
    Explained("plain credentials", "long-term credentials are accepted on a turn: URL of a host that also serves "
              "turns:", Wording(PLAIN_FIX)),
    Explained("not audited", "a check got no usable answer (the server is unreachable or stopped answering): "
              "not checked", Wording(NOT_AUDITED_FIX)),
)


def classify(
    info: AuditResultInfo, now: float, cert_warn_days: int = DEFAULT_CERT_WARN_DAYS,
    product: ServerProduct | None = None,
) -> tuple[AuditFinding, ...]:
    """The findings of one check, on a server of ``product`` (None: not known)."""
    if info.check == "ipv6_relay":
        return (ipv6_relay_finding(info),)
    if info.outcome == "failed":
        return (finding(info, "not audited", "not checked", f"{check_words(info)}: {info.error_text}",
                        NOT_AUDITED_FIX),)
    if info.check == "allocate_without_credentials":
        if info.outcome == "accepted":
            return (finding(info, "open relay", "critical", f"allocated a relay ({info.subject}) with no credentials",
                            fix_for("open relay", product)),)
        return (finding(info, "open relay", "ok", f"refused without credentials ({refusal(info)})"),)
    if info.check == "allocate":
        if info.outcome == "accepted":
            return (finding(info, AUTHENTICATED, "ok", "allocated with the configured credentials"),)
        return (finding(info, AUTHENTICATED, "not checked", f"the configured credentials were refused "
                        f"({refusal(info)}): what the server relays to is not checked", "give working credentials"),)
    if info.check in ("peer_permission", "peer_channel"):
        return (peer_finding(info, None, product),)
    if info.check == "tls_version":
        return (tls_version_finding(info, product),)
    if info.check == "certificate":
        return certificate_findings(info, now, cert_warn_days, product)
    return (software_finding(info, product),)


def finding(info: AuditResultInfo, name: str, severity: Severity, result: str, fix: str = "") -> AuditFinding:
    return AuditFinding(info.url, name, severity, result, fix if severity != "ok" else "", info.subject)


def refusal(info: AuditResultInfo) -> str:
    return f"{info.error_code} {info.error_text}".strip() if info.error_code else info.error_text or "refused"


def check_words(info: AuditResultInfo) -> str:
    subject = f" {info.subject}" if info.subject else ""
    return {
        "allocate_without_credentials": "Allocate",
        "allocate": "Allocate with credentials",
        "ipv6_relay": "Allocate for an IPv6 relay",
        "peer_permission": f"CreatePermission for{subject}",
        "peer_channel": f"ChannelBind to{subject}",
        "tls_version": f"TLS handshake with{subject}",
        "certificate": "TLS handshake for the certificate",
        "software": "Binding",
    }[info.check]


def classify_all(results: Sequence[AuditResultInfo], now: float, cert_warn_days: int) -> list[AuditFinding]:
    """The findings of an audit: a peer's ChannelBind joins its CreatePermission's finding."""
    products = {r.url: recognise(r.subject) for r in results if r.check == "software" and r.outcome == "accepted"}
    channels = {peer_key(r): r for r in results if r.check == "peer_channel"}
    asked = {peer_key(r) for r in results if r.check == "peer_permission" and r.outcome != "failed"}
    found: list[AuditFinding] = []
    for result in results:
        product = products.get(result.url)
        if result.check == "peer_permission" and result.outcome != "failed":
            found.append(peer_finding(result, channels.get(peer_key(result)), product))
        elif not (result.check == "peer_channel" and peer_key(result) in asked):
            found += classify(result, now, cert_warn_days, product)
    return found + list(without_credentials(results)) + list(plain_credentials(results))


def peer_key(info: AuditResultInfo) -> tuple[str, str, str]:
    return info.url, info.subject, info.relay


def unchecked_for_credentials(results: Sequence[AuditResultInfo]) -> list[AuditResultInfo]:
    """The TURN URLs that refused an Allocate without credentials and got none to try."""
    authenticated = {r.url for r in results if r.check == "allocate"}
    return [r for r in results
            if r.check == "allocate_without_credentials" and r.outcome == "refused" and r.url not in authenticated]


def without_credentials(results: Sequence[AuditResultInfo]) -> Iterable[AuditFinding]:
    """One "not checked" per such URL; what credentials would add is said once (``credentials_advice``)."""
    for r in unchecked_for_credentials(results):
        yield AuditFinding(r.url, AUTHENTICATED, "not checked",
                           "no credentials given: what the server relays to is not checked", "")


def credentials_advice(results: Sequence[AuditResultInfo]) -> str | None:
    """What credentials would add to this audit, or None when they would add nothing."""
    count = len(unchecked_for_credentials(results))
    if not count:
        return None
    urls = "1 TURN URL" if count == 1 else f"{count} TURN URLs"
    *kinds, last = dict.fromkeys(PEER_KINDS.values())
    return (f"with credentials ({CREDENTIALS_OPTIONS}) the audit also asks {urls} for a relay and for "
            f"permissions to {', '.join(kinds)} and {last} peers (no data is sent to them)")


def reachable(peer: str, relay: str) -> bool:
    """Whether a relay at ``relay`` can send to ``peer``, judged by address family alone (the
    audit sends no data). An IPv4-mapped peer is an IPv4 host (RFC 4291 section 2.5.5.2) that
    a relay of either family may reach: Go's net package (Pion) sends to it from an IPv4
    socket, a dual-stack IPv6 socket (coturn) sends to it as it is. An unknown relay may reach
    anything."""
    address = ipaddress.ip_address(peer)
    if not relay or (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None):
        return True
    return family_name(peer) == family_name(relay)


def peer_finding(info: AuditResultInfo, channel: AuditResultInfo | None, product: ServerProduct | None) -> AuditFinding:
    """One peer asked on one relay: the permission decides, the ChannelBind adds to its words."""
    kind = PEER_KINDS[info.subject]
    name = f"{kind} peer"
    request = "CreatePermission" if info.check == "peer_permission" else "ChannelBind"
    if info.outcome != "accepted":
        if info.error_code == 443:
            return finding(info, name, "ok", f"{request} for {info.subject}: no relay of that address family (443)")
        return finding(info, name, "ok", f"{request} for {info.subject} refused ({refusal(info)})")
    request, note = channel_words(request, channel)
    granted = f"{request} for {info.subject} granted{note}"
    if not reachable(info.subject, info.relay):
        return finding(info, name, "ok", f"{granted}, but the relay {info.relay} is {family_name(info.relay)}: "
                       "not reachable through this relay")
    return finding(info, name, PEER_SEVERITIES[kind], granted, fix_for(name, product))


def channel_words(request: str, channel: AuditResultInfo | None) -> tuple[str, str]:
    """The request words and a note, for a granted permission and its ChannelBind (if asked)."""
    if channel is None:
        return request, ""
    if channel.outcome == "accepted":
        return f"{request} and ChannelBind", ""
    if channel.outcome == "refused" and channel.error_code == CHANNEL_BAD_REQUEST:
        return request, f" (ChannelBind answered {refusal(channel)}: about the channel, not the peer)"
    if channel.outcome == "refused":
        return request, f" (ChannelBind refused: {refusal(channel)})"
    return request, f" (ChannelBind: {channel.error_text})"


def ipv6_relay_finding(info: AuditResultInfo) -> AuditFinding:
    asked = "asked for an IPv6 relay alone"
    if info.outcome == "accepted" and family_name(info.subject) == "IPv6":
        return finding(info, "ipv6 relay", "ok", f"{asked}: {info.subject}, where the IPv6 peers were asked")
    if info.outcome == "accepted":
        said = f"gave an IPv4 one ({info.subject})"
    elif info.outcome == "refused":
        said = f"refused ({refusal(info)})"
    else:
        said = f"no usable answer ({info.error_text})"
    return finding(info, "ipv6 relay", "ok", f"{asked}: {said}; IPv6 peers cannot be reached through this server")


def tls_version_finding(info: AuditResultInfo, product: ServerProduct | None) -> AuditFinding:
    old = info.subject in ("TLSv1", "TLSv1.1")
    if info.outcome == "accepted":
        if old:
            return finding(info, "tls version", "warning", f"accepts {info.subject}", fix_for("tls version", product))
        return finding(info, "tls version", "ok", f"accepts {info.subject}")
    if old:
        return finding(info, "tls version", "ok", f"refuses {info.subject}")
    return finding(info, "tls version", "info", f"refuses {info.subject} ({info.error_text or 'no handshake'})",
                   "offer TLS 1.2 and 1.3")


def certificate_findings(
    info: AuditResultInfo, now: float, warn_days: int, product: ServerProduct | None
) -> tuple[AuditFinding, ...]:
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
            name, fix = "certificate untrusted", fix_for("certificate untrusted", product)
        found.append(finding(info, name, "warning", f"does not verify: {info.error_text}", fix))
    if days is not None and days < warn_days:
        found.append(finding(info, "certificate expiring", "warning", f"expires at {until}, in {days:.1f} days",
                             "renew the certificate before it expires"))
    if not found:
        found.append(finding(info, "certificate", "ok", f"verifies, valid until {until}"))
    return tuple(found)


def software_finding(info: AuditResultInfo, product: ServerProduct | None) -> AuditFinding:
    if info.outcome == "accepted" and any(ch.isdigit() for ch in info.subject):
        return finding(info, "software version", "info", f"SOFTWARE says {info.subject!r}",
                       fix_for("software version", product))
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
