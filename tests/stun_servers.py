"""Small real STUN servers for the cases coturn cannot be made to produce: a server that never
answers, one that sends an error coturn does not send to an Allocate (403), a Try Alternate
redirect, a Binding answer with a public-looking mapped address.

Each is a real UDP socket on loopback served by a thread; the transport under test talks to it
over the network exactly as it would to any server.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from aioice import stun

Address = tuple[str, int]
# What a script answers to one request: the bytes to send back, or None to stay silent.
Script = Callable[[stun.Message, Address], bytes | None]
Server = TypeVar("Server", bound="ThreadedServer")

# The scripted TURN servers' long-term credential realm, and the nonce they never renew.
REALM = "scripted"
NONCE = b"scripted-nonce"


@dataclass(frozen=True)
class Received:
    request: stun.Message
    source: Address
    at: float  # time.monotonic() on arrival


class ThreadedServer:
    """A server a thread of its own serves: ``close`` stops it, as does the end of a ``with``
    block."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: Server) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ScriptedStunServer(ThreadedServer):
    """Answers every STUN request it receives with what ``script`` returns; records them all.
    ``script`` may be replaced while the server runs (a server that redirects to itself needs
    its own port first). ``port`` 0: a free one."""

    def __init__(self, script: Script, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.5)  # a safety net: close() wakes the thread itself
        self.host = host
        self.port: int = self.sock.getsockname()[1]
        self.received: list[Received] = []
        self.script = script
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, scheme: str = "stun") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}:{host}:{self.port}"

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                data, source = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                request = stun.parse_message(data)
            except ValueError:
                continue
            self.received.append(Received(request, source[:2], time.monotonic()))
            answer = self.script(request, source[:2])
            if answer is not None:
                self.sock.sendto(answer, source)

    def close(self) -> None:
        self._stopping.set()
        self.sock.sendto(b"", (self.host, self.port))  # wakes the thread from recvfrom at once
        self._thread.join()
        self.sock.close()


# --- scripts and the responses they send ----------------------------------------------------


def never_answer(request: stun.Message, source: Address) -> None:
    return None


def response(request: stun.Message, message_class: stun.Class, **attributes: object) -> stun.Message:
    answer = stun.Message(request.message_method, message_class, request.transaction_id)
    answer.attributes.update(attributes)
    return answer


def challenge(request: stun.Message) -> bytes:
    """The 401 with which a TURN server asks for long-term credentials."""
    return bytes(response(request, stun.Class.ERROR, **{
        "ERROR-CODE": (401, "Unauthorized"), "REALM": REALM, "NONCE": NONCE,
    }))


def signed(answer: stun.Message, request: stun.Message, password: str) -> bytes:
    """``answer`` with MESSAGE-INTEGRITY, keyed with the long-term credentials of ``request``'s
    user."""
    key = hashlib.md5(f"{request.attributes['USERNAME']}:{REALM}:{password}".encode()).digest()
    answer.add_message_integrity(key)
    return bytes(answer)


def data_indication(peer: Address, data: bytes) -> bytes:
    indication = stun.Message(stun.Method.DATA, stun.Class.INDICATION)
    indication.attributes.update({"XOR-PEER-ADDRESS": peer, "DATA": data})
    return bytes(indication)


def error_to_every_request(code: int, reason: str) -> Script:
    def script(request: stun.Message, source: Address) -> bytes:
        return bytes(response(request, stun.Class.ERROR, **{"ERROR-CODE": (code, reason)}))
    return script


def another_transaction_id(request: stun.Message, source: Address) -> bytes:
    """A Binding success with a random transaction ID, as the ``stun`` npm package's example
    server sends."""
    answer = stun.Message(request.message_method, stun.Class.RESPONSE, os.urandom(12))
    answer.attributes["XOR-MAPPED-ADDRESS"] = ("203.0.113.7", 40000)
    return bytes(answer)


def mapped_two_ways(request: stun.Message, source: Address) -> bytes:
    """A Binding success whose XOR-MAPPED-ADDRESS and MAPPED-ADDRESS disagree, as PyPI's
    ``stun`` 1.1.0 server sends (it XORs with the cookie's bytes reversed)."""
    mapped = {"XOR-MAPPED-ADDRESS": ("203.0.113.7", source[1]), "MAPPED-ADDRESS": source}
    return bytes(response(request, stun.Class.RESPONSE, **mapped))


def mapped_to(address: Address) -> Script:
    """A Binding server that says the client is seen at ``address`` (as behind a NAT)."""
    def script(request: stun.Message, source: Address) -> bytes:
        return bytes(response(request, stun.Class.RESPONSE, **{"XOR-MAPPED-ADDRESS": address}))
    return script


def try_alternate(alternate: Address) -> Script:
    """Answers every request with 300 Try Alternate pointing at ``alternate``."""
    def script(request: stun.Message, source: Address) -> bytes:
        answer = bytes(response(request, stun.Class.ERROR, **{"ERROR-CODE": (300, "Try Alternate")}))
        return with_alternate_server(answer, alternate)
    return script


def with_alternate_server(message: bytes, alternate: Address) -> bytes:
    """``message`` with an ALTERNATE-SERVER attribute (0x8023) appended: aioice cannot encode it."""
    ip = ipaddress.ip_address(alternate[0])
    value = struct.pack("!BBH", 0, 1 if ip.version == 4 else 2, alternate[1]) + ip.packed
    attribute = struct.pack("!HH", 0x8023, len(value)) + value
    length = len(message) - 20 + len(attribute)
    return message[:2] + struct.pack("!H", length) + message[4:] + attribute


class ScriptedTcpServer(ThreadedServer):
    """A TCP server on loopback that hands each accepted connection to ``handle``; with
    ``tls``, after a TLS handshake as the server."""

    def __init__(self, handle: Callable[[socket.socket], None], tls: ssl.SSLContext | None = None) -> None:
        self._tls = tls
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self._handle = handle
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            # Each connection in a thread of its own: a client may hold one open while it opens more.
            threading.Thread(target=self._serve_one, args=(connection,), daemon=True).start()

    def _serve_one(self, connection: socket.socket) -> None:
        try:
            if self._tls is not None:
                connection = self._tls.wrap_socket(connection, server_side=True)
            with connection:
                self._handle(connection)
        except OSError:  # the client went away mid-handshake or mid-message
            pass

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread from accept()
        self.sock.close()
        self._thread.join()


def hang_up(reset: bool) -> Callable[[socket.socket], None]:
    """End each connection before any answer: with a reset (RST), or after reading the request
    with an orderly close (FIN)."""
    def handle(connection: socket.socket) -> None:
        if reset:
            # Linger 0: close() sends RST instead of FIN.
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            connection.recv(4096)
    return handle


def answer_binding_over_stream(mapped: Address) -> Callable[[socket.socket], None]:
    """Read one framed STUN request and answer it with a Binding success that maps to ``mapped``."""
    def read_exactly(connection: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = connection.recv(size - len(data))  # no MSG_WAITALL: TLS sockets refuse flags
            if not chunk:
                raise ConnectionError("the client closed mid-message")
            data += chunk
        return data

    def handle(connection: socket.socket) -> None:
        header = read_exactly(connection, 20)
        (length,) = struct.unpack_from("!H", header, 2)
        request = stun.parse_message(header + read_exactly(connection, length))
        connection.sendall(bytes(response(request, stun.Class.RESPONSE, **{"XOR-MAPPED-ADDRESS": mapped})))
        connection.recv(1)  # until the client closes
    return handle


def send_then_close(data: bytes) -> Callable[[socket.socket], None]:
    """Read the request, send ``data`` (say, half a STUN message) and close."""
    def handle(connection: socket.socket) -> None:
        connection.recv(4096)
        connection.sendall(data)
    return handle


class ScriptedTurnServer(ThreadedServer):
    """A small TURN server over UDP on loopback, for relays coturn cannot be made to break: it
    allocates for any user (after the usual 401), relays data out to peers (Send indications,
    not ChannelData) only if ``relay_out``, relays data from peers back only if ``relay_back``,
    and answers CreatePermission and ChannelBind with ``permission``: None grants it, a (code,
    reason) refuses it, "silent" never answers. Its relayed address is a real socket of its own,
    so the data it does relay comes from the address it advertises."""

    def __init__(
        self,
        password: str,
        relay_out: bool = True,
        relay_back: bool = True,
        permission: tuple[int, str] | str | None = None,
    ) -> None:
        self.password = password
        self.relay_out, self.relay_back, self.permission = relay_out, relay_back, permission
        self.relay = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.relay.bind(("127.0.0.1", 0))
        self.relayed: Address = self.relay.getsockname()[:2]
        self.client: Address | None = None
        self.server = ScriptedStunServer(self._answer)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._relay_back, daemon=True)
        self.relay.settimeout(0.5)
        self._thread.start()

    def url(self) -> str:
        return self.server.url("turn")

    def _answer(self, request: stun.Message, source: Address) -> bytes | None:
        method = request.message_method
        if request.message_class == stun.Class.INDICATION:
            if method == stun.Method.SEND and self.relay_out:
                self.relay.sendto(request.attributes["DATA"], request.attributes["XOR-PEER-ADDRESS"])
            return None
        if "USERNAME" not in request.attributes:
            return challenge(request)
        if method in (stun.Method.CREATE_PERMISSION, stun.Method.CHANNEL_BIND) and self.permission is not None:
            if self.permission == "silent":
                return None
            answer = response(request, stun.Class.ERROR, **{"ERROR-CODE": self.permission})
        elif method == stun.Method.ALLOCATE:
            self.client = source
            answer = response(request, stun.Class.RESPONSE, **{
                "XOR-RELAYED-ADDRESS": self.relayed, "XOR-MAPPED-ADDRESS": source, "LIFETIME": 600,
            })
        else:
            answer = response(request, stun.Class.RESPONSE)
        return signed(answer, request, self.password)

    def _relay_back(self) -> None:
        while not self._stopping.is_set():
            try:
                data, peer = self.relay.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            if self.relay_back and self.client is not None:
                self.server.sock.sendto(data_indication(peer[:2], data), self.client)

    def close(self) -> None:
        self._stopping.set()
        self.server.close()
        self._thread.join()
        self.relay.close()
