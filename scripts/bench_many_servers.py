#!/usr/bin/env python3
"""Many servers: one peer connection with 50 URLs, half of them dead (UDP sockets that never
answer), against the same gathering with a single dead URL. Both should take one
retransmission schedule: the URLs are tried at once, so the ratio should be about 1.

    python scripts/bench_many_servers.py [--quick]
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import sys
import threading
import time
from collections.abc import Iterator

from aioice import stun
from bench_options import quick_mode

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.transport_client import TransportClient
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule

SCHEDULE = RetransmissionSchedule(initial_rto=0.1, max_sends=3, final_wait=4)  # gives up after 0.7 s
OPTIONS = GatherOptions(schedule=SCHEDULE, local_addresses=("127.0.0.1",))


@contextlib.contextmanager
def udp_servers(count: int, answer: bool) -> Iterator[list[str]]:
    """``count`` STUN servers on loopback that answer every Binding request, or never do."""
    sockets = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        sockets.append(sock)
    stopping = threading.Event()

    def serve(sock: socket.socket) -> None:
        while not stopping.is_set():
            try:
                data, source = sock.recvfrom(2048)
            except (TimeoutError, OSError):
                continue
            if answer:
                request = stun.parse_message(data)
                response = stun.Message(request.message_method, stun.Class.RESPONSE, request.transaction_id)
                response.attributes["XOR-MAPPED-ADDRESS"] = source
                sock.sendto(bytes(response), source)

    threads = [threading.Thread(target=serve, args=(sock,), daemon=True) for sock in sockets]
    for thread in threads:
        thread.start()
    try:
        yield [f"stun:127.0.0.1:{sock.getsockname()[1]}" for sock in sockets]
    finally:
        stopping.set()
        for thread in threads:
            thread.join()
        for sock in sockets:
            sock.close()


async def gathering_time(client: TransportClient, urls: list[str]) -> tuple[float, int]:
    pc = RTCPeerConnection({"iceServers": [{"urls": urls}]}, transport=client, options=OPTIONS)
    errors = []
    pc.onicecandidateerror = errors.append
    started = time.perf_counter()
    await pc.gather()
    pc.close()
    return time.perf_counter() - started, len(errors)


async def measure(rounds: int, dead: int, healthy: int) -> tuple[list[float], list[float], int]:
    client = await TransportClient.start()
    try:
        with udp_servers(dead, answer=False) as dead_urls, udp_servers(healthy, answer=True) as healthy_urls:
            one = [await gathering_time(client, dead_urls[:1]) for _ in range(rounds)]
            many = [await gathering_time(client, dead_urls + healthy_urls) for _ in range(rounds)]
    finally:
        client.close()
    assert all(errors == 1 for _, errors in one) and all(errors == dead for _, errors in many)
    return [t for t, _ in one], [t for t, _ in many], dead + healthy


def main(argv: list[str] | None = None) -> int:
    quick = quick_mode(argv, __doc__)
    rounds, dead, healthy = (2, 5, 5) if quick else (10, 25, 25)
    one, many, urls = asyncio.run(measure(rounds, dead, healthy))
    single, fifty = statistics.median(one), statistics.median(many)
    print(f"bench_many_servers: schedule gives up after {SCHEDULE.give_up_after:g} s; medians of {rounds}")
    print(f"  1 dead URL          : {single * 1000:7.1f} ms")
    print(f"  {urls} URLs, {dead} dead   : {fifty * 1000:7.1f} ms")
    print(f"  ratio               : {fifty / single:.2f} (1.0 = one schedule for all; {dead} if one after another)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
