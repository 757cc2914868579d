"""PyPI's ``stun`` 1.1.0 server (its ``stun.Server``, version pinned in ../build.sh) on one
loopback address, for icegather's tests. Run with the interpreter of the virtual environment
build.sh makes for it, not with icegather's:

    python server.py --host 127.0.0.1 --port 3478 --change-port 3479

The package's server is abstract over sockets (its own example runs it on the wormhole
project's UDP gate, which is not in the package): this gives it two asyncio UDP sockets, the
port and the change port its answers name in CHANGED-ADDRESS and send from on a CHANGE-REQUEST
"change port". Everything on the wire, XOR-MAPPED-ADDRESS included, is the package's.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from stun import Server


class Datagrams(asyncio.DatagramProtocol):
    def __init__(self, server: LoopbackStunServer) -> None:
        self.server = server
        # The loop holds tasks weakly: each is kept here until it is done.
        self.handling: set[asyncio.Task[bool]] = set()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.ensure_future(self.server.handle(data=data, remote_ip=addr[0], remote_port=addr[1]))
        self.handling.add(task)
        task.add_done_callback(self.handled)

    def handled(self, task: asyncio.Task[bool]) -> None:
        self.handling.discard(task)
        # The package asserts on input it cannot parse: logged, and the server goes on.
        if not task.cancelled() and task.exception() is not None:
            print(f"error: {task.exception()!r}", flush=True)


class LoopbackStunServer(Server):
    def __init__(self, host: str, port: int, change_port: int) -> None:
        super().__init__(host=host, port=port, change_port=change_port)
        self.changed_address = (host, change_port)
        self.transports: dict[int, asyncio.DatagramTransport] = {}

    async def send(self, data: bytes, destination: tuple[str, int], source: object = None) -> bool:
        # The package passes the local address to answer from: (ip, port), a port, or none.
        port = source[1] if isinstance(source, tuple) else source if isinstance(source, int) else None
        transport = self.transports.get(port or self.source_address[1])
        if transport is None:
            return False
        transport.sendto(data, destination)
        print(f"answered {destination[0]}:{destination[1]} from port {port}", flush=True)
        return True


async def serve(host: str, port: int, change_port: int) -> None:
    server = LoopbackStunServer(host, port, change_port)
    loop = asyncio.get_running_loop()
    for local_port in (port, change_port):
        transport, _ = await loop.create_datagram_endpoint(lambda: Datagrams(server), local_addr=(host, local_port))
        server.transports[local_port] = transport
    print(f"[stun 1.1.0] server on {host}:{port}, change port {change_port}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3478)
    parser.add_argument("--change-port", type=int, default=3479)
    options = parser.parse_args()
    asyncio.run(serve(options.host, options.port, options.change_port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
