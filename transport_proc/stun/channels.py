"""Sockets that carry STUN messages, and route what arrives to the transaction waiting for it.

A *channel* is one local socket. Transactions register their transaction ID with it; the
channel hands every STUN message with that ID, coming from the server the transaction talks
to, to the transaction's callback, and fails the transaction when the socket learns that the
server cannot be reached:

* ``UdpChannel``: one UDP socket may serve many servers (a host candidate's socket serves
  every STUN server). ``IP_RECVERR`` makes Linux queue the ICMP errors that come back, with
  the destination that caused them and what the ICMP message said (``icmp``), so a "port
  unreachable" or a router's "host unreachable" is attributed to the right server within a
  round trip instead of after the whole retransmission schedule. A send the kernel refuses
  (no route, not permitted) fails that server at once: nothing went out, so nothing is waited for.
* ``StreamChannel``: one TCP (or TLS) connection to one server. STUN messages are framed by
  their own length field (RFC 8489 section 6.2.2), ChannelData by theirs, padded to four bytes
  (RFC 8656 section 12.5); nothing is retransmitted.

Data a TURN server relays from a peer (Data indications and ChannelData) goes to ``on_relayed``
when someone listens for it (the relay check), with the address it came from.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import socket
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from aioice import stun

from icegather.shared.config.gather_options import RetransmissionSchedule
from icegather.shared.config.ice_url import IceUrl
from icegather.shared.net.endpoints import Address, is_ipv6
from icegather.transport_proc.stun import failures, icmp
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.stun.parser import ServerMessage, parse_stun
from icegather.transport_proc.stun.readable_sockets import readable_sockets
from icegather.transport_proc.stun.tls_contexts import tls_context

# A STUN message over a stream is at most this long; longer means the peer is not speaking STUN.
MAX_STREAM_MESSAGE = 64 * 1024
STUN_HEADER = 20
CHANNEL_DATA_HEADER = 4
CHANNEL_DATA_BITS = 0x40
DATA_INDICATION_TYPE = b"\x00\x17"


@dataclass
class Waiter:
    server: Address
    on_message: Callable[[ServerMessage], None]
    on_failure: Callable[[AttemptFailed], None]
    # An answer from this waiter's server that names no transaction waiting on the channel.
    on_stray: Callable[[], None] = lambda: None
    # Where else its answer may come from (RFC 5780's CHANGE-REQUEST).
    answer_from: tuple[Address, ...] = ()


# Transaction IDs a channel remembers after their transactions end: late answers to them (to a
# retransmission) are expected, not strays.
REMEMBERED_TRANSACTIONS = 16


class Channel:
    """What transactions need from a socket; subclasses own the socket."""

    reliable = False
    transport_name = "udp"

    def __init__(self) -> None:
        self.waiters: dict[bytes, Waiter] = {}
        self._ended: collections.deque[bytes] = collections.deque(maxlen=REMEMBERED_TRANSACTIONS)
        self.local_address: Address = ("", 0)
        # Set once the whole channel is unusable (a connection lost): later transactions on it
        # fail at once instead of waiting out their schedule.
        self.broken: Callable[[Address], AttemptFailed] | None = None
        # Who takes relayed data (a Data indication or ChannelData) and its source; if nobody,
        # it is dropped.
        self.on_relayed: Callable[[bytes, Address], None] | None = None

    def register(self, transaction_id: bytes, waiter: Waiter) -> None:
        if self.broken is not None:
            waiter.on_failure(self.broken(waiter.server))
            return
        self.waiters[transaction_id] = waiter

    def unregister(self, transaction_id: bytes) -> None:
        if self.waiters.pop(transaction_id, None) is not None:
            self._ended.append(transaction_id)

    def send(self, data: bytes, server: Address) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def read_queued(self) -> None:
        """Deliver now what the kernel already holds for this socket, rather than a datagram a
        turn of the loop: a deadline that passes while a busy loop has not read them yet must
        not count them late. Over a stream, asyncio has read whole buffers at its last turn; what
        came after that waits for its next (its transport has no read to call here)."""

    def deliver(self, data: bytes, source: Address) -> None:
        """Route one received datagram or framed message to its transaction, if any."""
        if self.on_relayed is not None and is_relayed_data(data):
            self.on_relayed(data, source)
            return
        try:
            message = parse_stun(data)
        except ValueError:
            return  # Not STUN, or malformed: nothing a transaction could use.
        if message.message_class not in (stun.Class.RESPONSE, stun.Class.ERROR):
            return
        waiter = self.waiters.get(message.transaction_id)
        if waiter is not None:
            if same_address(waiter.server, source) or (
                waiter.answer_from and any(same_address(a, source) for a in waiter.answer_from)
            ):
                message.source = (source[0], source[1])
                waiter.on_message(message)
        elif message.transaction_id not in self._ended:
            # RFC 8489 section 6.3.1: discarded. The transactions waiting on that server hear of
            # it, so that a server answering with made-up IDs is not taken for a silent one.
            for other in list(self.waiters.values()):
                if same_address(other.server, source):
                    other.on_stray()

    def fail_all(self, failure: Callable[[Address], AttemptFailed], server: Address | None = None) -> None:
        """Fail every transaction to ``server``; when None, the channel is broken for good."""
        if server is None and self.broken is None:
            self.broken = failure
        for waiter in list(self.waiters.values()):
            if server is None or same_address(waiter.server, server):
                waiter.on_failure(failure(waiter.server))


def is_relayed_data(data: bytes) -> bool:
    """ChannelData (its first two bits are 01: RFC 8656 section 12.4) or a Data indication."""
    return len(data) >= 4 and (data[0] & 0xC0 == CHANNEL_DATA_BITS or data[:2] == DATA_INDICATION_TYPE)


def same_address(a: Address, b: Address) -> bool:
    return a[0] == b[0] and a[1] == b[1]


def bind_socket(local_ip: str, kind: socket.SocketKind) -> socket.socket:
    """A non-blocking socket bound to ``local_ip`` on a port the kernel picks."""
    family = socket.AF_INET6 if is_ipv6(local_ip) else socket.AF_INET
    try:
        # Non-blocking from the start: one system call fewer than ``setblocking`` after it.
        sock = socket.socket(family, kind | socket.SOCK_NONBLOCK)
    except OSError as exc:
        raise failures.socket_failed(local_ip, exc) from None
    try:
        sock.bind((local_ip, 0))
    except OSError as exc:
        sock.close()
        raise failures.socket_failed(local_ip, exc) from None
    return sock


U = TypeVar("U", bound="UdpChannel")

# The largest datagram read: a STUN message or relayed data never comes near it.
MAX_DATAGRAM = 65535
# The most datagrams ``read_queued`` takes at once.
MAX_QUEUED_READS = 256


class UdpChannel(Channel):
    """An unconnected UDP socket bound to one local address, read by the event loop directly.

    Not an asyncio datagram transport: making one, and closing it, costs about three times
    what the socket's own system calls cost, and a gathering opens and closes a few sockets
    for a handful of datagrams each. Nor is it the loop's reader: ``readable_sockets`` watches
    it, for the same reason. What the transport would add, it does here: a send the
    kernel cannot take now (a full send buffer) waits in ``_backlog`` for the socket to be
    writable, so an overloaded machine delays datagrams rather than dropping them. Closing
    drops what still waits: whoever closes is done with the socket's server."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.local_address = sock.getsockname()[:2]
        self._loop = asyncio.get_running_loop()
        self._readable = readable_sockets(self._loop)
        self._backlog: collections.deque[tuple[bytes, Address]] = collections.deque()
        self._writing = False  # waiting for the socket to take the backlog
        self._closed = False

    @classmethod
    def open(cls: type[U], local_ip: str) -> U:
        """Bind a UDP socket on ``local_ip`` (any port). Raises ``AttemptFailed`` (701)."""
        sock = bind_socket(local_ip, socket.SOCK_DGRAM)
        try:
            if sock.family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, icmp.IPV6_RECVERR, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, icmp.IP_RECVERR, 1)
            channel = cls(sock)
            # At once, with nothing awaited since ``cls`` took the loop's watcher: it stays the
            # watcher while a socket of it is watched.
            channel._readable.watch(sock.fileno(), channel._read_one)
        except OSError as exc:
            sock.close()
            raise failures.socket_failed(local_ip, exc) from None
        except BaseException:
            sock.close()
            raise
        return channel

    def read_queued(self) -> None:
        # Up to a bound: a sender fast enough to keep the queue full must not hold the loop.
        for _ in range(MAX_QUEUED_READS):
            if self._closed or not self._read_one():
                return

    def _read_one(self) -> bool:
        """Read and deliver one datagram, or take the ICMP errors queued; False when the kernel
        held nothing. The loop calls it once a wake-up, as asyncio reads: it wakes again while
        more wait."""
        try:
            data, source = self.sock.recvfrom(MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:  # with IP_RECVERR, an ICMP error the kernel queued
            return self._take_queued_errors()
        self.deliver(data, source[:2])
        return True

    def _take_queued_errors(self) -> bool:
        """Fail the servers that queued ICMP errors name; whether there were any."""
        queued = self._drain_error_queue()
        for error, destination in queued:
            self.fail_all(functools.partial(icmp.failure, error), destination)
        return bool(queued)

    def _drain_error_queue(self) -> list[tuple[icmp.ExtendedError, Address]]:
        """Every queued error with the destination of the datagram that caused it."""
        errors: list[tuple[icmp.ExtendedError, Address]] = []
        while True:
            try:
                _, ancillary, _, destination = self.sock.recvmsg(1, 512, socket.MSG_ERRQUEUE)
            except OSError:  # the queue is empty (EAGAIN), or the socket is gone
                return errors
            for level, kind, data in ancillary:
                error = icmp.parse_extended_error(level, kind, data)
                if error is not None and destination:
                    errors.append((error, destination[:2]))

    def send(self, data: bytes, server: Address) -> None:
        if self._closed:
            return
        if self._backlog or not self._send_now(data, server):
            if not self._writing:
                self._writing = True
                self._loop.add_writer(self.sock.fileno(), self._write_ready)
            self._backlog.append((data, server))

    def _send_now(self, data: bytes, server: Address) -> bool:
        """Send one datagram; False if the kernel cannot take it yet (the send buffer is full).
        A send it refuses fails that server at once: nothing went out, so nothing is waited for."""
        # An ICMP error still pending for an earlier datagram (to any server) makes the kernel
        # refuse the next send, whatever its destination, and drop it: then send once more.
        for _ in range(2):
            if self._closed:  # by a callback that heard of the failure: nothing more to send
                return True
            try:
                self.sock.sendto(data, server)
                return True
            except (BlockingIOError, InterruptedError):
                return False
            except OSError as error:
                if not self._take_queued_errors():
                    self.fail_all(functools.partial(failures.send_failed, error=error), server)
                    return True
        return True

    def _write_ready(self) -> None:
        while self._backlog:
            data, server = self._backlog.popleft()
            if not self._send_now(data, server):
                self._backlog.appendleft((data, server))
                return
        self._stop_writing()

    def _stop_writing(self) -> None:
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self.sock.fileno())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._readable.forget(self.sock.fileno())  # before the close frees the number
        self._stop_writing()
        self._backlog.clear()
        self.sock.close()


def stream_frame_length(buffer: bytes, channel_data: bool) -> int | None:
    """How many bytes the message at the start of a stream takes: a STUN message (header and
    attributes) or, when ``channel_data`` may come (a relay check listens), ChannelData (header,
    data and padding to four bytes); None if it is neither. Without a channel, a first byte
    of 0x40-0x4F is not STUN (it is "H", as in "HTTP")."""
    length: int = struct.unpack_from("!H", buffer, 2)[0]
    if channel_data and buffer[0] & 0xC0 == CHANNEL_DATA_BITS:
        return CHANNEL_DATA_HEADER + length + (-length % 4)
    if buffer[0] & 0xC0 or STUN_HEADER + length > MAX_STREAM_MESSAGE:
        return None
    return STUN_HEADER + length


class StreamChannel(Channel, asyncio.Protocol):
    """A TCP or TLS connection to one server."""

    reliable = True

    def __init__(self, server: Address, local_address: Address, transport_name: str) -> None:
        super().__init__()
        self.server = server
        self.local_address = local_address
        self.transport_name = transport_name
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    @classmethod
    async def connect(
        cls,
        sock: socket.socket,
        server: Address,
        timeout: float,
        tls: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> StreamChannel:
        """Connect a bound stream socket to ``server``; raise ``AttemptFailed`` (701) on failure.

        The caller binds the socket first, so that a refused connection can still be reported
        with the local address and port that tried it. On failure the socket is closed.
        """
        loop = asyncio.get_running_loop()
        channel = cls(server, sock.getsockname()[:2], "tls" if tls else "tcp")
        # Small messages go out at once. asyncio sets this only on sockets made with proto
        # IPPROTO_TCP; without it, a request after relayed data waits 40 ms for a delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            try:
                await asyncio.wait_for(loop.sock_connect(sock, server), timeout)
            except asyncio.TimeoutError:
                raise failures.connect_timeout(server, timeout) from None
            except ConnectionRefusedError:
                raise failures.connection_refused(server) from None
            except OSError as exc:
                raise failures.connection_lost(server, exc) from None
            try:
                await asyncio.wait_for(
                    loop.create_connection(
                        lambda: channel,
                        sock=sock,
                        ssl=tls,
                        server_hostname=server_hostname if tls else None,
                    ),
                    timeout,
                )
            except asyncio.TimeoutError:
                raise failures.tls_timeout(server, timeout) from None
            except ssl.SSLError as exc:
                raise failures.tls_failed(server, exc) from None
            except OSError as exc:
                raise failures.connection_lost(server, exc) from None
        except AttemptFailed as failure:
            failure.local_address = channel.local_address
            sock.close()
            raise
        except BaseException:
            sock.close()
            raise
        return channel

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= CHANNEL_DATA_HEADER:
            total = stream_frame_length(self.buffer, channel_data=self.on_relayed is not None)
            if total is None:
                # Neither STUN nor ChannelData: the stream cannot be resynchronised.
                self.fail_all(lambda server: failures.malformed_response(server, "not a STUN stream"))
                self.close()
                return
            if len(self.buffer) < total:
                return
            message, self.buffer = self.buffer[:total], self.buffer[total:]
            self.deliver(message, self.server)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail_all(lambda server: failures.connection_lost(server, exc))

    def send(self, data: bytes, server: Address) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is None:
            return
        if self.transport_name == "tls":
            # asyncio's TLS close waits for the server's close_notify, up to 30 s, holding the
            # socket: a server that never sends one would keep our open files. Nothing is owed
            # to it once we close: its transactions are over.
            self.transport.abort()
        else:
            self.transport.close()


async def open_channel(
    url: IceUrl, local_ip: str, server: Address, schedule: RetransmissionSchedule, verify_tls: bool
) -> Channel:
    """A new socket from ``local_ip`` to the server of ``url``, over its transport: UDP, TCP, or
    TLS (verified unless ``verify_tls`` is False). Raises ``AttemptFailed``."""
    if url.transport == "udp":
        return UdpChannel.open(local_ip)
    return await StreamChannel.connect(
        bind_socket(local_ip, socket.SOCK_STREAM),
        server,
        schedule.give_up_after,
        tls=tls_context(verify_tls) if url.uses_tls else None,
        server_hostname=url.host,
    )
