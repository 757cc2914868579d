"""Both processes, a real coturn, real sockets: what a user's listeners receive."""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from gathering_helpers import FAST_SCHEDULE, LOOPBACK, gather, record_gathering

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.transport_client import TransportClient


def test_correct_turn_credentials_over_udp_give_a_relay_candidate_and_no_error(coturn):
    recording = gather({"iceServers": [coturn.ice_server("turn")]})

    assert recording.errors == []
    [relay] = recording.of_type("relay")
    assert relay.address == "127.0.0.1"
    assert relay.relayProtocol == "udp"
    assert relay.url == coturn.url("turn")
    assert relay.candidate.startswith("candidate:") and " typ relay " in relay.candidate


def test_correct_turn_credentials_over_tcp_give_a_relay_candidate_and_no_error(coturn):
    recording = gather({"iceServers": [coturn.ice_server("turn", transport="tcp")]})

    assert recording.errors == []
    [relay] = recording.of_type("relay")
    assert relay.relayProtocol == "tcp"
    assert relay.url == coturn.url("turn", "tcp")


def test_wrong_turn_password_fires_exactly_one_401_with_the_local_socket(coturn):
    url = coturn.url("turn")
    recording = gather({"iceServers": [coturn.ice_server("turn", password="not-the-password")]})

    [error] = recording.errors
    assert error.errorCode == 401
    assert error.errorText == "Unauthorized"  # coturn's reason phrase, passed through
    assert error.url == url
    assert error.address == "127.0.0.1"
    assert isinstance(error.port, int) and 0 < error.port < 65536
    assert recording.of_type("relay") == []


def test_wrong_turn_password_over_tcp_reports_the_tcp_socket_port(coturn):
    recording = gather({"iceServers": [coturn.ice_server("turn", transport="tcp", password="nope")]})

    [error] = recording.errors
    assert (error.errorCode, error.address) == (401, "127.0.0.1")
    assert error.port is not None  # both browsers drop the port of a TCP socket; we keep it


def test_stun_server_on_a_closed_udp_port_fires_one_701_from_the_icmp_error(closed_udp_port):
    options = LOOPBACK  # the schedule would give up after 0.25 s; ICMP must win well before
    started = time.monotonic()
    recording = gather({"iceServers": [{"urls": f"stun:127.0.0.1:{closed_udp_port}"}]}, options)
    elapsed = time.monotonic() - started

    [error] = recording.errors
    assert error.errorCode == 701
    assert "port unreachable" in error.errorText
    assert error.url == f"stun:127.0.0.1:{closed_udp_port}"
    assert error.address == "127.0.0.1" and error.port is not None
    assert elapsed < 10  # a sanity bound only; benchmarks measure speed


def test_unresolvable_host_fires_one_701_with_null_address_and_port():
    recording = gather({"iceServers": [{"urls": "stun:stun1.invalid:3478"}]})

    [error] = recording.errors
    assert error.errorCode == 701
    assert error.url == "stun:stun1.invalid:3478"
    assert error.address is None and error.port is None
    assert "host lookup failed" in error.errorText


def test_silent_stun_server_fires_701_naming_the_attempts_and_the_time(silent_udp_server):
    port = silent_udp_server.port
    recording = gather({"iceServers": [{"urls": f"stun:127.0.0.1:{port}"}]})

    [error] = recording.errors
    assert error.errorCode == 701
    expected_seconds = FAST_SCHEDULE.give_up_after
    assert error.errorText == (
        f"no response from 127.0.0.1:{port} after {FAST_SCHEDULE.max_sends} attempts in {expected_seconds:g} s"
    )
    assert len(silent_udp_server.received) == FAST_SCHEDULE.max_sends  # each one really went out


def test_turn_server_on_a_closed_tcp_port_fires_701_connection_refused(closed_tcp_port):
    url = f"turn:127.0.0.1:{closed_tcp_port}?transport=tcp"
    recording = gather({"iceServers": [{"urls": url, "username": "u", "credential": "p"}]})

    [error] = recording.errors
    assert (error.errorCode, error.url) == (701, url)
    assert "connection refused" in error.errorText
    assert error.address == "127.0.0.1" and error.port is not None


def test_events_come_in_browser_order_and_end_with_a_null_candidate(coturn):
    recording = gather({"iceServers": [coturn.ice_server("turn", password="wrong")]})

    kinds = [event.type for event in recording.events]
    assert kinds[0] == "icegatheringstatechange"
    assert recording.states_seen == ["gathering", "complete"]
    assert kinds[-2:] == ["icegatheringstatechange", "icecandidate"]
    assert recording.events[-1].candidate is None
    # Candidates and errors all arrive while the state is "gathering".
    assert kinds.index("icecandidateerror") < len(kinds) - 2


def test_the_error_event_crossed_a_process_boundary(coturn):
    recording = gather({"iceServers": [coturn.ice_server("turn", password="wrong")]})

    assert recording.errors
    assert recording.transport_pid is not None
    assert recording.transport_pid != os.getpid()
    # It was our transport process (it has exited since the peer connection closed).
    assert not os.path.exists(f"/proc/{recording.transport_pid}")


def test_one_transport_serves_several_peer_connections_and_keeps_their_events_apart(coturn):
    async def scenario():
        transport = await TransportClient.start()
        try:
            good, bad = await asyncio.gather(
                record_gathering({"iceServers": [coturn.ice_server("turn")]}, transport=transport),
                record_gathering({"iceServers": [coturn.ice_server("turn", password="x")]}, transport=transport),
            )
            assert os.path.exists(f"/proc/{transport.transport_pid}/cmdline")
            cmdline = Path(f"/proc/{transport.transport_pid}/cmdline").read_bytes()
            return good, bad, cmdline
        finally:
            transport.close()

    good, bad, cmdline = asyncio.run(scenario())
    assert b"transport_proc" in cmdline
    assert good.errors == [] and len(good.of_type("relay")) == 1
    assert [e.errorCode for e in bad.errors] == [401] and bad.of_type("relay") == []


def test_no_event_fires_after_close(coturn, silent_udp_server):
    fired_after_close = []

    async def scenario():
        # A shared transport keeps running after the peer connection closes, so any event
        # it still sent for it would reach the main process.
        transport = await TransportClient.start()
        pc = RTCPeerConnection(
            {"iceServers": [{"urls": silent_udp_server.url()}, coturn.ice_server("turn", password="x")]},
            transport=transport,
            options=LOOPBACK,
        )
        closed = False

        def listener(event):
            if closed:
                fired_after_close.append(event)

        for kind in ("icecandidate", "icecandidateerror", "icegatheringstatechange"):
            pc.addEventListener(kind, listener)
        gathering = asyncio.ensure_future(pc.gather())
        # Close while the transport is demonstrably gathering: the silent server has our request.
        deadline = time.monotonic() + 10
        while not silent_udp_server.received and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert silent_udp_server.received
        pc.close()
        closed = True
        await gathering  # returns: closing ends the wait
        # A barrier, not a sleep: a second peer connection on the same transport asks the same
        # silent server. Its 701 comes when the schedule ends, later than the first one's would
        # have, and the transport's messages arrive in order: anything still due for the
        # closed peer connection would have arrived before it.
        later = await record_gathering({"iceServers": [{"urls": silent_udp_server.url()}]}, LOOPBACK, transport)
        rejected = transport.rejected
        transport.close()
        return pc.iceGatheringState, later, rejected

    state, later, rejected = asyncio.run(scenario())
    assert [error.errorCode for error in later.errors] == [701]
    assert fired_after_close == []
    assert state == "gathering"
    assert rejected == 0


MAIN_PROCESS_THAT_GETS_KILLED = """
import asyncio, sys
from icegather import TransportClient

async def main():
    client = await TransportClient.start()
    print(client.process.runtime_dir, client.transport_pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_a_transport_whose_main_process_was_killed_exits_and_removes_its_runtime_directory(tmp_path):
    main = subprocess.Popen([sys.executable, "-c", MAIN_PROCESS_THAT_GETS_KILLED], stdout=subprocess.PIPE, text=True)
    try:
        runtime_dir, transport_pid = main.stdout.readline().split()
        assert Path(runtime_dir, "transport").exists()  # the transport's socket, while both run
        main.kill()  # SIGKILL: the main process cleans nothing up
        main.wait()
        transport = wait_for_exit(int(transport_pid), timeout=10)
        assert transport, f"the transport (pid {transport_pid}) outlived its main process"
        assert not Path(runtime_dir).exists()
    finally:
        main.kill()
        main.wait()


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child to exit (a pidfd says when); True if it did."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([pidfd], [], [], timeout)[0])
    finally:
        os.close(pidfd)
