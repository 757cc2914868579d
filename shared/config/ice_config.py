"""Validation of a browser-shaped configuration: ``{"iceServers": [...], "iceTransportPolicy": ...}``.

This is the W3C "validate the ICE server configuration" algorithm with the exception types
browsers raise (measured; see the README):

* ``TypeError`` for values of the wrong shape (``iceServers`` not a list, an entry without
  ``urls``, a username that is not a string, an unknown ``iceTransportPolicy``);
* ``DOMException`` ``SyntaxError`` for a malformed URL or an empty ``urls`` list;
* ``DOMException`` ``InvalidAccessError`` for a TURN URL without username or credential.

Keys the spec defines but gathering does not use, and unknown keys, are ignored as browsers do.
Both processes run this code: the main process to reject bad input before anything reaches the
transport, the transport because it trusts nothing it receives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from icegather.shared.config.dom_exception import invalid_access_error, syntax_error
from icegather.shared.config.ice_url import IceUrl, parse_ice_url, quote_url
from icegather.shared.shapes import is_list, is_mapping

RTCIceTransportPolicy = Literal["all", "relay"]
TRANSPORT_POLICIES: tuple[RTCIceTransportPolicy, ...] = ("all", "relay")
MAX_CREDENTIAL_LENGTH = 512
# Every URL is tried at once, from every local address: a bound on the sockets one
# configuration can open. Browsers set none; 64 is far more than any real deployment uses.
MAX_URLS = 64


class _RTCIceServerRequired(TypedDict):
    # A base class of its own: NotRequired is Python 3.11's, and this package supports 3.10.
    urls: str | Sequence[str]


class RTCIceServer(_RTCIceServerRequired, total=False):
    """The W3C ``RTCIceServer`` dictionary, for type checkers; values are still checked at run time."""

    username: str
    credential: str


class RTCConfiguration(TypedDict, total=False):
    """The members of the W3C ``RTCConfiguration`` dictionary that icegather reads, for type
    checkers: a typo in a key or a policy fails type checking, not only at run time."""

    iceServers: Sequence[RTCIceServer]
    iceTransportPolicy: RTCIceTransportPolicy
    iceCandidatePoolSize: int


@dataclass(frozen=True)
class IceServer:
    """One ``RTCIceServer``. The credential is kept out of ``repr`` so it cannot reach a log."""

    urls: tuple[IceUrl, ...]
    username: str | None = None
    credential: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class IceConfiguration:
    """The part of ``RTCConfiguration`` that gathering depends on, validated."""

    ice_servers: tuple[IceServer, ...] = ()
    ice_transport_policy: str = "all"
    ice_candidate_pool_size: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The configuration as ``getConfiguration()`` returns it (credentials included, as there)."""
        servers = []
        for server in self.ice_servers:
            entry: dict[str, Any] = {"urls": [u.url for u in server.urls]}
            if server.username is not None:
                entry["username"] = server.username
            if server.credential is not None:
                entry["credential"] = server.credential
            servers.append(entry)
        return {
            "iceServers": servers,
            "iceTransportPolicy": self.ice_transport_policy,
            "iceCandidatePoolSize": self.ice_candidate_pool_size,
        }


def parse_configuration(configuration: RTCConfiguration | Mapping[str, Any] | None) -> IceConfiguration:
    """Validate an ``RTCConfiguration`` dictionary; raise what a browser raises if it is bad.

    Any mapping is accepted: callers pass what they read from JSON, a file or the wire,
    and this is where it is checked."""
    if configuration is None:
        return IceConfiguration()
    if not is_mapping(configuration):
        raise TypeError("the configuration must be a dictionary like {'iceServers': [...]}")
    servers = configuration.get("iceServers", [])
    if servers is None:
        servers = []
    if not is_list(servers):
        raise TypeError("iceServers must be a list of {'urls': ...} dictionaries")
    policy = configuration.get("iceTransportPolicy", "all")
    if policy not in TRANSPORT_POLICIES:
        shown = repr(policy[:40]) if isinstance(policy, str) else f"a {type(policy).__name__}"
        raise TypeError(f"iceTransportPolicy must be 'all' or 'relay', not {shown}")
    pool_size = configuration.get("iceCandidatePoolSize", 0)
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or not 0 <= pool_size <= 255:
        raise TypeError("iceCandidatePoolSize must be an integer from 0 to 255")
    if len(servers) > MAX_URLS:  # checked before parsing, so a huge list costs nothing
        raise TypeError(f"iceServers has {len(servers)} entries; icegather supports at most {MAX_URLS} URLs")
    parsed = tuple(parse_ice_server(entry, index) for index, entry in enumerate(servers))
    urls = sum(len(server.urls) for server in parsed)
    if urls > MAX_URLS:
        raise TypeError(f"iceServers has {urls} URLs; icegather supports at most {MAX_URLS}")
    return IceConfiguration(ice_servers=parsed, ice_transport_policy=policy, ice_candidate_pool_size=pool_size)


def parse_ice_server(entry: Any, index: int = 0) -> IceServer:
    """Validate one ``RTCIceServer`` dictionary."""
    where = f"iceServers[{index}]"
    if not is_mapping(entry):
        raise TypeError(f"{where} must be a dictionary with 'urls', not {type(entry).__name__}")
    if "urls" not in entry:
        raise TypeError(f"{where} has no 'urls' member")
    urls = entry["urls"]
    if isinstance(urls, str):
        urls = [urls]
    if not is_list(urls):
        raise TypeError(f"{where}.urls must be a string or a list of strings")
    if len(urls) > MAX_URLS:  # before its items are looked at, so a huge list costs nothing
        raise TypeError(f"{where}.urls has {len(urls)} URLs; icegather supports at most {MAX_URLS}")
    if not all(isinstance(u, str) for u in urls):
        raise TypeError(f"{where}.urls must be a string or a list of strings")
    if len(urls) == 0:
        raise syntax_error(f"{where}.urls is an empty list")
    username = _optional_string(entry, "username", where)
    credential = _optional_string(entry, "credential", where)
    parsed = tuple(parse_ice_url(u) for u in urls)
    for url in parsed:
        if url.is_turn and (username is None or credential is None):
            missing = "username" if username is None else "credential"
            raise invalid_access_error(
                f"{where}: TURN URL {quote_url(url.url)} needs a username and a credential"
                f" ({missing} is missing)"
            )
    return IceServer(urls=parsed, username=username, credential=credential)


def _optional_string(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        # The value itself is not quoted: it may be a secret.
        raise TypeError(f"{where}.{key} must be a string, not {type(value).__name__}")
    if len(value) > MAX_CREDENTIAL_LENGTH:
        raise TypeError(f"{where}.{key} is longer than {MAX_CREDENTIAL_LENGTH} characters")
    return value
