"""A UDP channel whose socket the kernel cannot take a datagram from yet (its send buffer is
full) keeps the datagram and sends it when the socket is writable: an overloaded path delays
datagrams, it does not drop them (root only).

Loopback frees a datagram's buffer the moment it is sent, so the full buffer is made for real:
two network namespaces joined by a veth pair whose sending end is shaped by a token bucket
(``tc``'s tbf), which holds each datagram until the bucket lets it out.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess

import pytest
from loop_waits import until
from network_namespaces import in_namespace, namespace_name, network_namespace, veth_pair, within

from icegather.transport_proc.stun.channels import UdpChannel

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="making network namespaces needs root")

SENDER, RECEIVER = "198.51.100.1", "198.51.100.2"
DATAGRAMS = 60
SIZE = 1000


def test_datagrams_the_kernel_cannot_take_yet_wait_their_turn_and_none_is_lost():
    with network_namespace(namespace_name("tx")) as tx, network_namespace(namespace_name("rx")) as rx:
        veth_pair((tx, f"{tx}0", f"{SENDER}/24"), (rx, f"{rx}0", f"{RECEIVER}/24"))
        # 2 Mbit/s: the 60 datagrams take about a quarter of a second to leave.
        subprocess.run(in_namespace(tx, "tc", "qdisc", "add", "dev", f"{tx}0", "root", "tbf", "rate", "2mbit",
                                    "burst", "1600", "limit", "1000000"), check=True, timeout=30)
        receiver = within(rx, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        with receiver:
            receiver.bind((RECEIVER, 0))
            receiver.settimeout(5)
            server = (RECEIVER, receiver.getsockname()[1])

            async def send_all() -> int:
                channel = UdpChannel.open(SENDER)
                # The smallest send buffer the kernel allows: a few datagrams fill it.
                channel.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)
                try:
                    for number in range(DATAGRAMS):
                        channel.send(number.to_bytes(4, "big") * (SIZE // 4), server)
                    waiting = len(channel._backlog)
                    await until(lambda: not channel._backlog)  # the bucket lets all out in ~0.25 s
                    return waiting
                finally:
                    channel.close()

            waiting = within(tx, lambda: asyncio.run(send_all()))
            arrived = [int.from_bytes(receiver.recv(2048)[:4], "big") for _ in range(DATAGRAMS)]
    assert waiting > DATAGRAMS // 2  # most could not be sent at once: the backlog was used
    assert arrived == list(range(DATAGRAMS))  # every one, in the order sent
