"""The two ends of a quality stream, each a socket of icegather's own: a TURN client that sends
through its allocation to one peer and hears what its server relays from that peer
(``TurnEnd``), or the relay check's peer socket, which sends to a relayed address and hears
what comes from it (``PeerEnd``).

Each end says when it can no longer carry the stream (``watch``): a TURN client's connection
reset or closed, an ICMP error from its server; the peer socket's ICMP error for the relayed
address. A TURN end keeps its path open for a long stream (``refresh``): the allocation's
lifetime (600 s by default), the permission's (300 s, RFC 8656 section 9) and the channel
binding's (600 s, section 12) all run out unless refreshed, so each is refreshed every
``refresh_interval`` seconds.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

from aioice import stun

from icegather.shared.config.gather_options import RetransmissionSchedule
from icegather.shared.net.endpoints import Address
from icegather.shared.vocabulary.relay_outcomes import Mechanism
from icegather.transport_proc.relay.check import PeerSocket, request_on_allocation
from icegather.transport_proc.stun.channels import Channel, Waiter, same_address
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.turn import relay_messages as messages
from icegather.transport_proc.turn.allocation import DEFAULT_LIFETIME, AllocateSession
from icegather.transport_proc.turn.relay_messages import Relayed

# A permission lasts 300 s (RFC 8656 section 9): refresh it, with the rest, well before.
PERMISSION_REFRESH_SECONDS = 240.0

Payload = Callable[[bytes], None]
Failure = Callable[[AttemptFailed], None]


def refresh_interval(lifetime: int) -> float:
    """How often a TURN end refreshes what it holds, for an allocation of ``lifetime`` seconds."""
    return min(PERMISSION_REFRESH_SECONDS, max(1, lifetime) / 2)


class StreamEnd(Protocol):
    refresh_interval: float

    def send(self, payload: bytes) -> None: ...

    def listen(self, on_payload: Payload, on_failure: Failure) -> None: ...

    def stop(self) -> None: ...

    async def refresh(self) -> None: ...


class TurnEnd:
    """A TURN client's end: ``channel`` to ``server`` holds an allocation (``session``, of
    ``lifetime`` seconds), through which it sends to ``peer`` with ``mechanism`` (ChannelData
    on ``channel_number``)."""

    def __init__(
        self, channel: Channel, session: AllocateSession, server: Address, peer: Address, mechanism: Mechanism,
        channel_number: int, schedule: RetransmissionSchedule, lifetime: int = DEFAULT_LIFETIME,
    ) -> None:
        self.channel = channel
        self.session = session
        self.server = server
        self.peer = peer
        self.mechanism: Mechanism = mechanism
        self.channel_number = channel_number
        self.schedule = schedule
        self.lifetime = lifetime
        self.refresh_interval = refresh_interval(lifetime)
        # A transaction ID no request uses: the channel tells its waiter when it breaks.
        self._watch_id = os.urandom(12)

    def toward(self, peer: Address, channel_number: int) -> TurnEnd:
        """The same allocation, sending to another peer on a channel of its own."""
        return TurnEnd(
            self.channel, self.session, self.server, peer, self.mechanism, channel_number, self.schedule, self.lifetime
        )

    def send(self, payload: bytes) -> None:
        if self.mechanism == "channel":
            message = messages.channel_data(self.channel_number, payload, padded=self.channel.reliable)
        else:
            message = messages.send_indication(self.peer, payload)
        self.channel.send(message, self.server)

    def from_peer(self, data: Relayed) -> bool:
        """Whether relayed data came from the peer: on the channel bound to it, or in a Data
        indication from its address (a server may use either once a channel is bound)."""
        if data.channel is not None:
            return data.channel == self.channel_number
        return data.peer is not None and same_address(data.peer, self.peer)

    def listen(self, on_payload: Payload, on_failure: Failure) -> None:
        def at_client(message: bytes, source: Address) -> None:
            data = messages.relayed(message) if same_address(source, self.server) else None
            if data is not None and self.from_peer(data):
                on_payload(data.data)

        self.channel.on_relayed = at_client
        self.channel.register(self._watch_id, Waiter(self.server, lambda response: None, on_failure))

    def stop(self) -> None:
        self.channel.on_relayed = None
        self.channel.unregister(self._watch_id)

    async def open_path(self) -> None:
        """A permission for the peer's IP and, for ChannelData, the channel bound to it."""
        await self._request(stun.Method.CREATE_PERMISSION, messages.peer_attribute((self.peer[0], 0)))
        if self.mechanism == "channel":
            await self._request(stun.Method.CHANNEL_BIND, messages.channel_attributes(self.channel_number, self.peer))

    async def refresh(self) -> None:
        await self._request(stun.Method.REFRESH, {"LIFETIME": DEFAULT_LIFETIME})
        await self.open_path()

    async def _request(self, method: stun.Method, attributes: dict[str, Any]) -> None:
        await request_on_allocation(self.channel, self.session, self.server, method, attributes, self.schedule)


class PeerEnd:
    """The relay check's peer socket as the far end: it sends to the ``relayed`` address and
    hears only what comes from it."""

    refresh_interval = PERMISSION_REFRESH_SECONDS  # it holds nothing that expires

    def __init__(self, peer: PeerSocket, relayed: Address) -> None:
        self.peer = peer
        self.relayed = relayed

    def send(self, payload: bytes) -> None:
        self.peer.send(payload, self.relayed)

    def listen(self, on_payload: Payload, on_failure: Failure) -> None:
        def at_peer(data: bytes, source: Address) -> None:
            if same_address(source, self.relayed):
                on_payload(data)

        def peer_error(destination: Address, failure: AttemptFailed) -> None:
            if same_address(destination, self.relayed):
                on_failure(failure)

        self.peer.on_datagram = at_peer
        self.peer.on_error = peer_error

    def stop(self) -> None:
        self.peer.on_datagram = lambda data, source: None
        self.peer.on_error = lambda destination, failure: None

    async def refresh(self) -> None:
        return None
