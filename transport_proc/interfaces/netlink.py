"""rtnetlink's address messages, sans-IO: the request for a dump of every interface address,
and what the kernel sends on a NETLINK_ROUTE socket (RTM_NEWADDR, RTM_DELADDR, the end of a
dump, errors) parsed into data. Layouts from ``linux/netlink.h``, ``linux/rtnetlink.h`` and
``linux/if_addr.h``."""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass

# struct nlmsghdr: length, type, flags, sequence number, port id.
HEADER = struct.Struct("=IHHII")
# struct ifaddrmsg: family, prefix length, flags, scope, interface index.
IFADDRMSG = struct.Struct("=BBBBI")
# struct rtattr: length, type.
RTATTR = struct.Struct("=HH")
U32 = struct.Struct("=I")

NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 2, 3, 4
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_DUMP, NLM_F_DUMP_INTR = 0x1, 0x2, 0x300, 0x10
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
IFA_F_DADFAILED, IFA_F_DEPRECATED, IFA_F_TENTATIVE = 0x08, 0x20, 0x40
# The multicast groups of address changes, as a bind() mask.
RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR = 0x10, 0x100
ADDRESS_GROUPS = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR

# An address a socket cannot bind yet (duplicate address detection runs), never will (it
# failed), or should no longer start anything new with (RFC 4862 5.5.4): not gathered from,
# as browsers do not.
UNUSABLE_FLAGS = IFA_F_TENTATIVE | IFA_F_DADFAILED | IFA_F_DEPRECATED
IP_LENGTHS = {socket.AF_INET: 4, socket.AF_INET6: 16}


# The port id (nl_pid) of what the kernel sends, as recvfrom gives the sender.
KERNEL_PORT = 0


def from_kernel(sender: tuple[int, int]) -> bool:
    """Whether a datagram whose sender is ``sender`` (recvfrom's address: port id, groups) came
    from the kernel. A process with CAP_NET_ADMIN can send to any netlink socket, an address
    message as well as any; its port id is never 0."""
    return sender[0] == KERNEL_PORT


class NetlinkParseError(ValueError):
    """Bytes that are not what the kernel sends."""


@dataclass(frozen=True)
class AddressMessage:
    """An interface address the kernel added (or changed) or removed, on the interface of that
    index, with its IFA_F_* flags. ``dump`` is the number of the request whose dump lists it,
    or None for a notification of a change."""

    added: bool
    index: int
    address: str
    flags: int
    dump: int | None = None


@dataclass(frozen=True)
class DumpDone:
    """The end of the dump that request ``seq`` asked for."""

    seq: int


@dataclass(frozen=True)
class DumpInterrupted:
    """The addresses changed while the dump of request ``seq`` ran, so it may be inconsistent
    (NLM_F_DUMP_INTR, on the first of its messages after the change)."""

    seq: int


@dataclass(frozen=True)
class NetlinkError:
    """The kernel refused request ``seq`` (``errno``), or (``NLMSG_OVERRUN``) lost messages."""

    seq: int
    errno: int


NetlinkMessage = AddressMessage | DumpDone | DumpInterrupted | NetlinkError


def dump_request(seq: int) -> bytes:
    """RTM_GETADDR for every address of every family."""
    body = IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    return HEADER.pack(HEADER.size + len(body), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def parse_messages(data: bytes) -> list[NetlinkMessage]:
    """Every message of one datagram that concerns addresses, in order; others are skipped."""
    messages: list[NetlinkMessage] = []
    offset = 0
    while offset + HEADER.size <= len(data):
        length, kind, flags, seq, _ = HEADER.unpack_from(data, offset)
        if length < HEADER.size or offset + length > len(data):
            raise NetlinkParseError(f"a netlink message of {length} bytes at offset {offset} of {len(data)}")
        body = data[offset + HEADER.size:offset + length]
        if flags & NLM_F_DUMP_INTR:
            messages.append(DumpInterrupted(seq))
        if kind in (RTM_NEWADDR, RTM_DELADDR):
            # A notification carries the number of the request that made the change, if any:
            # only NLM_F_MULTI tells a dump's message from it.
            message = _address_message(kind == RTM_NEWADDR, body, seq if flags & NLM_F_MULTI else None)
            if message is not None:
                messages.append(message)
        elif kind == NLMSG_DONE:
            messages.append(DumpDone(seq))
        elif kind == NLMSG_ERROR:
            errno = -struct.unpack_from("=i", body)[0] if len(body) >= 4 else 0
            if errno:  # 0 is an acknowledgement
                messages.append(NetlinkError(seq, errno))
        elif kind == NLMSG_OVERRUN:
            messages.append(NetlinkError(seq, 0))
        offset += _aligned(length)
    if offset < len(data):
        raise NetlinkParseError(f"{len(data) - offset} bytes after the last netlink message")
    return messages


def _address_message(added: bool, body: bytes, dump: int | None) -> AddressMessage | None:
    """One RTM_NEWADDR or RTM_DELADDR; None for a family other than IPv4 and IPv6."""
    if len(body) < IFADDRMSG.size:
        raise NetlinkParseError(f"an address message of {len(body)} bytes")
    family, _, flags, _, index = IFADDRMSG.unpack_from(body)
    if family not in IP_LENGTHS:
        return None
    attributes = _attributes(body[IFADDRMSG.size:])
    if IFA_FLAGS in attributes and len(attributes[IFA_FLAGS]) == U32.size:
        flags = U32.unpack(attributes[IFA_FLAGS])[0]  # all 32 bits; ifa_flags has the low 8
    # IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on a point-to-point
    # link, and the address itself everywhere else (IPv6 sends only IFA_ADDRESS).
    raw = attributes.get(IFA_LOCAL, attributes.get(IFA_ADDRESS))
    if raw is None or len(raw) != IP_LENGTHS[family]:
        raise NetlinkParseError(f"an address message with no {IP_LENGTHS[family]}-byte address")
    return AddressMessage(added, index, str(ipaddress.ip_address(raw)), flags, dump)


def _attributes(data: bytes) -> dict[int, bytes]:
    found = {}
    offset = 0
    while offset + RTATTR.size <= len(data):
        length, kind = RTATTR.unpack_from(data, offset)
        if length < RTATTR.size or offset + length > len(data):
            raise NetlinkParseError(f"an attribute of {length} bytes at offset {offset} of {len(data)}")
        found[kind] = data[offset + RTATTR.size:offset + length]
        offset += _aligned(length)
    return found


def _aligned(length: int) -> int:
    """Netlink messages and attributes start on 4-byte boundaries (NLMSG_ALIGN, RTA_ALIGN)."""
    return (length + 3) & ~3
