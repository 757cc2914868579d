#!/usr/bin/env python3
"""Start a real coturn (``turnserver``) on 127.0.0.1, on free ports, with one long-term user.

Used by the tests (``with local_coturn() as turn: ...``), the demo and the benchmarks. Run it
directly to keep one running in the foreground and print its URLs:

    python scripts/local_coturn.py
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from aioice import stun
from process_stop import stop

DEFAULT_USERNAME = "alice"
DEFAULT_PASSWORD = "correct-horse-battery-staple"
DEFAULT_REALM = "icegather.test"


class LocalServer:
    """A STUN/TURN server process started on this machine for the tests: its URLs, the
    ``iceServers`` entry that reaches it, its log (in ``workdir``) and ``stop``."""

    host: str
    port: int
    username: str | None  # None: a server without authentication
    password: str | None
    workdir: str
    process: subprocess.Popen[bytes]
    scheme = "turn"  # what url() gives by default
    LOG_FILE: ClassVar[str]

    def url(self, scheme: str | None = None, transport: str | None = None) -> str:
        scheme = scheme or self.scheme
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = f"?transport={transport}" if transport else ""
        return f"{scheme}:{host}:{self.port_for(scheme)}{query}"

    def port_for(self, scheme: str) -> int | None:
        """The port that serves ``scheme``: TLS may have one of its own."""
        return self.port

    def ice_server(
        self, scheme: str | None = None, transport: str | None = None, password: str | None = None
    ) -> dict[str, str]:
        server = {"urls": self.url(scheme, transport)}
        if self.username is not None:
            server["username"] = self.username
            server["credential"] = password if password is not None else self.password or ""
        return server

    @property
    def log(self) -> str:
        with open(os.path.join(self.workdir, self.LOG_FILE), encoding="utf-8", errors="replace") as file:
            return file.read()

    def stop(self) -> None:
        stop(self.process, 5)
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class Coturn(LocalServer):
    host: str
    port: int
    username: str
    password: str
    realm: str
    workdir: str
    process: subprocess.Popen[bytes]
    tls_port: int | None = None
    extra_args: Sequence[str] = field(default_factory=tuple)
    LOG_FILE: ClassVar[str] = "turnserver.log"

    def port_for(self, scheme: str) -> int | None:
        return self.tls_port if scheme in ("turns", "stuns") else self.port


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free for both UDP and TCP on ``host`` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            with socket.socket(family, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
        return port


def free_port_pair(hosts: Sequence[str]) -> int:
    """A port that, with the next one, is free for UDP and TCP on each of ``hosts`` right now:
    coturn's RFC 5780 answers come from its listening port and the next."""
    while True:
        port = free_port(hosts[0])
        if port < 65535 and all(_free(host, candidate) for host in hosts for candidate in (port, port + 1)):
            return port


def _free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with contextlib.ExitStack() as sockets:
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                sockets.enter_context(socket.socket(family, kind)).bind((host, port))
        except OSError:
            return False
    return True


def start_coturn(
    host: str = "127.0.0.1",
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
    realm: str = DEFAULT_REALM,
    tls_certificate: tuple[str, str] | None = None,
    relay_ips: Sequence[str] = (),
    extra_args: Sequence[str] = (),
    timeout: float = 10.0,
    loopback_peers: bool = True,
    authentication: bool = True,
    udp: bool = True,
    other_host: str | None = None,
) -> Coturn:
    """Start coturn and wait until it answers a STUN Binding request. ``tls_certificate`` is
    (certificate file, key file) and turns on TLS on a second port. Relayed addresses come
    from ``relay_ips`` (default: ``host``). ``loopback_peers``: relay to peers on loopback,
    which coturn refuses by default; the relay check's peer socket is on loopback here, as
    every address of this server is. Without ``authentication`` it is an open relay
    (``--no-auth``): for the audit's tests only. Without ``udp`` it serves TCP only
    (``--no-udp``), its UDP port free for a test to drop what comes there. ``other_host``: a second
    listening address, so that coturn answers RFC 5780's tests (its OTHER-ADDRESS is the other
    address and the next port; ``--no-rfc5780`` in ``extra_args`` turns that off)."""
    turnserver = shutil.which("turnserver")
    if turnserver is None:
        raise RuntimeError("turnserver (coturn) is not installed: apt-get install coturn")
    workdir = tempfile.mkdtemp(prefix="icegather-coturn-")
    port = free_port_pair((host, other_host)) if other_host else free_port(host)
    tls_port = free_port(host) if tls_certificate else None
    command = [
        turnserver, "-n",
        *(f"--listening-ip={ip}" for ip in (host, other_host) if ip), f"--listening-port={port}",
        *(f"--relay-ip={ip}" for ip in relay_ips or (host,)),
        *(["--lt-cred-mech", f"--user={username}:{password}"] if authentication else ["--no-auth"]),
        f"--realm={realm}",
        *(["--allow-loopback-peers"] if loopback_peers else []),
        "--fingerprint", "--no-cli", "--no-dtls",
        f"--userdb={workdir}/turndb", f"--pidfile={workdir}/turnserver.pid",
        f"--log-file={workdir}/{Coturn.LOG_FILE}", "--simple-log", "--no-stdout-log",
    ]
    if tls_certificate:
        command += [f"--tls-listening-port={tls_port}", f"--cert={tls_certificate[0]}", f"--pkey={tls_certificate[1]}"]
    else:
        command.append("--no-tls")
    if not udp:
        command.append("--no-udp")
    command += list(extra_args)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    coturn = Coturn(host, port, username, password, realm, workdir, process, tls_port, tuple(extra_args))
    try:
        wait_until_answering(host, port, timeout, process, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    except BaseException:
        coturn.stop()
        raise
    return coturn


def wait_until_answering(
    host: str, port: int, timeout: float, process: subprocess.Popen[bytes], kind: int = socket.SOCK_DGRAM
) -> None:
    """Until a STUN Binding request over UDP (``kind`` SOCK_DGRAM) or TCP is answered."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"turnserver exited with status {process.returncode}")
        request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        with socket.socket(family, kind) as probe:
            probe.settimeout(0.05)
            try:
                probe.connect((host, port))
                probe.send(bytes(request))
                if probe.recv(2048):
                    return
            except OSError:
                time.sleep(0.01)  # refused at once while it starts: not a busy loop
    raise RuntimeError(f"turnserver did not answer on {host}:{port} within {timeout} s")


@contextlib.contextmanager
def local_coturn(**kwargs) -> Iterator[Coturn]:
    coturn = start_coturn(**kwargs)
    try:
        yield coturn
    finally:
        coturn.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--username", default=DEFAULT_USERNAME)
    parser.add_argument("--password", default=DEFAULT_PASSWORD)
    args = parser.parse_args()
    with local_coturn(username=args.username, password=args.password) as coturn:
        print(f"coturn {coturn.url()} (user {coturn.username}, realm {coturn.realm}); Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    sys.exit(main())
