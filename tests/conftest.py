"""Shared fixtures: a real coturn, real transport processes, closed and silent ports.

Every test talks only to loopback addresses (127.0.0.0/8, ::1) and to names under
``.invalid``, which the transport never sends to a DNS server (RFC 6761).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from local_coturn import Coturn, local_coturn


@pytest.fixture(scope="session")
def coturn() -> Iterator[Coturn]:
    with local_coturn() as server:
        yield server


@pytest.fixture
def closed_udp_port() -> int:
    """A UDP port on 127.0.0.1 with nothing listening: the kernel answers ICMP port unreachable."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def closed_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SilentServer:
    """A UDP socket that reads requests and never answers: a server that is "down" behind a
    firewall that drops packets."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def requests(self) -> list[bytes]:
        """Every datagram received so far."""
        received = []
        while True:
            try:
                received.append(self.sock.recv(2048))
            except BlockingIOError:
                return received


@pytest.fixture
def silent_udp_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.sock.close()
