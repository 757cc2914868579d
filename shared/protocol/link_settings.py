"""The ZeroMQ settings both ends of the main-transport link use.

Liveness lives in libzmq's I/O thread, not on the Python event loop: ZMTP heartbeats (ZeroMQ
RFC 37) ping the peer every ``ZMTP_HEARTBEAT_INTERVAL`` and drop a connection that stayed
silent for ``ZMTP_HEARTBEAT_TIMEOUT``. The I/O thread answers pings while Python is busy, so a
listener that blocks the main process's loop never makes it look dead; a process that is
stopped, killed or unreachable does, and its connection ends.

Queues are bounded: at most ``QUEUE_LIMIT`` messages wait in each direction. A peer that falls
that far behind is stuck, not slow (a gathering sends a handful of messages per URL): the
transport then drops that client and closes its gatherings, and the main process fails that
transport, each saying why, instead of growing without bound.
"""

from __future__ import annotations

from typing import Any

import zmq

ZMTP_HEARTBEAT_INTERVAL = 1.0
ZMTP_HEARTBEAT_TIMEOUT = 5.0
QUEUE_LIMIT = 1_000_000
# The fastest application heartbeat a transport sends a client (seconds); a client that asks
# for a faster one gets this.
MIN_HEARTBEAT_INTERVAL = 0.05


def configure(sock: zmq.Socket[Any]) -> None:
    sock.setsockopt(zmq.HEARTBEAT_IVL, int(ZMTP_HEARTBEAT_INTERVAL * 1000))
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(ZMTP_HEARTBEAT_TIMEOUT * 1000))
    sock.setsockopt(zmq.HEARTBEAT_TTL, int(ZMTP_HEARTBEAT_TIMEOUT * 1000))
    sock.setsockopt(zmq.SNDHWM, QUEUE_LIMIT)
    sock.setsockopt(zmq.RCVHWM, QUEUE_LIMIT)
