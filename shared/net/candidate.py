"""The ``candidate:`` attribute of RFC 8839 section 5.1, formatted and parsed.

The transport formats the candidates it gathers; the main process parses the text back into
the fields of ``RTCIceCandidate``, as a browser does. Both use this one grammar, so a line that
one side writes the other side reads, and a hostile line is refused by the parser.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from icegather.shared.net.endpoints import parse_ip

CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")
PROTOCOLS = ("udp", "tcp")
TCP_TYPES = ("active", "passive", "so")
MAX_CANDIDATE_LENGTH = 512

_FOUNDATION = re.compile(r"[A-Za-z0-9+/]{1,32}\Z")
_TOKEN = re.compile(r"[\x21-\x7e]{1,64}\Z")


@dataclass(frozen=True)
class CandidateFields:
    foundation: str
    component: int
    protocol: str
    priority: int
    address: str
    port: int
    type: str
    related_address: str | None = None
    related_port: int | None = None
    tcp_type: str | None = None


def format_candidate(fields: CandidateFields) -> str:
    parts = [
        f"candidate:{fields.foundation}",
        str(fields.component),
        fields.protocol,
        str(fields.priority),
        fields.address,
        str(fields.port),
        "typ",
        fields.type,
    ]
    if fields.related_address is not None:
        parts += ["raddr", fields.related_address, "rport", str(fields.related_port)]
    if fields.tcp_type is not None:
        parts += ["tcptype", fields.tcp_type]
    return " ".join(parts)


# Cached: the main process parses each line twice, the wire's check and then RTCIceCandidate's
# (the fields are immutable). A line that is refused raises, which is never cached.
@functools.lru_cache(maxsize=1024)
def parse_candidate(line: str) -> CandidateFields:
    """Parse a ``candidate:`` attribute; raise ``ValueError`` naming what is wrong."""
    if len(line) > MAX_CANDIDATE_LENGTH:
        raise ValueError(f"candidate is longer than {MAX_CANDIDATE_LENGTH} characters")
    if not line.startswith("candidate:"):
        raise ValueError("candidate does not start with 'candidate:'")
    words = line[len("candidate:") :].split(" ")
    if len(words) < 8 or words[6] != "typ":
        raise ValueError("candidate has fewer than the 8 mandatory fields")
    foundation, component, protocol, priority, address, port, _, kind = words[:8]
    if not _FOUNDATION.match(foundation):
        raise ValueError("candidate foundation is not 1-32 ice-chars")
    protocol = protocol.lower()
    if protocol not in PROTOCOLS:
        raise ValueError(f"candidate transport {protocol!r} is not udp or tcp")
    if kind not in CANDIDATE_TYPES:
        raise ValueError(f"candidate type {kind!r} is unknown")
    extensions = _pairs(words[8:])
    related_address = extensions.get("raddr")
    related_port = extensions.get("rport")
    if (related_address is None) != (related_port is None):
        raise ValueError("candidate has raddr without rport or rport without raddr")
    tcp_type = extensions.get("tcptype")
    if tcp_type is not None and tcp_type not in TCP_TYPES:
        raise ValueError(f"candidate tcptype {tcp_type!r} is unknown")
    return CandidateFields(
        foundation=foundation,
        component=_integer(component, 1, 256, "component"),
        protocol=protocol,
        priority=_integer(priority, 1, 2**31 - 1, "priority"),
        address=_address(address),
        port=_integer(port, 0, 65535, "port"),
        type=kind,
        related_address=None if related_address is None else _address(related_address),
        related_port=None if related_port is None else _integer(related_port, 0, 65535, "rport"),
        tcp_type=tcp_type,
    )


def _pairs(words: list[str]) -> dict[str, str]:
    if len(words) % 2:
        raise ValueError("candidate extension attributes do not come in name/value pairs")
    pairs: dict[str, str] = {}
    for name, value in zip(words[::2], words[1::2], strict=True):
        if not (_TOKEN.match(name) and _TOKEN.match(value)):
            raise ValueError("candidate extension attribute is not a token")
        pairs.setdefault(name, value)
    return pairs


def _integer(text: str, low: int, high: int, what: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"candidate {what} {text!r} is not a number")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"candidate {what} {value} is outside {low}-{high}")
    return value


def _address(text: str) -> str:
    parsed = parse_ip(text)  # cached: every candidate the transport sends is checked here
    if parsed is None:
        raise ValueError(f"candidate address {text[:64]!r} is not an IP address")
    return parsed[0]
