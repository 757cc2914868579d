"""Parsing of STUN and TURN server URLs (RFC 7064 ``stun:``/``stuns:``, RFC 7065 ``turn:``/``turns:``).

The rules are those of the W3C "validate an ICE server URL" steps, as Chromium and Firefox were
measured applying them (see the README): every malformed URL raises ``DOMException`` named
``SyntaxError``. Parsing is pure: no name lookup happens here.

Error messages quote the URL so that a user can find the bad entry, but never the part before an
``@``: ``turn:user:password@host`` is malformed, and its password must not reach a log.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from icegather.shared.config.dom_exception import DOMException, syntax_error

DEFAULT_PORTS = {"stun": 3478, "turn": 3478, "stuns": 5349, "turns": 5349}
SCHEMES = tuple(DEFAULT_PORTS)
TURN_TRANSPORTS = ("udp", "tcp")
MAX_URL_LENGTH = 1024

_HOST_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?\Z")
_DIGITS = re.compile(r"[0-9]+\Z")


@dataclass(frozen=True)
class IceUrl:
    """One parsed server URL. ``url`` keeps the text exactly as the user configured it."""

    url: str
    scheme: str
    host: str
    port: int
    # What carries STUN messages to the server: "udp", or "tcp" (TLS runs over TCP).
    transport: str

    @property
    def is_turn(self) -> bool:
        return self.scheme in ("turn", "turns")

    @property
    def uses_tls(self) -> bool:
        return self.scheme in ("stuns", "turns")

    @property
    def relay_protocol(self) -> str:
        """The W3C ``relayProtocol`` of candidates from this server: "udp", "tcp" or "tls"."""
        return "tls" if self.uses_tls else self.transport


def quote_url(url: str) -> str:
    """The URL for an error message: userinfo masked, control characters escaped, length capped."""
    scheme, colon, rest = url.partition(":")
    if "@" in rest:
        rest = "<redacted>" + rest[rest.rindex("@") :]
    shown = scheme + colon + rest
    if len(shown) > 200:
        shown = shown[:200] + "..."
    return repr(shown)


def parse_ice_url(url: str) -> IceUrl:
    """Parse one STUN/TURN URL or raise ``DOMException("...", "SyntaxError")``."""
    if not isinstance(url, str):
        raise TypeError(f"an ICE server URL must be a string, not {type(url).__name__}")
    return _parse_ice_url(url)


# The same few URLs come with every gathering, in both processes; an IceUrl is immutable. A
# bad URL raises, which is never cached.
@functools.lru_cache(maxsize=256)
def _parse_ice_url(url: str) -> IceUrl:
    if url == "":
        raise syntax_error("an ICE server URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise syntax_error(f"ICE server URL {quote_url(url)} is longer than {MAX_URL_LENGTH} characters")

    def fail(reason: str) -> DOMException:
        return syntax_error(f"ICE server URL {quote_url(url)}: {reason}")

    scheme, colon, rest = url.partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in SCHEMES:
        raise fail("the scheme must be stun:, stuns:, turn: or turns:")
    if "#" in rest:
        raise fail("a fragment (#...) is not allowed")
    authority, question, query = rest.partition("?")
    if "/" in authority or "@" in authority:
        raise fail("'/' and '@' are not allowed (credentials go in username/credential)")
    host, port = _split_host_port(authority, DEFAULT_PORTS[scheme], fail)
    transport = _transport(scheme, question, query, fail)
    return IceUrl(url=url, scheme=scheme, host=host, port=port, transport=transport)


def _split_host_port(authority: str, default_port: int, fail: Callable[[str], DOMException]) -> tuple[str, int]:
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise fail("the IPv6 address has no closing ']'")
        host, after = authority[1:end], authority[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise fail(f"{host!r} is not an IPv6 address") from None
        if after and not after.startswith(":"):
            raise fail("unexpected text after the IPv6 address")
        port_text = after[1:] if after else None
    else:
        host, colon, port_text_or_empty = authority.partition(":")
        port_text = port_text_or_empty if colon else None
        if not host:
            raise fail("the host is missing")
        if not all(_HOST_LABEL.match(label) for label in host.split(".")):
            raise fail(f"{host!r} is not a valid host name or IPv4 address")
    if port_text is None:
        return host, default_port
    if not _DIGITS.match(port_text):
        raise fail(f"the port {port_text!r} is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise fail(f"the port {port} is outside 1-65535")
    return host, port


def _transport(scheme: str, question: str, query: str, fail: Callable[[str], DOMException]) -> str:
    is_turn = scheme in ("turn", "turns")
    if not question:
        return "tcp" if scheme in ("stuns", "turns") else "udp"
    if not is_turn:
        raise fail("a stun: or stuns: URL takes no query")
    key, equals, value = query.partition("=")
    if key != "transport" or not equals:
        raise fail("the only query allowed is ?transport=udp or ?transport=tcp")
    value = value.lower()
    if value not in TURN_TRANSPORTS:
        raise fail(f"the transport {value!r} is not udp or tcp")
    # turns: always runs over TLS/TCP; browsers accept ?transport=udp there and ignore it.
    return "tcp" if scheme == "turns" else value
