"""The transport as a long-lived service shared by several main processes: over ipc:// only
this user can reach it, over tcp:// only CURVE clients whose keys it holds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import zmq
import zmq.asyncio
from commands import ICEGATHER
from fake_transport import lingerless_context
from fresh_interpreter import printed_by
from gathering_helpers import Recording, record_gathering
from local_coturn import free_port

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.supervision import Supervision
from icegather.main_proc.link.transport_client import TransportClient
from icegather.main_proc.link.transport_error import TransportError
from icegather.shared import protocol
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule
from icegather.shared.protocol.curve_keys import CurveKeys
from icegather.shared.protocol.link_settings import MIN_HEARTBEAT_INTERVAL

NOBODY = 65534
T = TypeVar("T")
STUN_INVALID = ["-s", "stun:stun1.invalid:3478", "--json", "--local-address", "127.0.0.1"]


@contextlib.contextmanager
def running_service(
    *args: str, ready: Path | None = None, preexec: Callable[[], None] | None = None
) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-I", "-m", "icegather.transport_proc", *args], stderr=subprocess.PIPE, text=True,
        preexec_fn=preexec,
    )
    try:
        deadline = time.monotonic() + 10
        # Ready once a connection is taken: ZeroMQ binds the socket's file before it listens,
        # and a connect in between is refused.
        while (ready is not None and connect_unix(ready) != "connected" and process.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.02)
        yield process
    finally:
        process.terminate()
        process.wait(10)


async def a_rogue_client_then_a_gathering(
    endpoint: str, misbehave: Callable[[zmq.asyncio.Socket], Awaitable[T]]
) -> tuple[T, Recording]:
    """What ``misbehave`` got from the service at ``endpoint`` on a raw connection of its own,
    then how a well-behaved client's gathering there went (a name lookup that fails)."""
    context = lingerless_context()
    rogue = context.socket(zmq.DEALER)
    rogue.connect(endpoint)
    answer = await misbehave(rogue)
    rogue.close(linger=0)
    context.term()
    transport = await TransportClient.connect(endpoint)
    try:
        recording = await record_gathering({"iceServers": [{"urls": "stun:stun1.invalid"}]}, transport=transport)
    finally:
        transport.close()
    return answer, recording


def icegather(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([ICEGATHER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> tuple[int, list[dict], str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, [json.loads(line) for line in out.splitlines()], err


def test_a_service_restarted_on_the_same_path_removes_the_socket_its_predecessor_left(tmp_path):
    socket_path = tmp_path / "service" / "transport"
    endpoint = f"ipc://{socket_path}"
    with running_service("--bind", endpoint, ready=socket_path) as first:
        first.kill()  # confined, it could not have removed its socket anyway
        first.wait()
    assert socket_path.exists()

    with running_service("--bind", endpoint):
        status, records, err = finish(icegather("--transport", endpoint, *STUN_INVALID))

    assert status == 1, err
    assert [r["errorCode"] for r in records if r["type"] == "icecandidateerror"] == [701]


def test_a_service_on_a_path_where_one_listens_is_refused_with_the_reason(tmp_path):
    socket_path = tmp_path / "service" / "transport"
    with running_service("--bind", f"ipc://{socket_path}", ready=socket_path):
        second = subprocess.run([sys.executable, "-I", "-m", "icegather.transport_proc", "--bind", f"ipc://{socket_path}"],
                                capture_output=True, text=True, timeout=30)

    assert second.returncode == 1
    assert second.stderr == f"icegather.transport_proc: a transport already listens at {socket_path}\n"


def test_removing_a_directory_the_main_process_did_not_make_is_refused(tmp_path):
    (tmp_path / "run").mkdir(mode=0o700)
    (tmp_path / "run" / "a file of the user's").write_text("")
    refused = subprocess.run(
        [sys.executable, "-I", "-m", "icegather.transport_proc", "--bind", f"ipc://{tmp_path}/run/transport",
         "--remove-runtime-dir"], capture_output=True, text=True, timeout=30,
    )

    assert refused.returncode == 1
    assert "--remove-runtime-dir is for a directory a main process made for its transport" in refused.stderr
    assert (tmp_path / "run" / "a file of the user's").exists()


def test_one_service_serves_several_main_processes_over_a_private_ipc_socket(tmp_path):
    socket_path = tmp_path / "service" / "transport"
    endpoint = f"ipc://{socket_path}"
    with running_service("--bind", endpoint, ready=socket_path):
        clients = [icegather("--transport", endpoint, *STUN_INVALID) for _ in range(3)]
        results = [finish(client) for client in clients]
        mode = stat.S_IMODE(socket_path.parent.stat().st_mode)

    assert mode == 0o700  # created for this user only
    for status, records, err in results:
        assert status == 1, err
        [error] = [r for r in records if r["type"] == "icecandidateerror"]
        assert (error["errorCode"], error["url"]) == (701, "stun:stun1.invalid:3478")


def test_the_service_refuses_a_socket_directory_other_users_can_open(tmp_path):
    shared_directory = tmp_path / "open"
    shared_directory.mkdir(mode=0o755)
    shared_directory.chmod(0o755)
    with running_service("--bind", f"ipc://{shared_directory}/transport") as process:
        process.wait(10)
        err = process.stderr.read()

    assert process.returncode != 0
    assert "can be opened by other users (mode 755)" in err and "chmod 700" in err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second user")
def test_another_local_user_cannot_connect_to_the_ipc_socket(tmp_path):
    socket_path = tmp_path / "service" / "transport"
    with running_service("--bind", f"ipc://{socket_path}", ready=socket_path):
        own = connect_unix(socket_path)
        other = as_user(NOBODY, lambda: connect_unix(socket_path))

    assert own == "connected"
    assert other == "PermissionError"


def connect_unix(path: Path) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError as exc:
            return type(exc).__name__
        return "connected"


def as_user(uid: int, action) -> str:
    """Run ``action`` in a forked child that has become user ``uid``; return what it returned."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child: drop to the other user, try, report, and leave at once
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.write(write_end, action().encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as result:
        answer = result.read()
    os.waitpid(child, 0)
    return answer


def test_a_tcp_service_without_curve_keys_refuses_to_start():
    with running_service("--bind", f"tcp://127.0.0.1:{free_port()}") as process:
        process.wait(10)
        err = process.stderr.read()

    assert process.returncode != 0
    assert "a transport on TCP must use CURVE" in err and "keygen" in err


@pytest.fixture
def curve_service(tmp_path) -> Iterator[tuple[str, Path]]:
    keys = tmp_path / "keys"
    for directory, name in ((keys, "service"), (keys / "clients", "client"), (keys / "strangers", "stranger")):
        subprocess.run(
            [sys.executable, "-I", "-m", "icegather.transport_proc", "keygen", str(directory), name],
            check=True,
            capture_output=True,
        )
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    with running_service(
        "--bind", endpoint, "--curve-secret", str(keys / "service.key_secret"), "--curve-clients", str(keys / "clients")
    ):
        yield endpoint, keys


def test_a_curve_client_with_an_accepted_key_uses_the_tcp_service(curve_service):
    endpoint, keys = curve_service
    status, records, err = finish(
        icegather(
            "--transport",
            endpoint,
            "--curve-secret",
            str(keys / "clients" / "client.key_secret"),
            "--curve-server",
            str(keys / "service.key"),
            *STUN_INVALID,
        )
    )

    assert status == 1, err
    assert [r["errorCode"] for r in records if r["type"] == "icecandidateerror"] == [701]


@pytest.mark.parametrize("who", ["plaintext", "stranger"])
def test_the_tcp_service_does_not_answer_clients_without_an_accepted_key(who, curve_service):
    endpoint, keys = curve_service
    curve = None
    if who == "stranger":
        curve = CurveKeys.load(keys / "strangers" / "stranger.key_secret", keys / "service.key")

    async def attempt() -> str:
        with pytest.raises(TransportError) as caught:
            await TransportClient.connect(endpoint, timeout=1.0, supervision=Supervision(0, 0), curve=curve)
        return str(caught.value)

    assert asyncio.run(attempt()) == "the transport did not answer within 1 s"


VANISHING_CLIENT = """
import asyncio, sys
from icegather import GatherOptions, RetransmissionSchedule, RTCPeerConnection, Supervision, TransportClient

async def main():
    # No heartbeats asked for: the service must notice the end of the connection all the same.
    transport = await TransportClient.connect(sys.argv[1], supervision=Supervision(0, 0))
    slow = GatherOptions(RetransmissionSchedule(5.0, 2, 2), ("127.0.0.1",))  # gathers for 15 s
    pc = RTCPeerConnection({"iceServers": [{"urls": sys.argv[2]}]}, transport=transport, options=slow)
    pc.onicegatheringstatechange = lambda event: print(pc.iceGatheringState, flush=True)
    await pc.gather()

asyncio.run(main())
"""


def test_a_killed_client_is_dropped_and_its_gatherings_freed_even_without_heartbeats(tmp_path, silent_udp_server):
    socket_path = tmp_path / "service" / "transport"
    endpoint = f"ipc://{socket_path}"

    async def gather_until_accepted(transport: TransportClient) -> str:
        """Ask until the freed slot is given (each refusal is one quick round trip)."""
        deadline = time.monotonic() + 10
        outcome = "never asked"
        while outcome != "complete" and time.monotonic() < deadline:
            outcome = await gather_once(transport)
        return outcome

    with running_service(
        "--bind", endpoint, "--max-jobs", "1", "--log-level", "INFO", ready=socket_path
    ) as service:
        client = subprocess.Popen([sys.executable, "-c", VANISHING_CLIENT, endpoint, silent_udp_server.url()],
                                  stdout=subprocess.PIPE, text=True)
        assert client.stdout.readline() == "gathering\n"  # it holds the service's only slot

        async def scenario() -> tuple[str, str]:
            survivor = await TransportClient.connect(endpoint)
            refused = await gather_once(survivor)
            client.kill()  # SIGKILL: no goodbye; the kernel closes its socket
            client.wait()
            accepted = await gather_until_accepted(survivor)
            await survivor.aclose()
            return refused, accepted

        refused, accepted = asyncio.run(scenario())
    log = service.stderr.read()

    assert "already runs 1 gatherings and audits" in refused
    assert accepted == "complete"
    assert "dropped a client (its connection ended); closing its 1 gatherings" in log


def test_the_service_beats_no_faster_than_its_minimum_whatever_a_client_asks(tmp_path):
    socket_path = tmp_path / "service" / "transport"
    endpoint = f"ipc://{socket_path}"

    async def scenario() -> protocol.Message:
        context = lingerless_context()
        greedy = context.socket(zmq.DEALER)
        greedy.connect(endpoint)
        await greedy.send(protocol.encode(protocol.ClientHello(heartbeat_interval=0.001), 0))
        hello = next(protocol.decode_to_main(await asyncio.wait_for(greedy.recv(), 10)))[1]
        greedy.close(linger=0)
        context.term()
        return hello

    with running_service("--bind", endpoint, ready=socket_path):
        hello = asyncio.run(scenario())

    assert isinstance(hello, protocol.ServerHello)
    assert hello.heartbeat_interval == MIN_HEARTBEAT_INTERVAL


def test_a_service_restarted_mid_gathering_fails_the_gathering_at_once_even_without_heartbeats(
    tmp_path, silent_udp_server
):
    socket_path = tmp_path / "service" / "transport"
    endpoint = f"ipc://{socket_path}"
    slow = GatherOptions(RetransmissionSchedule(5.0, 2, 2), local_addresses=("127.0.0.1",))

    async def scenario() -> str:
        with running_service("--bind", endpoint, ready=socket_path) as first:
            transport = await TransportClient.connect(endpoint, supervision=Supervision(0, 0))
            pc = RTCPeerConnection({"iceServers": [{"urls": silent_udp_server.url()}]}, transport=transport,
                                   options=slow)
            gathering = asyncio.ensure_future(pc.gather())
            while not silent_udp_server.received:
                await asyncio.sleep(0.01)
        assert first.returncode is not None  # the service is gone; a new one takes its place
        with running_service("--bind", endpoint, ready=socket_path):
            with pytest.raises(TransportError) as caught:
                await asyncio.wait_for(gathering, 10)  # not after the 15 s schedule, nor never
            await transport.aclose()
        return str(caught.value)

    assert asyncio.run(scenario()) == f"the connection to the transport at {endpoint} was lost"


async def gather_once(transport: TransportClient) -> str:
    pc = RTCPeerConnection({"iceServers": [{"urls": "stun:stun1.invalid"}]}, transport=transport)
    try:
        await asyncio.wait_for(pc.gather(), 10)
        return pc.iceGatheringState
    except TransportError as exc:
        return str(exc)
    finally:
        pc.close()


def test_a_transport_process_loads_aioices_stun_codec_without_its_ice_agent():
    # The start-up budget of a one-shot check (scripts/bench_cli.py): the agent brings ifaddr,
    # whose import runs ldconfig, and dnspython; the transport needs neither to serve.
    probe = (
        "import sys\n"
        "from icegather.transport_proc.__main__ import load_aioice_without_its_agent\n"
        "load_aioice_without_its_agent()\n"
        "import icegather.transport_proc.service\n"
        "heavy = ('aioice.ice', 'dns', 'ifaddr', 'icegather.shared.protocol.curve_keys')\n"
        "print(sorted(m for m in heavy if m in sys.modules), 'aioice.stun' in sys.modules)"
    )
    assert printed_by(probe) == "[] True"
