"""The TURN Allocate exchange (RFC 8656 section 7) as a sans-IO state machine.

``AllocateSession`` decides, for each response, what happens next; it does no I/O, so every
rule below is tested without a network:

* the first Allocate carries no credentials; the server's 401 brings REALM and NONCE, and the
  request is repeated with the long-term credential (this 401 is the protocol, not an error);
* an error to the request *with* credentials fails the attempt with the cause
  ``signed_request_refused``: a 401 then means the credential is wrong (Pion answers 400);
* 438 Stale Nonce: repeat with the new nonce, at most ``MAX_STALE_NONCE_RETRIES`` times;
* 300 Try Alternate: move to the ALTERNATE-SERVER once (the caller reconnects);
* the first Allocate is what a browser sends: no address family attribute, which asks for an
  IPv4 relay; 440 Address Family not Supported moves on to IPv6 alone, then IPv4 alone, so a
  server with relays of one family gives that family's relay. A session can instead ask for
  one family only (``family``): what icegather asks beyond a browser goes on a socket of its
  own, so that a server that mishandles it costs nothing of what a browser gets
  (``address_families``);
* a success response must carry XOR-RELAYED-ADDRESS (one per family it allocated), and once
  credentials are in use a valid MESSAGE-INTEGRITY (RFC 8489 section 9.2.5), or it is not
  trusted;
* any other error response ends the attempt with its code and reason phrase.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any

from aioice import stun

from icegather.shared.net.endpoints import Address, is_ipv6
from icegather.transport_proc.stun import failures
from icegather.transport_proc.stun.address_families import IPV4_ALONE, IPV6_ALONE, FamilyAsk, family_attributes
from icegather.transport_proc.stun.parser import ServerMessage
from icegather.transport_proc.stun.requests import Request

REQUESTED_TRANSPORT_UDP = 0x11000000
DEFAULT_LIFETIME = 600
MAX_STALE_NONCE_RETRIES = 2
UNSUPPORTED_FAMILY = 440
# After the allocation: 438s answered on its later requests (nonces expire during a long check).
MAX_NONCE_RENEWALS = 4


@dataclass(frozen=True)
class SendRequest:
    request: stun.Message


@dataclass(frozen=True)
class Allocated:
    # One relayed address per address family allocated (two for a dual allocation).
    relayed: tuple[Address, ...]
    mapped: Address | None
    lifetime: int


@dataclass(frozen=True)
class Redirect:
    alternate: Address


Step = SendRequest | Allocated | Redirect


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """RFC 8489 section 9.2.2: MD5(username ":" realm ":" password)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).digest()


class AllocateSession:
    """One client's attempt to get an allocation from one TURN server."""

    def __init__(
        self, username: str, password: str, lifetime: int = DEFAULT_LIFETIME, family: FamilyAsk | None = None
    ) -> None:
        self._username = username
        self._password = password
        self._lifetime = lifetime
        self._realm: str | None = None
        self._nonce: bytes | None = None
        self._key: bytes | None = None
        self._stale_nonce_retries = 0
        self._nonce_renewals = 0
        self._redirected = False
        # What the Allocate asks for, in turn after each 440: None is the browser's plain request.
        self._family_asks: tuple[FamilyAsk | None, ...] = (
            (None, IPV6_ALONE, IPV4_ALONE) if family is None else (family,)
        )
        self._family_ask = 0  # which of them the Allocate asks now

    def __repr__(self) -> str:
        return f"AllocateSession(realm={self._realm!r}, authenticated={self._key is not None})"

    def first_request(self) -> stun.Message:
        return self._allocate()

    def accepts(self, response: ServerMessage) -> bool:
        """Whether a response may be acted on (else it is ignored and retransmission goes on)."""
        if self._key is None:
            return True
        if response.message_class == stun.Class.ERROR and response.error_code in (400, 401, 438):
            # These may come unsigned: the server could not or need not check our key.
            return True
        return response.check_message_integrity(self._key)

    def on_response(self, response: ServerMessage, server: Address) -> Step:
        """The next step after ``response``; raises ``AttemptFailed`` when the attempt is over."""
        if response.message_class == stun.Class.RESPONSE:
            return self._allocated(response, server)
        failure = failures.error_response(response, server)
        if failure.code == 401 and self._key is None:
            return self._authenticate(response, server)
        if failure.code == 438 and self._key is not None and self._stale_nonce_retries < MAX_STALE_NONCE_RETRIES:
            nonce = response.attributes.get("NONCE")
            if nonce:
                self._stale_nonce_retries += 1
                self._nonce = nonce
                return SendRequest(self._allocate())
        if failure.code == UNSUPPORTED_FAMILY and self._family_ask + 1 < len(self._family_asks):
            self._family_ask += 1
            return SendRequest(self._allocate())
        if failure.code == 300 and not self._redirected:
            alternate = response.attributes.get("ALTERNATE-SERVER")
            if alternate is not None:
                # The alternate server starts from scratch: its realm, nonce and families are its own.
                self._redirected = True
                self._realm = self._nonce = self._key = None
                self._family_ask = 0
                return Redirect(alternate)
        if self._key is not None and failure.code < 700:
            raise failures.signed_request_refused(failure)
        raise failure

    def request(self, method: stun.Method, attributes: dict[str, Any]) -> Request:
        """A request on the allocation (Refresh, CreatePermission, ChannelBind), signed with the
        session's credential and latest nonce."""
        request = Request(method)
        request.attributes.update(attributes)
        self._sign(request)
        return request

    def refresh_to_zero(self) -> Request:
        """The Refresh request with LIFETIME 0 that releases the allocation (RFC 8656 section 7.3)."""
        return self.request(stun.Method.REFRESH, {"LIFETIME": 0})

    def took_new_nonce(self, response: ServerMessage) -> bool:
        """Whether ``response`` is a 438 Stale Nonce with a fresh NONCE that the session now uses,
        so the request is to be built and sent again (RFC 8489 section 9.2.4). Bounded: a server
        that says it every time does not keep the caller going."""
        if response.message_class != stun.Class.ERROR or response.error_code != 438:
            return False
        nonce = response.attributes.get("NONCE")
        if not nonce or self._nonce_renewals >= MAX_NONCE_RENEWALS:
            return False
        self._nonce_renewals += 1
        self._nonce = nonce
        return True

    def _authenticate(self, response: ServerMessage, server: Address) -> Step:
        realm = response.attributes.get("REALM")
        nonce = response.attributes.get("NONCE")
        if not realm or not nonce:
            raise failures.malformed_response(server, "401 without REALM and NONCE")
        self._realm, self._nonce = realm, nonce
        self._key = long_term_key(self._username, realm, self._password)
        return SendRequest(self._allocate())

    def _allocated(self, response: ServerMessage, server: Address) -> Allocated:
        if not response.relayed_addresses:
            raise failures.malformed_response(server, "Allocate success without XOR-RELAYED-ADDRESS")
        # One relay per family: a server that repeats a family does not get two candidates for it.
        # coturn 4.6 puts 0.0.0.0:0 for a family it could not allocate: that is no relay.
        by_family: dict[bool, Address] = {}
        for address in response.relayed_addresses:
            if address[1] != 0 and not ipaddress.ip_address(address[0]).is_unspecified:
                by_family.setdefault(is_ipv6(address[0]), (address[0], address[1]))
        if not by_family:
            raise failures.malformed_response(server, "Allocate success without a usable XOR-RELAYED-ADDRESS")
        lifetime = response.attributes.get("LIFETIME")
        return Allocated(
            relayed=tuple(by_family.values()),
            mapped=response.attributes.get("XOR-MAPPED-ADDRESS"),
            lifetime=lifetime if isinstance(lifetime, int) else self._lifetime,
        )

    def _allocate(self) -> Request:
        ask = self._family_asks[self._family_ask]
        request = Request(stun.Method.ALLOCATE, family_attributes(ask) if ask else ())
        request.attributes["LIFETIME"] = self._lifetime
        request.attributes["REQUESTED-TRANSPORT"] = REQUESTED_TRANSPORT_UDP
        self._sign(request)
        return request

    def _sign(self, request: Request) -> None:
        if self._key is not None:
            request.attributes["USERNAME"] = self._username
            request.attributes["REALM"] = self._realm
            request.attributes["NONCE"] = self._nonce
        request.seal(self._key)
