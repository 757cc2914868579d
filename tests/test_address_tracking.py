"""Local addresses are learned once and kept current: the netlink messages as data, the
address book that follows them, and a transport that picks up an address added or removed on
a veth interface while it runs."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import struct
import subprocess
import sys
import tempfile

import ifaddr
import pytest
from gathering_helpers import FAST_SCHEDULE, record_gathering
from network_namespaces import RoutedNamespaces

from icegather.main_proc.link.transport_client import TransportClient
from icegather.main_proc.link.transport_process import TransportProcess, made_runtime_parent
from icegather.shared import runtime_dirs
from icegather.shared.config.gather_options import GatherOptions
from icegather.transport_proc.addresses import choose_local_addresses, gathering_addresses, rfc8421_order
from icegather.transport_proc.interfaces import netlink
from icegather.transport_proc.interfaces.address_book import AddressBook
from icegather.transport_proc.interfaces.netlink import (
    AddressMessage,
    DumpDone,
    DumpInterrupted,
    NetlinkError,
    NetlinkParseError,
    parse_messages,
)
from icegather.transport_proc.interfaces.tracker import AddressTracker, interface_addresses

MULTI = netlink.NLM_F_MULTI
DEFAULTS = GatherOptions(schedule=FAST_SCHEDULE)  # no local addresses: the machine's


def message(kind: int, body: bytes, flags: int = 0, seq: int = 0) -> bytes:
    length = netlink.HEADER.size + len(body)
    return netlink.HEADER.pack(length, kind, flags, seq, 4242) + body + bytes(-length % 4)


def attribute(kind: int, value: bytes) -> bytes:
    length = netlink.RTATTR.size + len(value)
    return netlink.RTATTR.pack(length, kind) + value + bytes(-length % 4)


def address(text: str, index: int = 2, added: bool = True, flags: int = 0, seq: int = 0, multi: int = 0,
            peer: str | None = None) -> bytes:
    """RTM_NEWADDR or RTM_DELADDR as the kernel sends it: IPv4 with IFA_LOCAL (and IFA_ADDRESS,
    the peer's on a point-to-point link), IPv6 with IFA_ADDRESS alone; the flags in IFA_FLAGS."""
    ip = ipaddress.ip_address(text)
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    body = netlink.IFADDRMSG.pack(family, 24, flags & 0xFF, 0, index)
    if ip.version == 4:
        body += attribute(netlink.IFA_ADDRESS, ipaddress.ip_address(peer or text).packed)
        body += attribute(netlink.IFA_LOCAL, ip.packed)
    else:
        body += attribute(netlink.IFA_ADDRESS, ip.packed)
    body += attribute(netlink.IFA_FLAGS, struct.pack("=I", flags))
    return message(netlink.RTM_NEWADDR if added else netlink.RTM_DELADDR, body, multi, seq)


def done(seq: int, flags: int = MULTI) -> bytes:
    return message(netlink.NLMSG_DONE, struct.pack("=i", 0), flags, seq)


def error(seq: int, code: int) -> bytes:
    return message(netlink.NLMSG_ERROR, struct.pack("=i", -code) + bytes(16), 0, seq)


def ready_book(*listed: bytes) -> AddressBook:
    """A book whose first dump (request 1) listed ``listed``."""
    book = AddressBook()
    book.dump()
    assert book.receive(b"".join(listed) + done(1)) is None
    assert book.ready
    return book


# --- the messages -------------------------------------------------------------------------

def test_the_dump_request_asks_for_every_address_of_every_family():
    request = netlink.dump_request(7)
    length, kind, flags, seq, _ = netlink.HEADER.unpack_from(request)
    assert (length, kind, seq) == (len(request), netlink.RTM_GETADDR, 7)
    assert flags == netlink.NLM_F_REQUEST | netlink.NLM_F_DUMP
    assert netlink.IFADDRMSG.unpack_from(request, netlink.HEADER.size)[0] == socket.AF_UNSPEC


def test_a_datagram_parses_into_added_and_removed_addresses_in_order():
    data = (address("192.0.2.9", peer="198.51.100.1", index=3) + address("fd00::9", added=False)
            + address("2001:db8::1", flags=netlink.IFA_F_TENTATIVE, seq=5, multi=MULTI) + done(5))
    assert parse_messages(data) == [
        AddressMessage(True, 3, "192.0.2.9", 0),  # the local address, not the point-to-point peer
        AddressMessage(False, 2, "fd00::9", 0),
        AddressMessage(True, 2, "2001:db8::1", netlink.IFA_F_TENTATIVE, dump=5),
        DumpDone(5),
    ]


def test_a_notification_is_told_from_a_dump_by_nlm_f_multi_not_by_its_number():
    # The kernel numbers a notification after the request that made the change (ip addr add).
    [notification] = parse_messages(address("192.0.2.9", seq=1))
    assert notification.dump is None


def test_flags_beyond_the_low_eight_bits_come_from_ifa_flags():
    [parsed] = parse_messages(address("fd00::9", flags=0x100 | netlink.IFA_F_DEPRECATED))
    assert isinstance(parsed, AddressMessage) and parsed.flags == 0x100 | netlink.IFA_F_DEPRECATED


def test_other_families_other_messages_and_acknowledgements_are_skipped():
    packet = message(netlink.RTM_NEWADDR, netlink.IFADDRMSG.pack(socket.AF_PACKET, 0, 0, 0, 1))
    link = message(16, bytes(16))  # RTM_NEWLINK
    assert parse_messages(packet + link + error(3, 0)) == []


def test_errors_and_interrupted_dumps_are_data():
    interrupted = done(2, MULTI | netlink.NLM_F_DUMP_INTR)
    overrun = message(netlink.NLMSG_OVERRUN, b"")
    assert parse_messages(error(2, errno.EINVAL) + interrupted + overrun) == [
        NetlinkError(2, errno.EINVAL), DumpInterrupted(2), DumpDone(2), NetlinkError(0, 0),
    ]


@pytest.mark.parametrize("data", [
    address("192.0.2.9")[:-3],  # shorter than its header says
    netlink.HEADER.pack(8, netlink.RTM_NEWADDR, 0, 0, 0),  # shorter than a header
    address("192.0.2.9") + b"\x01\x02",  # trailing bytes
    message(netlink.RTM_NEWADDR, netlink.IFADDRMSG.pack(socket.AF_INET, 24, 0, 0, 2)),  # no address
    message(netlink.RTM_NEWADDR, netlink.IFADDRMSG.pack(socket.AF_INET6, 64, 0, 0, 2)
            + attribute(netlink.IFA_ADDRESS, bytes(4))),  # an IPv4-sized IPv6 address
    message(netlink.RTM_NEWADDR, netlink.IFADDRMSG.pack(socket.AF_INET, 24, 0, 0, 2)
            + netlink.RTATTR.pack(40, netlink.IFA_LOCAL) + bytes(4)),  # an attribute past the end
    message(netlink.RTM_NEWADDR, b"\x02"),  # no room for its ifaddrmsg
])
def test_bytes_the_kernel_would_not_send_are_refused(data):
    with pytest.raises(NetlinkParseError):
        parse_messages(data)


# --- the address book ---------------------------------------------------------------------

def test_the_first_dump_gives_the_usable_addresses_in_the_order_a_gathering_uses_them():
    book = ready_book(*(address(a, seq=1, multi=MULTI) for a in ("127.0.0.1", "192.0.2.2", "fe80::1", "fd00::2")))
    assert book.addresses == ("fd00::2", "192.0.2.2")
    assert book.addresses == rfc8421_order(choose_local_addresses(["127.0.0.1", "192.0.2.2", "fe80::1", "fd00::2"]))


def test_nothing_is_known_until_the_dump_ends():
    book = AddressBook()
    book.dump()
    assert book.receive(address("192.0.2.2", seq=1, multi=MULTI)) is None
    assert (book.ready, book.addresses) == (False, ())


def test_notifications_add_and_remove_addresses():
    book = ready_book(address("192.0.2.2", seq=1, multi=MULTI))
    book.receive(address("192.0.2.3", index=3) + address("fd00::3", index=3))
    assert book.addresses == ("fd00::3", "192.0.2.2", "192.0.2.3")
    book.receive(address("192.0.2.2", added=False))
    assert book.addresses == ("fd00::3", "192.0.2.3")


def test_the_same_address_on_two_interfaces_stays_until_both_have_lost_it():
    book = ready_book(address("192.0.2.2", index=2, seq=1, multi=MULTI), address("192.0.2.2", index=3, seq=1,
                                                                                  multi=MULTI))
    book.receive(address("192.0.2.2", index=2, added=False))
    assert book.addresses == ("192.0.2.2",)


@pytest.mark.parametrize("flag", [netlink.IFA_F_TENTATIVE, netlink.IFA_F_DADFAILED, netlink.IFA_F_DEPRECATED])
def test_an_address_that_cannot_or_should_not_be_bound_is_left_out_until_it_can(flag):
    book = ready_book(address("192.0.2.2", seq=1, multi=MULTI))
    book.receive(address("fd00::9", flags=flag))
    assert book.addresses == ("192.0.2.2",)
    book.receive(address("fd00::9", flags=0x80))  # IFA_F_PERMANENT: duplicate address detection passed
    assert book.addresses == ("fd00::9", "192.0.2.2")


def test_loopback_is_used_only_when_the_last_other_address_goes():
    book = ready_book(address("127.0.0.1", index=1, seq=1, multi=MULTI), address("192.0.2.2", seq=1, multi=MULTI))
    book.receive(address("192.0.2.2", added=False))
    assert book.addresses == ("127.0.0.1",)


def test_a_change_during_a_dump_is_not_undone_when_the_dump_ends():
    book = ready_book(address("192.0.2.2", seq=1, multi=MULTI))
    book.lost()  # request 2
    book.receive(address("192.0.2.2", seq=2, multi=MULTI))
    book.receive(address("192.0.2.7"))  # a notification while dump 2 runs
    assert book.receive(done(2)) is None
    assert book.addresses == ("192.0.2.2", "192.0.2.7")


def test_a_dump_after_lost_notifications_replaces_what_was_known():
    book = ready_book(address("192.0.2.2", seq=1, multi=MULTI), address("192.0.2.3", seq=1, multi=MULTI))
    request = book.lost()
    assert netlink.HEADER.unpack_from(request)[3] == 2
    book.receive(address("192.0.2.3", seq=2, multi=MULTI) + done(2))
    assert book.addresses == ("192.0.2.3",)


def test_an_interrupted_dump_or_an_overrun_asks_for_a_new_dump():
    book = AddressBook()
    book.dump()
    again = book.receive(address("192.0.2.2", seq=1, multi=MULTI | netlink.NLM_F_DUMP_INTR) + done(1))
    assert again is not None and netlink.HEADER.unpack_from(again)[1:4:2] == (netlink.RTM_GETADDR, 2)
    assert not book.ready
    assert book.receive(address("192.0.2.9", seq=1, multi=MULTI) + done(1)) is None  # the old dump: ignored
    book.receive(address("192.0.2.2", seq=2, multi=MULTI) + done(2))
    assert (book.ready, book.addresses) == (True, ("192.0.2.2",))
    assert book.receive(message(netlink.NLMSG_OVERRUN, b"")) is not None


def test_a_refused_dump_is_an_os_error_naming_the_errno():
    book = AddressBook()
    book.dump()
    with pytest.raises(OSError, match="EPERM") as refused:
        book.receive(error(1, errno.EPERM))
    assert refused.value.errno == errno.EPERM


# --- the kernel ---------------------------------------------------------------------------

def test_the_kernel_gives_the_addresses_getifaddrs_does():
    # ifaddr (getifaddrs) is what the transport used before: here only, as the reference.
    listed = [ip.ip[0] if isinstance(ip.ip, tuple) else ip.ip
              for adapter in ifaddr.get_adapters() for ip in adapter.ips]
    assert interface_addresses() == rfc8421_order(choose_local_addresses(listed))
    assert gathering_addresses((), interface_addresses) == interface_addresses()


@pytest.mark.parametrize(("sender", "read"), [((0, 0), True), ((0, netlink.RTMGRP_IPV4_IFADDR), True),
                                             ((4242, 0), False), ((-1, netlink.RTMGRP_IPV6_IFADDR), False)])
def test_only_what_the_kernel_sends_is_read_its_port_id_is_0(sender, read):
    assert netlink.from_kernel(sender) is read


def test_an_address_message_another_process_sends_to_the_tracker_is_dropped(caplog):
    """A process with CAP_NET_ADMIN can send to any netlink socket: a made-up address would be
    gathered from, were the sender not checked."""
    with AddressTracker.open() as tracker, \
            socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as forger:
        before = tracker.addresses()
        try:
            for _ in range(2):
                forger.sendto(address("198.51.100.7", index=1), (tracker._sock.getsockname()[0], 0))
        except PermissionError:
            pytest.skip("sending to another netlink socket needs CAP_NET_ADMIN")

        assert (tracker.addresses(), tracker.dropped) == (before, 2)
        forger_port = forger.getsockname()[0]
    assert "198.51.100.7" not in before
    assert [record.getMessage() for record in caplog.records] == [
        f"dropped a netlink message from port {forger_port}: only the kernel's are read"]


def test_configured_addresses_are_used_without_asking_the_machine():
    def machine() -> tuple[str, ...]:
        raise AssertionError("asked")

    assert gathering_addresses(("192.0.2.7", "fd00::7"), machine) == ("fd00::7", "192.0.2.7")


def test_an_address_added_or_removed_while_the_transport_runs_is_used_by_the_next_gathering(routed: RoutedNamespaces):
    def change(action: str, prefix: str, *extra: str, check: bool = True) -> None:
        subprocess.run(["ip", "-n", routed.client, "addr", action, prefix, "dev", routed.client_device, *extra],
                       check=check, capture_output=True, timeout=30)

    async def host_addresses(transport: TransportClient) -> set[str]:
        recording = await record_gathering({"iceServers": []}, DEFAULTS, transport=transport)
        return {candidate.address for candidate in recording.of_type("host")}

    async def scenario() -> list[set[str]]:
        runtime_dir = tempfile.mkdtemp(prefix=runtime_dirs.PREFIX, dir=made_runtime_parent())  # as the CLI's
        command = routed.command(sys.executable, "-I", "-m", "icegather.transport_proc", "--bind",
                                 f"ipc://{runtime_dir}/transport", "--watch-stdin", "--remove-runtime-dir")
        # Its output goes to pipes, as a confined transport's must (pytest's capture is a file).
        popen = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            transport = await TransportClient.start(process=TransportProcess(popen, runtime_dir))
            try:
                seen = [await host_addresses(transport)]
                change("add", "10.77.9.2/24")
                change("add", "fd77::2/64", "nodad")  # usable at once: no duplicate address detection
                seen.append(await host_addresses(transport))
                change("del", "10.77.9.2/24")
                seen.append(await host_addresses(transport))
            finally:
                await transport.aclose()
        finally:
            assert popen.stderr is not None
            print(popen.stderr.read().decode())  # shown if the test fails
            popen.stderr.close()
        return seen

    try:
        seen = asyncio.run(scenario())
    finally:
        change("del", "10.77.9.2/24", check=False)
        change("del", "fd77::2/64", check=False)
    assert seen == [{"10.77.0.2"}, {"10.77.0.2", "10.77.9.2", "fd77::2"}, {"10.77.0.2", "fd77::2"}]

