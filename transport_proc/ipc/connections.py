"""Which connection each client of the transport came on, and when a connection ends.

The ROUTER's socket monitor reports every accepted connection and every ended one by its file
descriptor, and a received frame names the descriptor it came on (``SRCFD``). Descriptors are
reused, so each is counted per acceptance: a connection is (descriptor, acceptance). The
monitor is read synchronously, and right before a hello's connection is recorded, so that a
hello is never matched against events not yet read (the acceptance of its own connection is
always queued before its first message).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import zmq
from zmq.utils.monitor import parse_monitor_message

Connection = tuple[int, int]  # (file descriptor, how many times it was accepted)
EVENTS = zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED


class ConnectionMonitor:
    def __init__(self, sock: zmq.Socket[Any], on_ended: Callable[[Connection], None]) -> None:
        self._wrapper = sock.get_monitor_socket(EVENTS)
        # Read as a plain socket, never through its asyncio wrapper: drained whole each time.
        self._monitor: zmq.Socket[bytes] = zmq.Socket.shadow(self._wrapper.underlying)
        self._on_ended = on_ended
        self._accepted: dict[int, int] = {}
        self._sock = sock
        asyncio.get_running_loop().add_reader(self._monitor.FD, self.read_events)

    def connection_of(self, descriptor: int) -> Connection:
        self.read_events()
        return descriptor, self._accepted.get(descriptor, 0)

    def read_events(self) -> None:
        while True:
            try:
                event = parse_monitor_message(self._monitor.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return
            descriptor = event["value"]
            if event["event"] == zmq.EVENT_ACCEPTED:
                self._accepted[descriptor] = self._accepted.get(descriptor, 0) + 1
            elif event["event"] == zmq.EVENT_DISCONNECTED:
                self._on_ended((descriptor, self._accepted.get(descriptor, 0)))

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self._monitor.FD)
        self._sock.disable_monitor()
        self._wrapper.close(linger=0)
