"""Relay to relay (``GatherOptions.relay_to_relay``): the far end of a quality stream is a
second allocation icegather makes for the purpose, from a socket of its own, so that data takes
the path of a call where both users need TURN: client A -> relay A -> relay B -> client B, and
the echo B -> relay B -> relay A -> A.

The far allocation is on the next TURN URL of the configuration after the one that allocated
(``far_url``), wrapping round to the same URL: then it is a second allocation on the same
server. Each side asks a permission (and a channel) for the other's relayed address.

This keeps the project's traffic rule: data ends only at a socket of icegather's own on this
machine. Relay A sends only to relay B's relayed address, which relay B hands to client B, a
socket of icegather's; relay B sends only to relay A's, which relay A hands to client A. Relay
B's relayed address is held to the scope of both servers (``scope.relayed_refusal``), relay B's
own and relay A's, which sends there, so a hostile server cannot point the other relay's data
at the machine's network. And a hostile server B could name any address of that scope as its
relayed address: so the stream first sends only as many packets as a relay check's probes,
and goes on only when client B received one of them (``allocation_use``), which proves the
address is relay B's, handing data to icegather.
"""

from __future__ import annotations

from dataclasses import dataclass

from icegather.shared.config.gather_options import RetransmissionSchedule
from icegather.shared.config.ice_config import IceConfiguration, IceServer
from icegather.shared.config.ice_url import IceUrl
from icegather.shared.net.endpoints import Address, family_name
from icegather.transport_proc.addresses import pair_addresses
from icegather.transport_proc.relay.scope import relayed_refusal
from icegather.transport_proc.stun import failures
from icegather.transport_proc.stun.channels import Channel, open_channel
from icegather.transport_proc.stun.resolver import resolve
from icegather.transport_proc.turn.allocation import AllocateSession, Redirect
from icegather.transport_proc.turn.lifecycle import allocate


@dataclass(frozen=True)
class FarAllocation:
    """The far allocation: its URL and entry, its socket, session and server, the relayed
    address the stream sends to, and the allocation's lifetime."""

    url: IceUrl
    server_index: int
    channel: Channel
    session: AllocateSession
    server: Address
    relayed: Address
    lifetime: int


def far_url(configuration: IceConfiguration, server_index: int, url: IceUrl) -> tuple[int, IceServer, IceUrl]:
    """The TURN URL after ``url`` (of the entry ``server_index``) in the configuration, wrapping
    round: with its entry's index and the entry."""
    turn_urls = [
        (index, server, turn)
        for index, server in enumerate(configuration.ice_servers)
        for turn in server.urls
        if turn.is_turn
    ]
    position = next(i for i, (index, _, turn) in enumerate(turn_urls) if index == server_index and turn == url)
    return turn_urls[(position + 1) % len(turn_urls)]


async def allocate_far(
    far: tuple[int, IceServer, IceUrl], near_relayed: Address, near_server_ip: str,
    local_addresses: tuple[str, ...], schedule: RetransmissionSchedule, verify_tls: bool,
) -> FarAllocation:
    """A far allocation on ``far`` (``far_url``'s entry index, entry and URL) for the relay
    ``near_relayed`` of a server at ``near_server_ip``; its relayed address is of the near
    one's family when it has one. Raises ``AttemptFailed``; the caller keeps the allocation it
    gets (and releases it with the others)."""
    far_index, server, url = far
    assert server.username is not None and server.credential is not None  # validated with the configuration
    server_ips = await resolve(url.host, url.port, schedule.give_up_after)
    pairs = pair_addresses(local_addresses, server_ips)
    if not pairs:
        raise failures.no_local_address(family_name(server_ips[0]), url.host)
    local_ip, server_ip = pairs[0]
    server_address = (server_ip, url.port)
    session = AllocateSession(server.username, server.credential)
    channel = await open_channel(url, local_ip, server_address, schedule, verify_tls)
    try:
        step = await allocate(channel, session, server_address, session.first_request(), schedule)
        if isinstance(step, Redirect):
            raise failures.redirect_not_followed(step.alternate)
        family = family_name(near_relayed[0])
        relayed = next((r for r in step.relayed if family_name(r[0]) == family), step.relayed[0])
        refusal = relayed_refusal(relayed[0], server_ip) or relayed_refusal(relayed[0], near_server_ip)
        if refusal is not None:
            raise failures.unreachable("send_failed", refusal.text)
    except BaseException:
        channel.close()
        raise
    return FarAllocation(url, far_index, channel, session, server_address, relayed, step.lifetime)
