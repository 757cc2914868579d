"""A small TURN server over UDP on loopback whose relay misbehaves as a test asks: relays that
drop one mechanism in one direction, answer ChannelBind without MESSAGE-INTEGRITY, reflect
everything to its sender, or advertise a relayed address they do not have.

It is a real server on real sockets, served by a thread: the transport under test talks to it
over the network exactly as to any server. It speaks only to loopback: an advertised address
elsewhere is only ever written into the Allocate response, never sent to.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass

from aioice import stun
from stun_servers import ThreadedServer, challenge, data_indication, response, signed

Address = tuple[str, int]
CHANNEL_NUMBERS = range(0x4000, 0x5000)
NAMES = {
    stun.Method.ALLOCATE: "Allocate",
    stun.Method.REFRESH: "Refresh",
    stun.Method.SEND: "Send",
    stun.Method.CREATE_PERMISSION: "CreatePermission",
    stun.Method.CHANNEL_BIND: "ChannelBind",
}


@dataclass(frozen=True)
class RelayBehaviour:
    """What the relay does. Each flag, when False, silently drops that kind of data."""

    indications_out: bool = True  # Send indications from the client, to the peer
    channel_data_out: bool = True  # ChannelData from the client, to the peer
    data_indications_back: bool = True  # peer data without a channel, back in Data indications
    channel_back: bool = True  # peer data on a bound channel, back as ChannelData
    sign_channel_bind: bool = True  # a ChannelBind success carries MESSAGE-INTEGRITY
    # Everything goes back where it came from: what the client sends, to the client (a Send
    # indication as a Data indication from its peer); what reaches the relay, to its sender.
    reflect: bool = False
    advertised: Address | None = None  # the relayed address to advertise, if not the relay's own
    relay_host: str = "127.0.0.1"


class ScriptedRelay(ThreadedServer):
    """A TURN server on 127.0.0.1 (any user, after the usual 401) with one relay socket on
    ``behaviour.relay_host``. ``seen`` counts what it received by kind ("Allocate",
    "CreatePermission", "ChannelBind", "Send", "ChannelData", "peer data")."""

    def __init__(self, password: str, behaviour: RelayBehaviour = RelayBehaviour()) -> None:
        self.password = password
        self.behaviour = behaviour
        self.server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.server.bind(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.relay = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.relay.bind((behaviour.relay_host, 0))
        self.relayed: Address = behaviour.advertised or self.relay.getsockname()[:2]
        self.seen: Counter[str] = Counter()
        self.client: Address | None = None  # the client that asked for a permission
        self.channels: dict[int, Address] = {}
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.server, selectors.EVENT_READ, self._from_client)
        self._selector.register(self.relay, selectors.EVENT_READ, self._from_peer)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stopping.is_set():
            for key, _ in self._selector.select(timeout=0.1):
                try:
                    data, source = key.fileobj.recvfrom(4096)  # type: ignore[union-attr]
                except OSError:
                    continue
                key.data(data, source[:2])

    def _from_client(self, data: bytes, source: Address) -> None:
        if len(data) >= 4 and struct.unpack_from("!H", data)[0] in CHANNEL_NUMBERS:
            self._channel_data(data, source)
            return
        try:
            message = stun.parse_message(data)
        except ValueError:
            return
        self.seen[NAMES.get(message.message_method, "other")] += 1
        if message.message_class == stun.Class.INDICATION:
            self._send_indication(message, source)
            return
        answer = self._answer(message, source)
        if answer is not None:
            self.server.sendto(answer, source)

    def _send_indication(self, message: stun.Message, source: Address) -> None:
        peer, data = message.attributes.get("XOR-PEER-ADDRESS"), message.attributes.get("DATA")
        if message.message_method != stun.Method.SEND or peer is None or data is None:
            return
        if self.behaviour.reflect:
            self.server.sendto(data_indication(peer, data), source)
        elif self.behaviour.indications_out:
            self.relay.sendto(data, peer)

    def _channel_data(self, data: bytes, source: Address) -> None:
        self.seen["ChannelData"] += 1
        number, length = struct.unpack_from("!HH", data)
        if self.behaviour.reflect:
            self.server.sendto(data, source)
        elif self.behaviour.channel_data_out and number in self.channels:
            self.relay.sendto(data[4 : 4 + length], self.channels[number])

    def _from_peer(self, data: bytes, peer: Address) -> None:
        self.seen["peer data"] += 1
        if self.behaviour.reflect:
            self.relay.sendto(data, peer)
            return
        if self.client is None:
            return
        channel = next((number for number, bound in self.channels.items() if bound == peer), None)
        if channel is None and self.behaviour.data_indications_back:
            self.server.sendto(data_indication(peer, data), self.client)
        elif channel is not None and self.behaviour.channel_back:
            self.server.sendto(struct.pack("!HH", channel, len(data)) + data, self.client)

    def _answer(self, request: stun.Message, source: Address) -> bytes | None:
        if "USERNAME" not in request.attributes:
            return challenge(request)
        method = request.message_method
        if method == stun.Method.ALLOCATE:
            answer = response(request, stun.Class.RESPONSE, **{
                "XOR-RELAYED-ADDRESS": self.relayed, "XOR-MAPPED-ADDRESS": source, "LIFETIME": 600,
            })
        elif method == stun.Method.CREATE_PERMISSION:
            self.client = source
            answer = response(request, stun.Class.RESPONSE)
        elif method == stun.Method.CHANNEL_BIND:
            self.channels[request.attributes["CHANNEL-NUMBER"]] = request.attributes["XOR-PEER-ADDRESS"]
            answer = response(request, stun.Class.RESPONSE)
            if not self.behaviour.sign_channel_bind:
                return bytes(answer)
        else:
            answer = response(request, stun.Class.RESPONSE)
        return signed(answer, request, self.password)

    def close(self) -> None:
        self._stopping.set()
        self._thread.join()
        self._selector.close()
        self.server.close()
        self.relay.close()
