"""Building candidates: priority, foundation and the ``candidate:`` line (RFC 8445 section 5.1).

Pure functions: the gathering code gives addresses, these give ``CandidateInfo``.
"""

from __future__ import annotations

import zlib

from shared.candidate import CandidateFields, format_candidate
from shared.structs import CandidateInfo

COMPONENT_RTP = 1
TYPE_PREFERENCE = {"host": 126, "prflx": 110, "srflx": 100, "relay": 0}
# RFC 8421-style: a relay reached over UDP is preferred to TCP, TCP to TLS.
RELAY_PROTOCOL_RANK = {"udp": 2, "tcp": 1, "tls": 0}

Address = tuple[str, int]


def priority(kind: str, local_preference: int, component: int = COMPONENT_RTP) -> int:
    """RFC 8445 section 5.1.2.1."""
    return (TYPE_PREFERENCE[kind] << 24) + (local_preference << 8) + (256 - component)


def local_preference(local_index: int, relay_protocol: str = "") -> int:
    """Earlier local addresses are preferred; for relays, the protocol to the server first."""
    rank = RELAY_PROTOCOL_RANK.get(relay_protocol, 3)
    return (rank << 12) + max(0, 4095 - local_index)


def foundation(kind: str, base_ip: str, server_ip: str, protocol: str) -> str:
    """Equal for candidates of equal type, base IP, server IP and protocol (RFC 8445 5.1.1.3)."""
    return str(zlib.crc32(f"{kind}|{base_ip}|{server_ip}|{protocol}".encode()))


def host_candidate(base: Address, local_index: int) -> CandidateInfo:
    fields = CandidateFields(
        foundation=foundation("host", base[0], "", "udp"),
        component=COMPONENT_RTP,
        protocol="udp",
        priority=priority("host", local_preference(local_index)),
        address=base[0],
        port=base[1],
        type="host",
    )
    return CandidateInfo(candidate=format_candidate(fields))


def srflx_candidate(mapped: Address, base: Address, server_ip: str, local_index: int, url: str) -> CandidateInfo:
    fields = CandidateFields(
        foundation=foundation("srflx", base[0], server_ip, "udp"),
        component=COMPONENT_RTP,
        protocol="udp",
        priority=priority("srflx", local_preference(local_index)),
        address=mapped[0],
        port=mapped[1],
        type="srflx",
        related_address=base[0],
        related_port=base[1],
    )
    return CandidateInfo(candidate=format_candidate(fields), url=url)


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
    fields = CandidateFields(
        foundation=foundation("relay", base_ip, server_ip, relay_protocol),
        component=COMPONENT_RTP,
        protocol="udp",
        priority=priority("relay", local_preference(local_index, relay_protocol)),
        address=relayed[0],
        port=relayed[1],
        type="relay",
        related_address=related[0],
        related_port=related[1],
    )
    return CandidateInfo(candidate=format_candidate(fields), url=url, relay_protocol=relay_protocol)
