"""ZeroMQ CURVE keys for a transport served over TCP.

A transport on ``tcp://`` is reachable by anything on the network, so it speaks only CURVE
(RFC 26/CurveZMQ): the traffic is encrypted, the client must know the service's public key,
and the service accepts only clients whose public keys it holds. Keys are the Z85 text files
of ``zmq.auth`` (``NAME.key`` public, ``NAME.key_secret`` both halves), made by

    python -m icegather.transport_proc keygen DIR NAME
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
import zmq.auth


@dataclass(frozen=True)
class CurveKeys:
    """One end's key pair, and for a client the public key of the service it trusts."""

    public: bytes
    secret: bytes = field(repr=False)
    server_public: bytes | None = None

    @classmethod
    def load(cls, secret_file: str | Path, server_public_file: str | Path | None = None) -> CurveKeys:
        public, secret = zmq.auth.load_certificate(str(secret_file))
        if secret is None:
            raise ValueError(f"{secret_file} holds no secret key (use the NAME.key_secret file)")
        server_public = zmq.auth.load_certificate(str(server_public_file))[0] if server_public_file else None
        return cls(public, secret, server_public)

    def apply_to_client(self, sock: zmq.Socket[Any]) -> None:
        if self.server_public is None:
            raise ValueError("a CURVE client needs the service's public key")
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret
        sock.curve_serverkey = self.server_public

    def apply_to_server(self, sock: zmq.Socket[Any]) -> None:
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret
        sock.curve_server = True


def generate(directory: str | Path, name: str) -> tuple[Path, Path]:
    """Write a new key pair as ``NAME.key`` and ``NAME.key_secret`` (mode 0600) in ``directory``."""
    Path(directory).mkdir(mode=0o700, parents=True, exist_ok=True)
    public_file, secret_file = zmq.auth.create_certificates(str(directory), name)
    Path(secret_file).chmod(0o600)
    return Path(public_file), Path(secret_file)
