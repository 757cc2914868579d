"""A certificate's end of validity, read from its DER encoding (RFC 5280 section 4.1).

Only the path to ``validity.notAfter`` is walked: Certificate, then its tbsCertificate, past
the optional version, the serial number, the signature algorithm and the issuer. A full X.509
parser (``cryptography``) would cost the transport 55 ms of start-up and a shared library
loaded before confinement, for one date of a certificate the handshake already handed over.
Sans-IO; anything that does not have that shape reads as None.
"""

from __future__ import annotations

import calendar

SEQUENCE = 0x30
EXPLICIT_VERSION = 0xA0
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18


def _element(der: bytes, at: int) -> tuple[int, int, int]:
    """The tag, the start of the contents and the end of the element at ``at``."""
    tag, first = der[at], der[at + 1]
    start = at + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4:
            raise ValueError("unsupported length")
        length = int.from_bytes(der[start:start + count], "big")
        start += count
    end = start + length
    if end > len(der):
        raise ValueError("truncated")
    return tag, start, end


def _children(der: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    children = []
    while start < end:
        child = _element(der, start)
        children.append(child)
        start = child[2]
    return children


def _time(tag: int, text: str) -> int:
    if tag == UTC_TIME:  # YYMMDDHHMMSSZ; 50-99 are 1950-1999 (RFC 5280 section 4.1.2.5.1)
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != GENERALIZED_TIME:
        raise ValueError("not a time")
    if len(text) != 15 or not text.endswith("Z") or not text[:14].isdigit():
        raise ValueError("not a UTC time")
    # Not time.strptime: it imports _strptime on first use, which the confined transport cannot.
    fields = (int(text[at:at + 2]) for at in range(4, 14, 2))
    month, day, hour, minute, second = fields
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        raise ValueError("not a date")
    return calendar.timegm((int(text[:4]), month, day, hour, minute, second))


def not_after(der: bytes) -> int | None:
    """The certificate's notAfter, Unix time (before 1970: negative), or None when ``der`` is
    not a certificate."""
    try:
        tag, start, end = _element(der, 0)
        if tag != SEQUENCE:
            return None
        tbs_tag, tbs_start, tbs_end = _children(der, start, end)[0]
        fields = _children(der, tbs_start, tbs_end)
        if fields and fields[0][0] == EXPLICIT_VERSION:
            fields = fields[1:]
        validity = fields[3]
        if tbs_tag != SEQUENCE or validity[0] != SEQUENCE:
            return None
        time_tag, time_start, time_end = _children(der, validity[1], validity[2])[1]
        return _time(time_tag, der[time_start:time_end].decode("ascii"))
    except (IndexError, ValueError, UnicodeDecodeError):
        return None
