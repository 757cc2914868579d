"""The edge of the address tracking: a NETLINK_ROUTE socket subscribed to address changes.

``AddressTracker.open`` opens it and reads the first dump of every address before anything
else runs (the transport confines itself after start-up, and can then open no netlink socket);
``follow`` then reads notifications as the event loop finds them, on the same socket, so that
each gathering takes the addresses as they are without asking the kernel (Chromium's
``AddressTrackerLinux`` does the same). ``interface_addresses`` asks once, for a program that
runs a gathering without a tracker.

Only the kernel's datagrams are read: another process that may send to the socket (one with
CAP_NET_ADMIN) could otherwise make up addresses to gather from.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from types import TracebackType

from icegather.transport_proc.interfaces.address_book import AddressBook
from icegather.transport_proc.interfaces.netlink import ADDRESS_GROUPS, NetlinkParseError, from_kernel

logger = logging.getLogger(__name__)

# A datagram of a dump holds at most a page or so of messages (the kernel's NLMSG_GOODSIZE).
RECEIVE_SIZE = 65_536
# The kernel answers a dump at once; this only bounds a start-up that something went wrong with.
DUMP_TIMEOUT = 5.0


class AddressTracker:
    """The machine's usable interface addresses, kept current: ``addresses()``."""

    def __init__(self, sock: socket.socket, book: AddressBook) -> None:
        self._sock = sock
        self._book = book
        self._loop: asyncio.AbstractEventLoop | None = None
        self._readable = True  # until the socket fails or closes
        self.dropped = 0  # datagrams from another sender than the kernel

    @classmethod
    def open(cls) -> AddressTracker:
        """Subscribe to address changes, then read a dump of every address (blocking: at
        start-up). Subscribing first means no change falls between the dump and the
        notifications. Raises ``OSError``."""
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
        try:
            sock.bind((0, ADDRESS_GROUPS))
            sock.settimeout(DUMP_TIMEOUT)
            tracker = cls(sock, AddressBook())
            request: bytes | None = tracker._book.dump()
            while not tracker._book.ready:
                if request is not None:
                    sock.send(request)
                request = tracker._take(*sock.recvfrom(RECEIVE_SIZE))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return tracker

    def addresses(self) -> tuple[str, ...]:
        """The usable addresses, in the order a gathering uses them (``addresses.rfc8421_order``).
        What is queued is read first (one ``recv`` when nothing is): a change the kernel made
        before the gathering started counts, whichever the event loop would have run first."""
        self._read()
        return self._book.addresses

    def follow(self) -> None:
        """Read the notifications in the running event loop from now on."""
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._read)

    def close(self) -> None:
        self._stop_following()
        self._sock.close()

    def _stop_following(self) -> None:
        self._readable = False
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._sock.fileno())
        self._loop = None

    def __enter__(self) -> AddressTracker:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _read(self) -> None:
        """Everything queued on the socket. What cannot be read leaves the addresses known as
        they are: a gathering from the last addresses known beats none."""
        while self._readable:
            try:
                request = self._take(*self._sock.recvfrom(RECEIVE_SIZE))
            except BlockingIOError:
                return
            except NetlinkParseError as error:
                # Whatever that datagram said is lost: ask for everything again.
                logger.warning("a netlink message could not be read (%s): asking for every address again", error)
                request = self._book.lost()
            except OSError as error:
                if error.errno != errno.ENOBUFS:
                    logger.warning("interface addresses are no longer followed: %s", error)
                    self._stop_following()
                    return
                logger.info("netlink notifications were lost (the socket's buffer was full): asking again")
                request = self._book.lost()
            if request is not None:
                self._send(request)

    def _take(self, data: bytes, sender: tuple[int, int]) -> bytes | None:
        """One datagram, if the kernel sent it (``AddressBook.receive``); dropped, and counted,
        if not."""
        if from_kernel(sender):
            return self._book.receive(data)
        self.dropped += 1
        if self.dropped == 1:  # once: a process that can send them can send floods
            logger.warning("dropped a netlink message from port %s: only the kernel's are read", sender[0])
        return None

    def _send(self, request: bytes) -> None:
        try:
            self._sock.send(request)
        except OSError as error:
            logger.warning("interface addresses may be out of date: %s", error)


def interface_addresses() -> tuple[str, ...]:
    """The usable addresses as they are now, from a netlink socket opened for the purpose."""
    with AddressTracker.open() as tracker:
        return tracker.addresses()
