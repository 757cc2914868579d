#!/usr/bin/env python3
"""Start TURN/STUN servers that are not coturn on 127.0.0.1, on free ports: Pion's TURN server,
node-turn, the `stun` npm package's example STUN server and PyPI's `stun` package's server.
Each is an independent implementation with its own behaviour on the wire
(scripts/peer_servers/README.md tells what differs from coturn), so a test can check
icegather against more than one server.

    with pion_turn(tcp=True) as turn: ...      # turn.url(), turn.ice_server(), turn.log
    with node_turn() as turn: ...
    with node_stun() as stun_server: ...       # mode="example": answers with a random transaction ID
    with pypi_stun() as stun_server: ...       # XOR-MAPPED-ADDRESS encoded with the wrong cookie

They are built into a cache directory by ``bash scripts/peer_servers/build.sh``
(``$ICEGATHER_PEERS_CACHE``, default ~/.cache/icegather-peers). Run this file directly to start
each once, see it answer a STUN Binding request and stop it:

    python scripts/peer_turn.py
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from aioice import stun
from local_coturn import DEFAULT_PASSWORD, DEFAULT_REALM, DEFAULT_USERNAME, LocalServer, free_port

PEER_SERVERS = Path(__file__).resolve().parent / "peer_servers"
# The pins of build.sh: a cache holding another version is reported as not built.
NODE_TURN_VERSION = "0.0.6"
STUN_VERSION = "2.1.0"
PYPI_STUN_VERSION = "1.1.0"
BUILD_COMMAND = "bash scripts/peer_servers/build.sh"


def cache_dir() -> Path:
    return Path(os.environ.get("ICEGATHER_PEERS_CACHE") or Path.home() / ".cache" / "icegather-peers")


@dataclass
class PeerServer(LocalServer):
    name: str
    host: str
    port: int
    username: str | None  # None: a server without authentication
    password: str | None
    realm: str | None
    workdir: str
    process: subprocess.Popen[bytes]
    scheme: str = "turn"  # what url() gives by default: "stun" for a STUN-only server
    tcp: bool = False  # whether it also listens on TCP (same port)
    LOG_FILE: ClassVar[str] = "server.log"

    def url(self, scheme: str | None = None, transport: str | None = None) -> str:
        if transport == "tcp" and not self.tcp:
            raise ValueError(f"{self.name} does not listen on TCP here")
        return super().url(scheme, transport)


class NotBuilt(RuntimeError):
    def __init__(self, what: str, path: Path) -> None:
        super().__init__(f"{what} is not built ({path} is missing): run `{BUILD_COMMAND}`")


def pion_turn_binary() -> Path:
    """The binary build.sh made from the current main.go and go.mod (the same hash it uses):
    a binary built from an older source is not used silently."""
    source = PEER_SERVERS / "pion_turn"
    digest = hashlib.sha256((source / "main.go").read_bytes() + (source / "go.mod").read_bytes()).hexdigest()
    binary = cache_dir() / "bin" / f"pion_turn-{digest[:16]}"
    if not os.access(binary, os.X_OK):
        raise NotBuilt("Pion TURN", binary)
    return binary


def node_modules(package: str, version: str) -> Path:
    modules = cache_dir() / "npm" / f"{package}-{version}" / "node_modules"
    if not (modules / package / "package.json").is_file():
        raise NotBuilt(f"{package} {version}", modules / package)
    return modules


def node() -> str:
    path = shutil.which("node")
    if path is None:
        raise RuntimeError(f"node is not installed: run `{BUILD_COMMAND}`")
    return path


def users_argument(users: Mapping[str, str]) -> str:
    for name, password in users.items():
        # The servers split on ',' then the first '='.
        if "," in name + password or "=" in name or not name:
            raise ValueError(f"user {name!r}: names hold no ',' or '=', passwords no ','")
    return ",".join(f"{name}={password}" for name, password in users.items())


def start(
    name: str,
    command: Sequence[str],
    host: str,
    port: int,
    users: Mapping[str, str] | None,
    realm: str | None,
    timeout: float,
    env: Mapping[str, str] | None = None,
    scheme: str = "turn",
    tcp: bool = False,
) -> PeerServer:
    workdir = tempfile.mkdtemp(prefix=f"icegather-{name}-")
    with open(os.path.join(workdir, PeerServer.LOG_FILE), "wb") as log:
        # The child keeps its own copy of the descriptor: the log outlives this block.
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    username, password = next(iter(users.items())) if users else (None, None)
    server = PeerServer(name, host, port, username, password, realm, workdir, process, scheme, tcp)
    try:
        wait_until_answering(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def binding(host: str, port: int, timeout: float = 1.0) -> tuple[stun.Message, stun.Message]:
    """One STUN Binding request and the answer, whatever its transaction ID (the example STUN
    server answers with a random one): (request, response). Raises OSError on no answer."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        sock.sendto(bytes(request), (host, port))
        data, _ = sock.recvfrom(2048)
        return request, stun.parse_message(data)


def wait_until_answering(server: PeerServer, timeout: float) -> None:
    """Until the server answers a STUN Binding request: then its UDP socket is serving (and
    Pion's TCP listener, opened before its UDP serving starts, is bound)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with status {server.process.returncode}:\n{server.log}")
        try:
            binding(server.host, server.port, timeout=0.05)
            return
        except (OSError, ValueError):  # not listening yet (refused, silent) or not STUN
            continue
    raise RuntimeError(f"{server.name} did not answer on {server.host}:{server.port} within {timeout} s:\n{server.log}")


def default_users(users: Mapping[str, str] | None) -> dict[str, str]:
    return dict(users) if users else {DEFAULT_USERNAME: DEFAULT_PASSWORD}


@contextlib.contextmanager
def pion_turn(
    users: Mapping[str, str] | None = None,
    realm: str = DEFAULT_REALM,
    tcp: bool = False,
    host: str = "127.0.0.1",
    log_level: str = "info",
    timeout: float = 10.0,
) -> Iterator[PeerServer]:
    """Pion's turn/v2 (Debian's 2.1.0) with long-term credentials; relays on ``host`` too.
    ``tcp``: also TURN over TCP on the same port. The first user is the one ice_server() uses."""
    users = default_users(users)
    port = free_port(host)
    command = [
        str(pion_turn_binary()), f"-public-ip={host}", f"-port={port}", f"-users={users_argument(users)}",
        f"-realm={realm}", f"-log-level={log_level}", *(["-tcp"] if tcp else []),
    ]
    server = start("pion-turn", command, host, port, users, realm, timeout, tcp=tcp)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def node_turn(
    users: Mapping[str, str] | None = None,
    realm: str = DEFAULT_REALM,
    host: str = "127.0.0.1",
    authentication: bool = True,
    debug_level: str = "INFO",
    timeout: float = 10.0,
) -> Iterator[PeerServer]:
    """node-turn (npm, pinned) on UDP only, relaying on ``host``. Without ``authentication``
    it is an open relay (no user)."""
    users = default_users(users) if authentication else {}
    modules = node_modules("node-turn", NODE_TURN_VERSION)
    port = free_port(host)
    command = [
        node(), str(PEER_SERVERS / "node_turn" / "server.js"), "--host", host, "--port", str(port),
        "--realm", realm, "--debug-level", debug_level,
        *(["--users", users_argument(users)] if authentication else ["--no-auth"]),
    ]
    server = start("node-turn", command, host, port, users or None, realm, timeout, env={"NODE_PATH": str(modules)})
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def node_stun(mode: str = "example", host: str = "127.0.0.1", timeout: float = 10.0) -> Iterator[PeerServer]:
    """The `stun` npm package's example STUN server (pinned). ``mode="example"`` keeps its
    quirk: each Binding success carries a new random transaction ID; ``"echo"`` copies the
    request's. Either answers a request of any method with a Binding success."""
    if mode not in ("example", "echo"):
        raise ValueError(f"mode must be 'example' or 'echo', not {mode!r}")
    modules = node_modules("stun", STUN_VERSION)
    port = free_port(host)
    command = [
        node(), str(PEER_SERVERS / "node_stun" / "server.js"), "--host", host, "--port", str(port), "--mode", mode,
    ]
    server = start(
        "node-stun", command, host, port, None, None, timeout, env={"NODE_PATH": str(modules)}, scheme="stun",
    )
    try:
        yield server
    finally:
        server.stop()


def pypi_stun_python() -> Path:
    python = cache_dir() / "venv" / f"pypi-stun-{PYPI_STUN_VERSION}" / "bin" / "python"
    if not os.access(python, os.X_OK):
        raise NotBuilt(f"PyPI stun {PYPI_STUN_VERSION}", python)
    return python


@contextlib.contextmanager
def pypi_stun(host: str = "127.0.0.1", timeout: float = 10.0) -> Iterator[PeerServer]:
    """PyPI's `stun` package's server (pinned), in its own virtual environment. Its Binding
    success carries MAPPED-ADDRESS right and XOR-MAPPED-ADDRESS XORed with the magic cookie
    byte-reversed, so the two disagree. Its CHANGED-ADDRESS names a second free port, where
    it also listens."""
    port = change_port = free_port(host)
    while change_port == port:
        change_port = free_port(host)
    command = [
        str(pypi_stun_python()), str(PEER_SERVERS / "pypi_stun" / "server.py"), "--host", host,
        "--port", str(port), "--change-port", str(change_port),
    ]
    server = start("pypi-stun", command, host, port, None, None, timeout, scheme="stun")
    try:
        yield server
    finally:
        server.stop()


def main() -> int:
    """Self-check: start each server, show its Binding answer, stop it."""
    checks: dict[str, Callable[[], contextlib.AbstractContextManager[PeerServer]]] = {
        "Pion TURN (UDP+TCP)": lambda: pion_turn(tcp=True),
        f"node-turn {NODE_TURN_VERSION}": node_turn,
        f"stun {STUN_VERSION} example server": node_stun,
        f"stun {STUN_VERSION} example server, echo mode": lambda: node_stun(mode="echo"),
        f"PyPI stun {PYPI_STUN_VERSION} server": pypi_stun,
    }
    for label, start_server in checks.items():
        started = time.monotonic()
        with start_server() as server:
            ready = time.monotonic() - started
            request, response = binding(server.host, server.port)
            same_id = "same" if response.transaction_id == request.transaction_id else "a DIFFERENT"
            print(f"{label}: {server.url()} ready in {ready:.2f} s")
            print(
                f"  answered Binding with {response.message_class.name}, {same_id} transaction ID, "
                f"XOR-MAPPED-ADDRESS {response.attributes.get('XOR-MAPPED-ADDRESS')}, "
                f"SOFTWARE {response.attributes.get('SOFTWARE')!r}",
                flush=True,
            )
        print("  stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
