"""How closely the main process watches a transport."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Supervision:
    """How closely a transport is watched."""

    # Asked of the transport in client_hello: a heartbeat every this many seconds.
    heartbeat_interval: float = 1.0
    # Silence (no message at all) after which the transport counts as hung.
    heartbeat_timeout: float = 5.0
