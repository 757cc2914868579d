"""Building candidates: priority, foundation and the ``candidate:`` line (RFC 8445 section 5.1).

Pure functions: the gathering code gives addresses, these give ``CandidateInfo``.
"""

from __future__ import annotations

import zlib

from icegather.shared.net.candidate import CandidateFields, format_candidate
from icegather.shared.net.endpoints import Address
from icegather.shared.structs import CandidateInfo

COMPONENT_RTP = 1
TYPE_PREFERENCE = {"host": 126, "prflx": 110, "srflx": 100, "relay": 0}
# A relay reached over UDP is preferred to TCP, TCP to TLS, as browsers rank them (Chromium:
# RELAY_UDP > RELAY_TCP > RELAY_TLS).
RELAY_PROTOCOL_RANK = {"udp": 2, "tcp": 1, "tls": 0}


def priority(kind: str, local_preference: int, component: int = COMPONENT_RTP) -> int:
    """RFC 8445 section 5.1.2.1."""
    return (TYPE_PREFERENCE[kind] << 24) + (local_preference << 8) + (256 - component)


def local_preference(local_index: int, relay_protocol: str = "") -> int:
    """Earlier local addresses (``rfc8421_order``) are preferred; for relays, the protocol to
    the server comes first."""
    rank = RELAY_PROTOCOL_RANK.get(relay_protocol, 3)
    return (rank << 12) + max(0, 4095 - local_index)


def foundation(kind: str, base_ip: str, server_ip: str, protocol: str) -> str:
    """Equal for candidates of equal type, base IP, server IP and protocol (RFC 8445 5.1.1.3)."""
    return str(zlib.crc32(f"{kind}|{base_ip}|{server_ip}|{protocol}".encode()))


def host_candidate(base: Address, local_index: int) -> CandidateInfo:
    return _candidate("host", base, base[0], "", local_index)


def srflx_candidate(mapped: Address, base: Address, server_ip: str, local_index: int, url: str) -> CandidateInfo:
    return _candidate("srflx", mapped, base[0], server_ip, local_index, url, related=base)


def relay_candidate(
    relayed: Address,
    mapped: Address | None,
    base_ip: str,
    server_ip: str,
    local_index: int,
    url: str,
    relay_protocol: str,
) -> CandidateInfo:
    # The related address of a relayed candidate is the mapped address (RFC 8839 section 5.1).
    related = mapped if mapped is not None else ("0.0.0.0", 0)
    return _candidate("relay", relayed, base_ip, server_ip, local_index, url, relay_protocol, related)


def _candidate(
    kind: str,
    address: Address,
    base_ip: str,
    server_ip: str,
    local_index: int,
    url: str = "",
    relay_protocol: str = "",
    related: Address | None = None,
) -> CandidateInfo:
    fields = CandidateFields(
        # A relay's foundation depends on how the server is reached; the others are all UDP.
        foundation=foundation(kind, base_ip, server_ip, relay_protocol or "udp"),
        component=COMPONENT_RTP,
        protocol="udp",
        priority=priority(kind, local_preference(local_index, relay_protocol)),
        address=address[0],
        port=address[1],
        type=kind,
        related_address=related[0] if related else None,
        related_port=related[1] if related else None,
    )
    return CandidateInfo(candidate=format_candidate(fields), url=url, relay_protocol=relay_protocol)
