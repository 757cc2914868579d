"""Shared fixtures: a real coturn, TURN and STUN servers no one here wrote (Pion, node-turn, the
``stun`` npm package's example), real transport processes, closed and silent ports.

Every test talks only to loopback addresses (127.0.0.0/8, ::1) and to names under
``.invalid``, which the transport never sends to a DNS server (RFC 6761).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import pytest
import trustme
from local_coturn import Coturn, local_coturn
from network_namespaces import RoutedNamespaces, routed_namespaces
from one_at_a_time import Room, close_room, open_room
from peer_turn import node_stun, node_turn, pion_turn, pypi_stun
from stun_servers import ScriptedStunServer, never_answer

T = TypeVar("T")

ROOM = pytest.StashKey[Room | None]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[ROOM] = open_room()


def pytest_unconfigure(config: pytest.Config) -> None:
    room = config.stash.get(ROOM, None)
    if room is not None:
        close_room(room)


def timed(item: pytest.Item | None) -> bool:
    return item is not None and item.get_closest_marker("timing") is not None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """A test marked ``timing`` runs alone (``one_at_a_time``), its fixtures' set-up included;
    the room stays taken for the timing test after it."""
    room = item.config.stash[ROOM]
    if room is None:
        yield
        return
    with room.held(alone=timed(item), keep=timed(item) and timed(nextitem)):
        yield


def session_server(start: Callable[[], AbstractContextManager[T]]) -> Any:
    """A fixture for the whole session: the server ``start`` gives, stopped at the end."""

    def server() -> Iterator[T]:
        with start() as started:
            yield started

    return pytest.fixture(scope="session")(server)


coturn = session_server(local_coturn)
# Pion TURN (Debian's golang-github-pion-turn.v2-dev), over UDP and TCP.
pion = session_server(lambda: pion_turn(tcp=True))
# npm's node-turn 0.0.6: UDP only.
nodeturn = session_server(node_turn)
# The ``stun`` npm package's example server: it answers with a random transaction ID.
stun_example = session_server(node_stun)
# PyPI's ``stun`` 1.1.0 server: XOR-MAPPED-ADDRESS XORed with the wrong cookie.
pypi_stun_server = session_server(pypi_stun)


@pytest.fixture(scope="session")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_coturn(certificate_authority, tmp_path_factory) -> Iterator[Coturn]:
    directory = tmp_path_factory.mktemp("tls")
    certificate = certificate_authority.issue_cert("localhost")
    certificate.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    certificate.private_key_pem.write_to_path(str(directory / "key.pem"))
    with local_coturn(tls_certificate=(str(directory / "cert.pem"), str(directory / "key.pem"))) as turn:
        yield turn


@pytest.fixture(scope="session")
def routed() -> Iterator[RoutedNamespaces]:
    """A client network namespace behind a router that answers with ICMP errors (root only)."""
    if os.geteuid() != 0:
        pytest.skip("making network namespaces needs root")
    with routed_namespaces() as namespaces:
        yield namespaces


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


@pytest.fixture
def silent_udp_server() -> Iterator[ScriptedStunServer]:
    """A UDP server that reads requests and never answers: a server that is "down" behind a
    firewall that drops packets."""
    with ScriptedStunServer(never_answer) as server:
        yield server
