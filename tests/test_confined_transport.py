"""The transport's sandbox from the inside (issue 24): escapes tried in a real confined
transport service, on the thread that parses network input, after its seccomp filter is loaded
(``sandbox_harness``), each failing, and each succeeding unconfined; the calls only an attacker
makes killing it; and what the confined transport can still do."""

from __future__ import annotations

import asyncio
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sandbox_harness import LINE_TIMEOUT, Harness

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.sandbox_layers import fully_confined
from icegather.main_proc.link.transport_client import TransportClient
from icegather.main_proc.link.transport_error import TransportError
from icegather.shared.config.gather_options import GatherOptions

PROJECT_FILE = str(Path(__file__).resolve().parents[1] / "pyproject.toml")
IS_ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def confined() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.stop_and_tell()


@pytest.fixture(scope="module")
def unconfined() -> Iterator[Harness]:
    harness = Harness("--no-sandbox")
    yield harness
    harness.stop_and_tell()


@pytest.fixture
def start_harness() -> Iterator[Callable[..., Harness]]:
    """Harnesses of the test's own, each stopped (and its directory removed) when it ends."""
    started: list[Harness] = []

    def start(*options: str, directory: str | None = None) -> Harness:
        started.append(Harness(*options, directory=directory))
        return started[-1]

    yield start
    for harness in started:
        harness.stop_and_tell()


@pytest.fixture
def unix_listener() -> Iterator[socket.socket]:
    """A listening Unix socket of this user's, in a short path (a socket's path has 108 bytes)."""
    directory = tempfile.mkdtemp()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(f"{directory}/listener")
    listener.listen()
    yield listener
    listener.close()
    shutil.rmtree(directory)


@pytest.fixture
def other_process() -> Iterator[int]:
    """A process of the same user that is none of the transport's: what ptrace would go for,
    and whose scheduling and limits an attempt would change."""
    sleeper = subprocess.Popen(["sleep", "300"])
    yield sleeper.pid
    sleeper.kill()
    sleeper.wait()


def a_file_in_the_home_directory() -> str:
    home = Path.home()
    files = [path for path in sorted(home.iterdir()) if path.is_file() and os.access(path, os.R_OK)]
    if not files:
        pytest.skip(f"no readable file in {home}")
    return str(files[0])


@dataclass(frozen=True)
class Places:
    """What the attempts aim at: files, directories and a socket of the test's own."""

    scratch: Path
    runtime_dir: str
    listener: socket.socket
    other_pid: int

    def state(self) -> tuple[list[str], list[str], int, int, bool, tuple[int, ...]]:
        """What a successful attempt would change: the directories' files, the mode of the file
        chmod aims at, whether a connection waits at the listener, and the other process's
        scheduling policy and open-file limits."""
        pending, _, _ = select.select([self.listener], [], [], 0)
        other = (os.sched_getscheduler(self.other_pid), *resource.prlimit(self.other_pid, resource.RLIMIT_NOFILE))
        return (sorted(os.listdir(self.scratch)), sorted(os.listdir(self.runtime_dir)),
                os.stat(self.scratch / "mode-target").st_mode, os.stat(self.scratch / "full").st_size, bool(pending),
                other)


def places_for(harness: Harness, tmp_path: Path, listener: socket.socket, other_pid: int) -> Places:
    (tmp_path / "mode-target").write_text("")
    (tmp_path / "mode-target").chmod(0o600)
    (tmp_path / "full").write_text("the user's data")
    return Places(tmp_path, harness.process.runtime_dir, listener, other_pid)


@dataclass(frozen=True)
class Escape:
    description: str
    attempt: str
    arg: Callable[[Places], str]
    refused_with: str
    # Unconfined, it succeeds only with root's privileges.
    needs_root: bool = False


ESCAPES = [
    Escape("reading /etc/shadow", "read_file", lambda _: "/etc/shadow", "EACCES", needs_root=True),
    Escape("reading a file in the home directory", "read_file", lambda _: a_file_in_the_home_directory(), "EACCES"),
    Escape("listing the home directory", "list_directory", lambda _: str(Path.home()), "EACCES"),
    Escape("reading a file under the project directory", "read_file", lambda _: PROJECT_FILE, "EACCES"),
    Escape("reading a file on a thread started after confinement", "read_file_on_a_new_thread",
           lambda _: PROJECT_FILE, "EACCES"),
    # Refused by seccomp (EPERM), which no open for writing passes, before Landlock (EACCES).
    Escape("writing a new file", "create_file", lambda places: str(places.scratch / "escaped"), "EPERM"),
    Escape("writing a new file beside the IPC socket", "create_file",
           lambda places: f"{places.runtime_dir}/escaped", "EPERM"),
    Escape("emptying a file of the user's", "truncate_file", lambda places: str(places.scratch / "full"), "EPERM"),
    Escape("fork", "fork", lambda _: "", "EPERM"),
    Escape("an AF_PACKET socket", "packet_socket", lambda _: "", "EPERM", needs_root=True),
    Escape("a new AF_UNIX socket", "unix_socket", lambda _: "", "EPERM"),
    Escape("a connected pair of Unix sockets", "unix_socket_pair", lambda _: "", "EPERM"),
    Escape("connecting to a Unix socket by path", "connect_unix",
           lambda places: str(places.listener.getsockname()), "EPERM"),
    Escape("chmod", "change_mode", lambda places: str(places.scratch / "mode-target"), "EPERM"),
    Escape("memory that can hold code", "executable_memory", lambda _: "", "EPERM"),
    Escape("another process's scheduling set to idle", "set_scheduler", lambda places: str(places.other_pid),
           "EPERM"),
    Escape("another process's scheduling read", "read_scheduler", lambda places: str(places.other_pid), "EPERM"),
    Escape("another process's open-file limit lowered", "set_limit", lambda places: str(places.other_pid), "EPERM"),
    Escape("another process's open-file limit read", "read_limit", lambda places: str(places.other_pid), "EPERM"),
]


def test_the_attempts_run_in_a_service_that_every_layer_confines(confined):
    assert confined.sandbox.seccomp_mode == 2 and confined.sandbox.no_new_privs
    assert confined.sandbox.max_file_size == 0
    assert fully_confined(confined.sandbox)


@pytest.mark.parametrize("escape", ESCAPES, ids=[escape.description for escape in ESCAPES])
def test_an_escape_from_the_thread_that_parses_network_input_fails(confined, escape, tmp_path, unix_listener,
                                                                    other_process):
    places = places_for(confined, tmp_path, unix_listener, other_process)
    before = places.state()

    outcome = confined.attempt(escape.attempt, escape.arg(places))

    assert (outcome["ok"], outcome.get("errno")) == (False, escape.refused_with), outcome
    assert places.state() == before


@pytest.mark.parametrize("escape", ESCAPES, ids=[escape.description for escape in ESCAPES])
def test_unconfined_the_same_attempt_succeeds(unconfined, escape, tmp_path, unix_listener, other_process):
    """What makes the test above able to fail: each attempt is a real one."""
    if escape.needs_root and not IS_ROOT:
        pytest.skip("unconfined, it needs root's privileges")
    places = places_for(unconfined, tmp_path, unix_listener, other_process)
    before = places.state()

    outcome = unconfined.attempt(escape.attempt, escape.arg(places))

    assert outcome["ok"], outcome
    changes = escape.attempt in ("create_file", "change_mode", "connect_unix", "truncate_file", "set_scheduler",
                                 "set_limit")
    assert (places.state() != before) == changes


KILLING = [
    Escape("exec of /bin/true", "execute", lambda _: "/bin/true", "SIGSYS"),
    Escape("ptrace of another process", "ptrace", lambda places: str(places.other_pid), "SIGSYS"),
    Escape("mount", "mount", lambda places: str(places.scratch), "SIGSYS"),
    Escape("signalling PID 1", "signal_process", lambda _: "1", "SIGSYS"),
]


@pytest.mark.parametrize("escape", KILLING, ids=[escape.description for escape in KILLING])
def test_a_call_only_an_attacker_makes_kills_the_transport(escape, start_harness, tmp_path, unix_listener,
                                                           other_process):
    harness = start_harness()
    places = places_for(harness, tmp_path, unix_listener, other_process)

    harness.send(escape.attempt, escape.arg(places))

    assert harness.read() is None  # the call never returned
    assert harness.process.popen.wait(10) == -signal.SIGSYS
    assert not os.path.ismount(tmp_path)
    assert "TracerPid:\t0\n" in Path(f"/proc/{other_process}/status").read_text()


def test_the_main_process_reports_a_transport_its_filter_killed_as_a_sandbox_violation(start_harness,
                                                                                       silent_udp_server):
    harness = start_harness()

    async def gather_while_the_transport_execs() -> str:
        client = await TransportClient.start(process=harness.process)
        pc = RTCPeerConnection({"iceServers": [{"urls": silent_udp_server.url()}]}, transport=client,
                               options=GatherOptions(local_addresses=("127.0.0.1",)))
        try:
            harness.send("execute", "/bin/true")
            with pytest.raises(TransportError) as failed:
                await asyncio.wait_for(pc.gather(), 30)
        finally:
            await pc.aclose()
            await client.aclose()
        return str(failed.value)

    reason = asyncio.run(gather_while_the_transport_execs())

    assert reason.startswith(f"the transport process (pid {harness.pid}) was stopped by its sandbox: "
                             "a sandbox violation (SIGSYS"), reason
    assert not os.path.exists(harness.process.runtime_dir)


# --- what the confined transport still does --------------------------------------------------


def test_the_confined_transport_exchanges_datagrams_with_loopback(confined):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(LINE_TIMEOUT)
        confined.send("udp_echo", f"127.0.0.1:{server.getsockname()[1]}")
        data, sender = server.recvfrom(100)
        server.sendto(data, sender)
        outcome = confined.read()

    assert outcome == {"try": "udp_echo", "ok": True, "value": "over udp"}


def test_the_confined_transport_connects_over_tcp_to_loopback(confined):
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(LINE_TIMEOUT)
        confined.send("tcp_echo", f"127.0.0.1:{server.getsockname()[1]}")
        connection, _ = server.accept()
        with connection:
            connection.sendall(connection.recv(100))
        outcome = confined.read()

    assert outcome == {"try": "tcp_echo", "ok": True, "value": "over tcp"}


def test_the_confined_transport_sets_its_own_scheduling_and_reads_its_own_limits(confined):
    outcome = confined.attempt("keep_own_scheduling")

    assert outcome == {"try": "keep_own_scheduling", "ok": True, "value": [0, 0]}


@pytest.mark.parametrize("lookup", ["glibc_lookup", "lookup_on_a_new_thread"])
def test_the_confined_transport_looks_up_a_name_in_etc_hosts(confined, lookup):
    outcome = confined.attempt(lookup, "localhost")

    assert outcome["ok"] and "127.0.0.1" in outcome["value"], outcome


def test_a_name_under_invalid_fails_cleanly_in_the_confined_transport(confined):
    outcome = confined.attempt("transport_lookup", "stun1.invalid")

    assert outcome == {"try": "transport_lookup", "ok": False, "errno": None,
                       "error": "host lookup failed for stun1.invalid: names under .invalid never resolve (RFC 6761)"}


# --- what the first version of these tests found open (issue 24) -----------------------------


def test_a_standalone_service_cannot_remove_files_beneath_its_sockets_directory(start_harness):
    directory = Path(tempfile.mkdtemp())  # mode 700, as the service asks; removed with the harness
    (directory / "sub").mkdir()
    (directory / "sub" / "a file of the user's").write_text("")
    harness = start_harness(directory=str(directory))

    outcome = harness.attempt("remove_file", str(directory / "sub" / "a file of the user's"))

    assert (outcome["ok"], outcome.get("errno")) == (False, "EACCES"), outcome


@pytest.mark.parametrize(("family", "kind", "protocol_number"), [
    (socket.AF_INET, socket.SOCK_STREAM, 262),  # IPPROTO_MPTCP
    (socket.AF_INET6, socket.SOCK_DGRAM, 136),  # IPPROTO_UDPLITE
], ids=["MPTCP", "UDP-Lite"])
def test_the_confined_transport_makes_tcp_and_udp_sockets_only(confined, family, kind, protocol_number):
    outcome = confined.attempt("socket_of", f"{family},{kind},{protocol_number}")

    assert (outcome["ok"], outcome.get("errno")) == (False, "EPERM"), outcome
