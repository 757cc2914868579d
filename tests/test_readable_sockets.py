"""The transport's UDP sockets are read through one epoll of their own (``readable_sockets``):
each datagram reaches its socket's reader, a socket closed by another's reader in the same
turn is not read, and no file outlives the sockets it watches. Real sockets on loopback."""

from __future__ import annotations

import asyncio
import os
import socket

from loop_waits import until

from icegather.transport_proc.stun.channels import bind_socket
from icegather.transport_proc.stun.readable_sockets import readable_sockets


def udp_socket() -> socket.socket:
    return bind_socket("127.0.0.1", socket.SOCK_DGRAM)


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


def test_a_socket_that_cannot_be_watched_raises_and_leaves_no_epoll_behind(tmp_path):
    async def scenario():
        loop = asyncio.get_running_loop()
        before = open_files()
        with open(tmp_path / "file", "w") as regular:  # epoll refuses regular files (EPERM)
            try:
                readable_sockets(loop).watch(regular.fileno(), lambda: None)
            except OSError as error:
                refused = error
            left_open = open_files() - before - 1
        with udp_socket() as sock:  # and a fresh watcher serves the next socket
            readable_sockets(loop).watch(sock.fileno(), lambda: None)
            readable_sockets(loop).forget(sock.fileno())
        return refused, left_open

    refused, left_open = asyncio.run(scenario())
    assert isinstance(refused, PermissionError) and left_open == 0


def test_a_reader_that_raises_is_reported_naming_its_socket_and_the_other_sockets_are_still_read():
    async def scenario():
        loop = asyncio.get_running_loop()
        reported: list[tuple[str, object]] = []
        loop.set_exception_handler(lambda _, context: reported.append((context["message"], context.get("exception"))))
        broken, working = udp_socket(), udp_socket()
        heard: list[bytes] = []

        def read_broken() -> None:
            broken.recv(100)
            raise RuntimeError("a bug in one reader")

        watcher = readable_sockets(loop)
        watcher.watch(broken.fileno(), read_broken)
        watcher.watch(working.fileno(), lambda: heard.append(working.recv(100)))
        with udp_socket() as sender:
            sender.sendto(b"to the broken one", broken.getsockname())
            sender.sendto(b"to the working one", working.getsockname())
            await until(lambda: heard and reported)
        fd = broken.fileno()
        for sock in (broken, working):
            watcher.forget(sock.fileno())
            sock.close()
        return heard, reported, fd

    heard, reported, fd = asyncio.run(scenario())
    assert heard == [b"to the working one"]
    assert [(message, str(error)) for message, error in reported] == [
        (f"reading socket {fd} failed", "a bug in one reader")
    ]
