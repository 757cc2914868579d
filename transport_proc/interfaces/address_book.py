"""The machine's interface addresses as the kernel's messages say they are, sans-IO: a dump
lists them all, then notifications add and remove them. The socket is the tracker's
(``interfaces.tracker``); this only takes bytes and says what to send."""

from __future__ import annotations

import errno as errnos

from icegather.transport_proc.addresses import choose_local_addresses, rfc8421_order
from icegather.transport_proc.interfaces.netlink import (
    UNUSABLE_FLAGS,
    AddressMessage,
    DumpDone,
    DumpInterrupted,
    NetlinkError,
    dump_request,
    parse_messages,
)

# An interface address: the index of its interface, and the address.
Key = tuple[int, str]


class AddressBook:
    """What a NETLINK_ROUTE socket subscribed to address changes has heard. Start with
    ``dump()``; ``ready`` once its dump has ended, ``addresses`` then lists the usable ones in
    the order a gathering uses them."""

    def __init__(self) -> None:
        self.ready = False
        self.addresses: tuple[str, ...] = ()
        self._known: dict[Key, int] = {}  # its flags
        self._dumped: dict[Key, int] | None = None  # what the dump under way listed so far
        self._dump_seq = 0
        self._interrupted = False

    def dump(self) -> bytes:
        """The request for a dump of every address, which replaces what is known when it ends:
        at the start, and whenever notifications were lost."""
        self._dump_seq += 1
        self._dumped, self._interrupted = {}, False
        return dump_request(self._dump_seq)

    def lost(self) -> bytes:
        """The socket dropped notifications (ENOBUFS): what is known may be wrong."""
        return self.dump()

    def receive(self, data: bytes) -> bytes | None:
        """Take one datagram from the socket; returns a request to send, if one is needed (a
        new dump, when the last was interrupted or messages were lost). Raises ``OSError`` if
        the kernel refused the dump, ``NetlinkParseError`` for bytes it would not send."""
        again = False
        for message in parse_messages(data):
            if isinstance(message, AddressMessage):
                self._take(message)
            elif isinstance(message, DumpInterrupted):
                self._interrupted = self._interrupted or message.seq == self._dump_seq
            elif isinstance(message, DumpDone) and message.seq == self._dump_seq and self._dumped is not None:
                if self._interrupted:
                    again = True
                else:
                    self._known, self._dumped = self._dumped, None
                    self.ready = True
            elif isinstance(message, NetlinkError):
                if message.errno == 0:  # NLMSG_OVERRUN
                    again = True
                elif message.seq == self._dump_seq:
                    raise OSError(message.errno, f"the kernel refused a dump of the interface addresses: "
                                                 f"{errnos.errorcode.get(message.errno, message.errno)}")
        if not again:
            self._settle()
            return None
        return self.dump()

    def _take(self, message: AddressMessage) -> None:
        if message.dump is None:  # a change: true now, and for the dump under way too
            targets = [self._known] if self._dumped is None else [self._known, self._dumped]
        elif message.dump == self._dump_seq and self._dumped is not None:
            targets = [self._dumped]
        else:
            return  # from a dump given up
        key = (message.index, message.address)
        for table in targets:
            if message.added:
                table[key] = message.flags
            else:
                table.pop(key, None)

    def _settle(self) -> None:
        """Work out the usable addresses once per change, not once per gathering."""
        usable = [address for (_, address), flags in self._known.items() if not flags & UNUSABLE_FLAGS]
        self.addresses = rfc8421_order(choose_local_addresses(usable))
