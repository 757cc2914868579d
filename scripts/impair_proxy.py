#!/usr/bin/env python3
"""A UDP impairment proxy: it listens on one address and forwards each datagram to an upstream
server, and each answer back to whoever sent the request, each one delayed by DELAY +- JITTER
ms (uniformly, independently per datagram, so datagrams may overtake one another) and, with
--loss, dropped with that probability. Each client (address and port) gets an upstream socket
of its own, as behind a NAT. This kernel has no netem; the tests put this proxy between
icegather and a TURN server to measure a delayed, jittery path (docs/real-networks.md).

    python scripts/impair_proxy.py --listen 127.0.0.1:0 --upstream 127.0.0.1:3478 --delay 20 --jitter 5

It prints one line once it listens (the port it got, for --listen HOST:0), then runs until
SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import random
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Address = tuple[str, int]
MAX_DATAGRAM = 65535


@dataclass(frozen=True)
class Impairment:
    """What happens to each datagram: delayed ``delay_ms`` +- ``jitter_ms``, lost with
    probability ``loss``."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.jitter_ms <= self.delay_ms:
            raise ValueError(f"the jitter must be between 0 and the delay ({self.delay_ms:g} ms)")
        if not 0 <= self.loss < 1:
            raise ValueError("the loss must be a fraction, at least 0 and below 1")

    def fate(self, draw: Callable[[], float]) -> float | None:
        """Seconds to hold one datagram, or None to drop it; ``draw`` gives uniform [0, 1)."""
        if self.loss and draw() < self.loss:
            return None
        return (self.delay_ms + self.jitter_ms * (2 * draw() - 1)) / 1000

    def __str__(self) -> str:
        return f"each datagram delayed {self.delay_ms:g} ± {self.jitter_ms:g} ms, {self.loss:.1%} lost"


def host_port(text: str) -> Address:
    """HOST:PORT, [IPv6]:PORT: an IP address (no name: nothing to resolve) and a port."""
    host, separator, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        number = -1
    if not separator or not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not IP:PORT ([IPv6]:PORT for IPv6; no names)")
    return host, number


def udp_socket(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    return sock


def endpoint(address: Address) -> str:
    return f"[{address[0]}]:{address[1]}" if ":" in address[0] else f"{address[0]}:{address[1]}"


class Proxy:
    """The proxy on ``loop``: datagrams to ``listening`` go to ``upstream``, answers come back."""

    def __init__(self, loop: asyncio.AbstractEventLoop, listening: socket.socket, upstream: Address,
                 impairment: Impairment, draw: Callable[[], float]) -> None:
        self.loop, self.listening, self.upstream = loop, listening, upstream
        self.impairment, self.draw = impairment, draw
        self.flows: dict[Address, socket.socket] = {}
        loop.add_reader(listening, self._drain, listening, self._from_client)

    def _drain(self, sock: socket.socket, handle: Callable[[bytes, Address], None]) -> None:
        while True:
            try:
                data, source = sock.recvfrom(MAX_DATAGRAM)
            except BlockingIOError:
                return
            except OSError:  # an ICMP error for an earlier datagram: the path loses it, as a wire would
                continue
            handle(data, source[:2])

    def _from_client(self, data: bytes, client: Address) -> None:
        flow = self.flows.get(client)
        if flow is None:
            flow = self.flows[client] = udp_socket(self.upstream[0])
            flow.connect(self.upstream)
            self.loop.add_reader(flow, self._drain, flow, lambda answer, _: self._later(
                lambda: self.listening.sendto(answer, client)))
        self._later(lambda: flow.send(data))

    def _later(self, send: Callable[[], object]) -> None:
        delay = self.impairment.fate(self.draw)
        if delay is not None:
            self.loop.call_later(delay, self._quietly, send)

    @staticmethod
    def _quietly(send: Callable[[], object]) -> None:
        with contextlib.suppress(OSError):  # a full buffer or an ICMP error: lost, as on a wire
            send()

    def close(self) -> None:
        for sock in (self.listening, *self.flows.values()):
            self.loop.remove_reader(sock)
            sock.close()


async def serve(listen: Address, upstream: Address, impairment: Impairment, seed: int | None) -> None:
    loop = asyncio.get_running_loop()
    listening = udp_socket(listen[0])
    try:
        listening.bind(listen)
    except OSError as error:
        listening.close()
        raise SystemExit(f"impair_proxy: cannot listen on {endpoint(listen)}: {error.strerror}") from None
    proxy = Proxy(loop, listening, upstream, impairment, random.Random(seed).random)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"impair_proxy listening on {endpoint(listening.getsockname()[:2])}, forwarding to "
          f"{endpoint(upstream)}: {impairment}", flush=True)
    try:
        await stop.wait()
    finally:
        proxy.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", type=host_port, required=True, metavar="IP:PORT",
                        help="where clients send (port 0: any free port, printed)")
    parser.add_argument("--upstream", type=host_port, required=True, metavar="IP:PORT",
                        help="the server datagrams go to")
    parser.add_argument("--delay", type=float, default=0.0, metavar="MS", help="mean delay of each datagram")
    parser.add_argument("--jitter", type=float, default=0.0, metavar="MS",
                        help="each delay is uniform in DELAY +- JITTER (at most DELAY)")
    parser.add_argument("--loss", type=float, default=0.0, metavar="FRACTION",
                        help="drop each datagram with this probability (0.03: 3%%)")
    parser.add_argument("--seed", type=int, help="seed the random delays and losses (a run that repeats)")
    args = parser.parse_args(argv)
    try:
        impairment = Impairment(args.delay, args.jitter, args.loss)
    except ValueError as error:
        parser.error(str(error))
    asyncio.run(serve(args.listen, args.upstream, impairment, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
