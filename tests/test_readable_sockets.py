"""The transport's UDP sockets are read through one epoll of their own (``readable_sockets``):
each datagram reaches its socket's reader, a socket closed by another's reader in the same
turn is not read, and no file outlives the sockets it watches. Real sockets on loopback."""

from __future__ import annotations

import asyncio
import os
import socket

from loop_waits import until

from icegather.transport_proc.stun.readable_sockets import readable_sockets


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.bind(("127.0.0.1", 0))
    return sock


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_each_socket_reads_its_own_datagrams_and_the_epoll_goes_with_the_last_socket():
    async def scenario():
        loop = asyncio.get_running_loop()
        before = open_files()
        sockets = [udp_socket() for _ in range(3)]
        heard: dict[int, list[bytes]] = {index: [] for index in range(3)}
        for index, sock in enumerate(sockets):
            readable_sockets(loop).watch(sock.fileno(), lambda s=sock, i=index: heard[i].append(s.recv(100)))
        with udp_socket() as sender:
            for index, sock in enumerate(sockets):
                for n in range(2):
                    sender.sendto(f"{index}.{n}".encode(), sock.getsockname())
            await until(lambda: sum(map(len, heard.values())) == 6)
        for sock in sockets:
            readable_sockets(loop).forget(sock.fileno())
            sock.close()
        return heard, open_files() - before

    heard, left_open = asyncio.run(scenario())
    assert heard == {index: [f"{index}.0".encode(), f"{index}.1".encode()] for index in range(3)}
    assert left_open == 0


def test_a_socket_that_another_reader_closed_in_the_same_turn_is_not_read():
    async def scenario():
        loop = asyncio.get_running_loop()
        errors: list[object] = []
        loop.set_exception_handler(lambda _, context: errors.append(context.get("exception")))
        first, second = udp_socket(), udp_socket()
        read: list[str] = []
        watcher = readable_sockets(loop)

        def read_first() -> None:
            read.append("first")
            first.recv(100)
            for sock in (first, second):  # the first to be read closes both
                watcher.forget(sock.fileno())
                sock.close()

        def read_second() -> None:
            read.append("second")
            second.recv(100)
            for sock in (first, second):
                watcher.forget(sock.fileno())
                sock.close()

        watcher.watch(first.fileno(), read_first)
        watcher.watch(second.fileno(), read_second)
        with udp_socket() as sender:
            # Both wait in their sockets before the loop looks: one turn finds both readable.
            sender.sendto(b"a", first.getsockname())
            sender.sendto(b"b", second.getsockname())
            await until(lambda: len(read) > 0)
        return read, errors

    read, errors = asyncio.run(scenario())
    assert read in (["first"], ["second"]) and errors == []
