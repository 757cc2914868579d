"""What an ICMP error says, from the ``sock_extended_err`` that Linux queues with ``IP_RECVERR``.

Sans-IO: ``parse_extended_error`` reads one control message of ``recvmsg(..., MSG_ERRQUEUE)``
and ``failure`` turns it into the attempt's failure, with a cause per kind of ICMP error (see
``ip(7)``, RFC 792 and RFC 4443 for the types and codes). A "port unreachable" means nothing
listens; a "host unreachable", "network unreachable" or "administratively prohibited" comes
from a router or firewall on the way, and says so; reading them all as "port unreachable"
would send the user to the wrong place.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from dataclasses import dataclass

from icegather.shared.net.endpoints import endpoint
from icegather.shared.vocabulary.failure_causes import FailureCause
from icegather.transport_proc.stun import failures
from icegather.transport_proc.stun.failures import AttemptFailed

# Control messages that carry a sock_extended_err (<linux/in.h>, <linux/in6.h>).
IP_RECVERR = 11
IPV6_RECVERR = 25
RECVERR_MESSAGES = {(socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR)}
# Where the error came from (<linux/errqueue.h>).
ORIGIN_LOCAL, ORIGIN_ICMP, ORIGIN_ICMP6 = 1, 2, 3
# struct sock_extended_err: errno, origin, type, code, pad, info, data; the offender follows.
EXTENDED_ERROR = struct.Struct("=IBBBBII")

# (type, code) -> cause; a code of None stands for every code of that type.
ICMP_CAUSES: dict[tuple[int, int | None], FailureCause] = {
    (3, 0): "network_unreachable",
    (3, 1): "host_unreachable",
    (3, 3): "port_unreachable",
    (3, 4): "fragmentation_needed",
    (3, 6): "network_unreachable",  # destination network unknown
    (3, 7): "host_unreachable",  # destination host unknown
    (3, 9): "prohibited",  # network administratively prohibited
    (3, 10): "prohibited",  # host administratively prohibited
    (3, 11): "network_unreachable",  # for this type of service
    (3, 12): "host_unreachable",  # for this type of service
    (3, 13): "prohibited",  # communication administratively prohibited
}
ICMP6_CAUSES: dict[tuple[int, int | None], FailureCause] = {
    (1, 0): "network_unreachable",  # no route to destination
    (1, 1): "prohibited",
    (1, 2): "network_unreachable",  # beyond the scope of the source address
    (1, 3): "host_unreachable",  # address unreachable
    (1, 4): "port_unreachable",
    (1, 5): "prohibited",  # source address failed ingress/egress policy
    (1, 6): "prohibited",  # reject route to destination
    (2, None): "fragmentation_needed",  # packet too big
}


@dataclass(frozen=True)
class ExtendedError:
    """One queued socket error: the errno the kernel gives it, where it came from, the ICMP
    type and code, ``info`` (the next-hop MTU for "packet too big") and the address of the
    host that sent the ICMP message, if known."""

    errno: int
    origin: int
    type: int
    code: int
    info: int
    offender: str | None


def parse_extended_error(level: int, kind: int, data: bytes) -> ExtendedError | None:
    """The ``sock_extended_err`` in one control message, or None if it holds none."""
    if (level, kind) not in RECVERR_MESSAGES or len(data) < EXTENDED_ERROR.size:
        return None
    errno, origin, icmp_type, code, _, info, _ = EXTENDED_ERROR.unpack_from(data)
    return ExtendedError(errno, origin, icmp_type, code, info, _offender(data[EXTENDED_ERROR.size :]))


def _offender(sockaddr: bytes) -> str | None:
    if len(sockaddr) < 2:
        return None
    (family,) = struct.unpack_from("=H", sockaddr)
    if family == socket.AF_INET and len(sockaddr) >= 8:
        return str(ipaddress.IPv4Address(sockaddr[4:8]))
    if family == socket.AF_INET6 and len(sockaddr) >= 24:
        return str(ipaddress.IPv6Address(sockaddr[8:24]))
    return None


def cause_of(error: ExtendedError) -> FailureCause:
    if error.origin == ORIGIN_ICMP:
        table = ICMP_CAUSES
    elif error.origin == ORIGIN_ICMP6:
        table = ICMP6_CAUSES
    else:  # the local stack refused (say, EMSGSIZE): nothing went out
        return "send_failed"
    return table.get((error.type, error.code)) or table.get((error.type, None)) or "icmp_other"


def failure(error: ExtendedError, server: tuple[str, int]) -> AttemptFailed:
    """The failure of an attempt on ``server`` that this error reports."""
    cause = cause_of(error)
    target = endpoint(server)
    sender = f"ICMP from {error.offender}" if error.offender else "ICMP"
    texts: dict[FailureCause, str] = {
        "port_unreachable": f"port unreachable: ICMP says nothing listens on UDP {target}",
        "host_unreachable": f"host unreachable: {sender} says {server[0]} cannot be reached",
        "network_unreachable": f"network unreachable: {sender} says there is no route to {server[0]}",
        "prohibited": f"administratively prohibited: {sender} says a firewall rejects UDP to {target}",
        "fragmentation_needed": f"packet too big: {sender} says the path to {target} takes at most {error.info} bytes",
        "send_failed": f"cannot send to {target}: {os.strerror(error.errno)}",
    }
    other = f"ICMP error (type {error.type} code {error.code}) for UDP to {target}"
    text = texts.get(cause, other + (f" from {error.offender}" if error.offender else ""))
    return failures.unreachable(cause, text)
