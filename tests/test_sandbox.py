"""The transport's sandbox (issue 24): escapes tried from inside a real confined transport
service, on the thread that parses network input, after its seccomp filter is loaded
(``sandbox_escapes.py`` runs them); what the confined transport can still do; the confinement
that ``/proc`` shows of a transport the main process starts, and that ``icegather sandbox``
prints; and the pure parts: the policy's tables, the layers' reading, the certificate's notAfter.
"""

from __future__ import annotations

import asyncio
import ctypes
import datetime
import json
import os
import platform
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import msgpack
import pytest
import trustme
import zmq
import zmq.asyncio
from commands import ICEGATHER
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fake_transport import lingerless_context
from gathering_helpers import LOOPBACK
from hypothesis import given
from hypothesis import strategies as st

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.sandbox_layers import fully_confined, layers
from icegather.main_proc.link.supervision import TransportError
from icegather.main_proc.link.transport_client import TransportClient
from icegather.main_proc.link.transport_process import TransportProcess, made_runtime_parent
from icegather.shared import protocol
from icegather.shared.structs import GatherOptions, SandboxInfo
from icegather.transport_proc.audit.certificate_dates import not_after
from icegather.transport_proc.sandbox import landlock, policy
from icegather.transport_proc.sandbox.policy import ArgIs, PathRule, SyscallRule, open_files_limit, path_rules

HARNESS = str(Path(__file__).with_name("sandbox_escapes.py"))
PROJECT_FILE = str(Path(__file__).resolve().parents[1] / "pyproject.toml")
LINE_TIMEOUT = 15.0
IS_ROOT = os.geteuid() == 0
CHECKED = replace(LOOPBACK, relay_check=True)


# --- a confined transport service to try things in -----------------------------------------


class Harness:
    """A transport service run by ``sandbox_escapes.py`` as the main process runs its own (a
    fresh directory in ``made_runtime_parent()``, removed when it ends), and the attempts made in it."""

    def __init__(self, *options: str, directory: str | None = None) -> None:
        """``directory``: the socket's, as a standalone service is given (and kept when it ends)."""
        if directory is None:
            directory = tempfile.mkdtemp(prefix="transport-", dir=made_runtime_parent())
            options = ("--remove-runtime-dir", *options)
        command = [sys.executable, "-I", HARNESS, "--bind", f"ipc://{directory}/transport", *options]
        popen = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.process = TransportProcess(popen, directory)
        self._pending = b""
        ready = self.read()
        assert ready is not None, self.stop_and_tell()
        self.pid: int = ready["ready"]
        self.sandbox = SandboxInfo(**ready["sandbox"])

    def read(self) -> dict[str, Any] | None:
        """The next line it wrote; None once its output has ended."""
        stdout = self.process.popen.stdout
        assert stdout is not None
        while b"\n" not in self._pending:
            readable, _, _ = select.select([stdout], [], [], LINE_TIMEOUT)
            assert readable, f"nothing from the harness in {LINE_TIMEOUT:g} s"
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                return None
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        record: dict[str, Any] = json.loads(line)
        return record

    def send(self, name: str, arg: str = "") -> None:
        stdin = self.process.popen.stdin
        assert stdin is not None
        stdin.write(json.dumps({"try": name, "arg": arg}).encode() + b"\n")
        stdin.flush()
        assert self.read() == {"try": name, "trying": True}

    def attempt(self, name: str, arg: str = "") -> dict[str, Any]:
        self.send(name, arg)
        outcome = self.read()
        assert outcome is not None, self.stop_and_tell()
        return outcome

    def stop_and_tell(self) -> str:
        """Stop it (the end of its input), and say how it ended and what it wrote to stderr."""
        self.process.ask_to_exit()
        try:
            self.process.popen.wait(10)
        finally:
            self.process.kill()
        stderr = self.process.popen.stderr
        assert stderr is not None
        return f"the harness exited with {self.process.popen.returncode}: {stderr.read().decode()}"


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


@pytest.fixture(scope="module")
def other_process() -> Iterator[int]:
    """A process of the same user that is none of the transport's: what ptrace would go for."""
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
    other_pid: int = 0

    def state(self) -> tuple[list[str], list[str], int, int, bool]:
        """What a successful attempt would change: the directories' files, the mode of the file
        chmod aims at, and whether a connection waits at the listener."""
        pending, _, _ = select.select([self.listener], [], [], 0)
        return (sorted(os.listdir(self.scratch)), sorted(os.listdir(self.runtime_dir)),
                os.stat(self.scratch / "mode-target").st_mode, os.stat(self.scratch / "full").st_size, bool(pending))


def places_for(harness: Harness, tmp_path: Path, listener: socket.socket, other_pid: int = 0) -> Places:
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
]


def test_the_attempts_run_in_a_service_that_every_layer_confines(confined):
    assert confined.sandbox.seccomp_mode == 2 and confined.sandbox.no_new_privs
    assert confined.sandbox.max_file_size == 0
    assert fully_confined(confined.sandbox)


@pytest.mark.parametrize("escape", ESCAPES, ids=[escape.description for escape in ESCAPES])
def test_an_escape_from_the_thread_that_parses_network_input_fails(confined, escape, tmp_path, unix_listener):
    places = places_for(confined, tmp_path, unix_listener)
    before = places.state()

    outcome = confined.attempt(escape.attempt, escape.arg(places))

    assert (outcome["ok"], outcome.get("errno")) == (False, escape.refused_with), outcome
    assert places.state() == before


@pytest.mark.parametrize("escape", ESCAPES, ids=[escape.description for escape in ESCAPES])
def test_unconfined_the_same_attempt_succeeds(unconfined, escape, tmp_path, unix_listener):
    """What makes the test above able to fail: each attempt is a real one."""
    if escape.needs_root and not IS_ROOT:
        pytest.skip("unconfined, it needs root's privileges")
    places = places_for(unconfined, tmp_path, unix_listener)
    before = places.state()

    outcome = unconfined.attempt(escape.attempt, escape.arg(places))

    assert outcome["ok"], outcome
    changes = escape.attempt in ("create_file", "change_mode", "connect_unix", "truncate_file")
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


# --- the transport as the main process starts it ----------------------------------------------


def proc_limit(limits: str, name: str) -> list[str]:
    """The soft and hard values of one row of ``/proc/PID/limits``."""
    [row] = [line for line in limits.splitlines() if line.startswith(name)]
    return row[len(name):].split()[:2]


def test_a_transport_the_main_process_starts_has_no_new_privileges_a_seccomp_filter_and_no_file_size():
    async def look_at_it() -> tuple[SandboxInfo, str, str]:
        client = await TransportClient.start()
        try:
            proc = Path(f"/proc/{client.transport_pid}")
            return client.sandbox, (proc / "status").read_text(), (proc / "limits").read_text()
        finally:
            await client.aclose()

    sandbox, status, limits = asyncio.run(look_at_it())

    assert "\nNoNewPrivs:\t1\n" in status and "\nSeccomp:\t2\n" in status
    assert proc_limit(limits, "Max file size") == ["0", "0"]
    assert proc_limit(limits, "Max core file size") == ["0", "0"]
    assert fully_confined(sandbox)


def sandbox_rows(output: str) -> dict[str, str]:
    """``icegather sandbox``'s layers: each name and its state."""
    return {line.split()[0]: line.split()[1] for line in output.splitlines() if not line.startswith("sandbox:")}


def test_icegather_sandbox_prints_each_layer_on_and_exits_0():
    result = subprocess.run([ICEGATHER, "sandbox"], capture_output=True, text=True, timeout=60)

    assert (result.returncode, result.stderr) == (0, "")
    landlock_state = "on" if landlock.abi_version() > 0 else "unavailable"
    assert sandbox_rows(result.stdout) == {"rlimits": "on", "capabilities": "on", "no-new-privs": "on",
                                           "seccomp": "on", "landlock": landlock_state}
    assert "file size 0, core 0, open files " in result.stdout and "mode filter, 1 filter(s)" in result.stdout


def test_icegather_sandbox_without_the_sandbox_warns_and_exits_1():
    result = subprocess.run([ICEGATHER, "sandbox", "--no-sandbox"], capture_output=True, text=True, timeout=60)

    assert result.returncode == 1
    assert result.stderr.startswith("icegather: warning: --no-sandbox: ")
    assert result.stdout.startswith("sandbox: off (the transport runs unconfined)\n")
    rows = sandbox_rows(result.stdout)
    assert (rows["no-new-privs"], rows["seccomp"], rows["rlimits"]) == ("OFF", "OFF", "OFF")


def test_a_standalone_service_whose_output_is_a_file_still_logs_into_it(tmp_path):
    """Confined, the service can write no file: a file on its stdout and stderr is written
    through a pipe and ``cat``, which ends after the service does."""
    log = tmp_path / "transport.log"
    runtime_dir = tempfile.mkdtemp(prefix="transport-", dir=made_runtime_parent())
    endpoint = f"ipc://{runtime_dir}/transport"
    with log.open("ab") as output:
        popen = subprocess.Popen([sys.executable, "-I", "-m", "icegather.transport_proc", "--bind", endpoint,
                                  "--remove-runtime-dir"], stdout=output, stderr=output)
    service = TransportProcess(popen, runtime_dir)

    async def garbage_then_hello() -> protocol.Message:
        context = lingerless_context()
        rogue = context.socket(zmq.DEALER)
        rogue.connect(endpoint)
        await rogue.send(msgpack.packb([1, 2]))  # not a message: the service logs a warning
        # Its answer comes after the garbage was read (one connection, in order).
        await rogue.send(protocol.encode(protocol.ClientHello(), 0))
        [(_, hello)] = protocol.decode_to_main(await asyncio.wait_for(rogue.recv(), 30))
        rogue.close(linger=0)
        context.term()
        return hello

    try:
        hello = asyncio.run(garbage_then_hello())
        own_stderr = os.readlink(f"/proc/{popen.pid}/fd/2")
        copiers = Path(f"/proc/{popen.pid}/task/{popen.pid}/children").read_text().split()
        copiers_exited = [os.pidfd_open(int(copier)) for copier in copiers]
        popen.send_signal(signal.SIGINT)
        assert popen.wait(10) == 0
        for exited in copiers_exited:
            assert select.select([exited], [], [], 10)[0], "cat did not end after the service"
            os.close(exited)
    finally:
        service.kill()

    assert isinstance(hello, protocol.ServerHello) and hello.sandbox.max_file_size == 0
    assert own_stderr.startswith("pipe:") and len(copiers) == 2  # one cat for stdout, one for stderr
    assert f"transport[{popen.pid}] WARNING icegather.transport_proc.service: rejected a message (1 so far)" \
        in log.read_text()


# --- the policy, as data ---------------------------------------------------------------------

# Rights that read, or that remove what the transport made; nothing that writes, makes a file
# or runs one.
HARMLESS = policy.READ_FILE | policy.READ_DIR | policy.MAKE_SOCK | policy.REMOVE_FILE | policy.REMOVE_DIR


def test_landlock_leaves_only_the_resolvers_files_readable_to_a_transport_without_an_ipc_socket():
    assert path_rules(None, False, None) == tuple(PathRule(path, policy.READ_FILE) for path in policy.RESOLVER_FILES)


def test_landlock_lets_the_transport_make_its_ipc_socket_and_remove_its_directory():
    rules = set(path_rules("/run/icegather/transport-x/transport", True, None)) - set(path_rules(None, False, None))

    assert rules == {PathRule("/run/icegather/transport-x", policy.MAKE_SOCK | policy.REMOVE_FILE),
                     PathRule("/run/icegather", policy.REMOVE_DIR)}


def test_landlock_grants_no_removal_in_a_directory_that_stays():
    rules = path_rules("/srv/icegather/transport", False, None)

    # A right covers everything beneath its directory: the user's other files there stay safe.
    assert [rule.path for rule in rules if rule.access & (policy.REMOVE_DIR | policy.REMOVE_FILE)] == []
    assert PathRule("/srv/icegather", policy.MAKE_SOCK) in rules


def test_landlock_lets_a_curve_service_read_its_clients_keys_and_never_grants_a_write():
    every = path_rules("/run/t/transport", True, "/etc/icegather/clients")

    assert PathRule("/etc/icegather/clients", policy.READ_FILE | policy.READ_DIR) in every
    assert all(rule.access & ~HARMLESS == 0 for rule in every)


@pytest.mark.parametrize(("abi", "handled"), [(0, 0), (1, (1 << 13) - 1), (3, (1 << 15) - 1), (7, (1 << 16) - 1)])
def test_landlock_handles_every_right_the_abi_knows(abi, handled):
    assert policy.handled_access(abi) == handled


def rules_for(name: str, pid: int = 4242) -> list[SyscallRule]:
    return [rule for rule in policy.syscall_rules(pid) if rule.name == name]


@pytest.mark.parametrize("name", ["execve", "execveat", "ptrace", "process_vm_readv", "mount", "umount2", "chroot",
                                  "setns", "unshare", "bpf", "init_module", "kexec_load", "reboot"])
def test_a_call_only_an_attacker_makes_kills_whatever_its_arguments(name):
    assert rules_for(name) == [SyscallRule(name, "kill")]


@pytest.mark.parametrize("name", ["fork", "vfork", "chmod", "fchmod", "fchmodat", "chown", "fchown", "fchownat",
                                  "setuid", "setgid", "socketpair", "listen", "pidfd_open", "pidfd_send_signal",
                                  "tkill", "rt_sigqueueinfo", "memfd_create", "io_uring_setup", "link", "rename",
                                  "renameat2", "symlink", "mkdir", "mknod", "truncate", "seccomp", "personality"])
def test_a_call_a_library_may_probe_has_no_rule_and_fails_with_eperm(name):
    assert rules_for(name) == []


def test_socket_allows_udp_and_tcp_sockets_of_the_internet_families_only():
    allowed = {tuple(condition.equals for condition in rule.conditions) for rule in rules_for("socket")}

    assert allowed == {
        (family, kind, protocol)
        for family in (socket.AF_INET, socket.AF_INET6)
        for kind, named in ((socket.SOCK_DGRAM, socket.IPPROTO_UDP), (socket.SOCK_STREAM, socket.IPPROTO_TCP))
        for protocol in (0, named)
    }
    for rule in rules_for("socket"):
        family, kind, protocol = rule.conditions
        assert (rule.action, family.mask, kind.mask, protocol.mask) == ("allow", -1, policy.SOCK_TYPE_MASK, -1)


@pytest.mark.parametrize("name", ["kill", "tgkill"])
def test_a_signal_to_itself_is_allowed_and_to_any_other_process_kills(name):
    assert rules_for(name, pid=4242) == [SyscallRule(name, "allow", (ArgIs(0, 4242),)),
                                         SyscallRule(name, "kill", (ArgIs(0, 4242, negate=True),))]


def test_threads_but_no_processes_and_clone3_answers_enosys():
    assert rules_for("clone") == [SyscallRule("clone", "allow", (ArgIs(0, policy.CLONE_THREAD, policy.CLONE_THREAD),))]
    assert rules_for("clone3") == [SyscallRule("clone3", "enosys")]


@pytest.mark.parametrize("name", ["mmap", "mprotect"])
def test_memory_is_never_made_executable(name):
    assert rules_for(name) == [SyscallRule(name, "allow", (ArgIs(2, 0, policy.PROT_EXEC),))]


def test_limits_may_be_read_but_not_set():
    assert rules_for("prlimit64") == [SyscallRule("prlimit64", "allow", (ArgIs(2, 0),))]
    assert rules_for("setrlimit") == []


@pytest.mark.skipif(platform.machine() != "x86_64", reason="some names are x86_64's alone (select, iopl)")
def test_every_rule_names_a_system_call_libseccomp_knows():
    """libseccomp leaves out a name it does not know: a misspelt rule would vanish silently."""
    library = ctypes.CDLL("libseccomp.so.2")
    library.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]

    resolve = library.seccomp_syscall_resolve_name
    unknown = [rule.name for rule in policy.syscall_rules(1) if resolve(rule.name.encode()) < 0]

    assert unknown == []


def test_the_jobs_allowed_are_those_the_open_file_limit_has_room_for():
    assert policy.jobs_within(open_files_limit(16_384, 20_000), 16_384) == (20_000 - policy.BASE_FILES) // 4
    assert policy.jobs_within(open_files_limit(100, 1 << 20), 100) == 100


def test_open_files_grow_with_the_jobs_allowed_up_to_the_hard_limit():
    assert open_files_limit(0, 1 << 20) == policy.BASE_FILES
    assert open_files_limit(1000, 1 << 20) - open_files_limit(999, 1 << 20) == policy.FILES_PER_JOB
    assert open_files_limit(1000, 1024) == 1024


# --- the layers, as ``icegather sandbox`` reads them -------------------------------------------

CONFINED = SandboxInfo(enabled=True, no_new_privs=True, seccomp_mode=2, seccomp_filters=1, landlock_abi=7,
                       landlock_enforced=True, capabilities=0, max_file_size=0, max_core_size=0, max_open_files=4256)


def test_a_fully_confined_transport_has_every_layer_on_with_its_detail():
    assert [(layer.name, layer.on, layer.detail) for layer in layers(CONFINED)] == [
        ("rlimits", True, "file size 0, core 0, open files 4256"),
        ("capabilities", True, "none"),
        ("no-new-privs", True, "set"),
        ("seccomp", True, "mode filter, 1 filter(s)"),
        ("landlock", True, "ABI 7, no file access but name resolution's"),
    ]
    assert fully_confined(CONFINED)


def test_an_unconfined_transport_has_no_layer_on():
    unconfined_info = SandboxInfo(landlock_abi=7, capabilities=(1 << 41) - 1)  # root's, as --no-sandbox reports

    assert [layer.on for layer in layers(unconfined_info)] == [False] * 5
    assert layers(unconfined_info)[0].detail == "file size unlimited, core unlimited, open files unlimited"
    assert not fully_confined(unconfined_info)


def test_a_kernel_without_landlock_is_not_held_against_the_transport():
    without = replace(CONFINED, landlock_abi=0, landlock_enforced=False)

    landlock_layer = layers(without)[-1]
    assert (landlock_layer.on, landlock_layer.supported) == (False, False)
    assert landlock_layer.detail == "unavailable: this kernel has no Landlock"
    assert fully_confined(without)


@pytest.mark.parametrize("missing", [
    {"landlock_enforced": False}, {"seccomp_mode": 0}, {"seccomp_mode": 1}, {"no_new_privs": False},
    {"capabilities": 1 << 21}, {"max_file_size": -1}, {"max_core_size": 1 << 20}, {"enabled": False},
], ids=str)
def test_a_layer_that_is_off_where_the_kernel_has_it_means_not_fully_confined(missing):
    assert not fully_confined(replace(CONFINED, **missing))


def test_capabilities_left_are_shown_in_hex():
    assert layers(replace(CONFINED, capabilities=1 << 21))[1].detail == "effective 0x200000"


def test_a_transport_that_reported_nothing_of_its_capabilities_is_not_counted_as_having_none():
    # An embedded transport's hello: it measured nothing, so nothing shows as on.
    assert [(layer.name, layer.on) for layer in layers(SandboxInfo())][:3] == [
        ("rlimits", False), ("capabilities", False), ("no-new-privs", False)]
    assert layers(SandboxInfo())[1].detail == "not known"


# --- a certificate's notAfter, read without cryptography ---------------------------------------


@pytest.fixture(scope="module")
def dating_authority() -> trustme.CA:
    return trustme.CA()


def der_of(certificate: trustme.LeafCert) -> bytes:
    return x509.load_pem_x509_certificate(certificate.cert_chain_pems[0].bytes()).public_bytes(Encoding.DER)


@pytest.mark.parametrize("year", [1950, 1969, 2030, 2049, 2050, 2107, 9999])
def test_not_after_reads_what_cryptography_reads(dating_authority, year):
    """Before 1970 it is negative; from 2050 on the certificate holds a GeneralizedTime."""
    first = datetime.datetime(1950, 1, 1, tzinfo=datetime.timezone.utc)  # cryptography's earliest
    end = datetime.datetime(year, 12, 31, 23, 59, 58, tzinfo=datetime.timezone.utc)
    der = der_of(dating_authority.issue_cert("localhost", not_before=first, not_after=end))

    assert not_after(der) == int(x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp())
    assert (b"\x18\x0f" + str(year).encode() in der) == (year >= 2050)  # GeneralizedTime, YYYY


def test_not_after_of_an_ordinary_certificate(dating_authority):
    der = der_of(dating_authority.issue_cert("localhost"))

    assert not_after(der) == int(x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp())


def test_not_after_of_what_is_no_certificate_is_none(dating_authority):
    leaf = dating_authority.issue_cert("localhost")
    der = der_of(leaf)
    public_key = x509.load_der_x509_certificate(der).public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)  # a SEQUENCE of SEQUENCEs, as a certificate is
    garbage = [b"", b"\x00", b"\x30", b"\x30\x80", b"\x30\x85\xff\xff\xff\xff\xff", der[: len(der) // 2], der[:-1],
               leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes(), public_key]

    assert [not_after(bytes_) for bytes_ in garbage] == [None] * len(garbage)


@given(st.binary(max_size=300))
def test_not_after_of_any_bytes_is_a_time_or_none_never_an_exception(data):
    assert not_after(data) is None or isinstance(not_after(data), int)


# --- a whole gathering, confined ------------------------------------------------------------


def test_a_whole_gathering_works_in_the_confined_transport(coturn, tls_coturn, certificate_authority, tmp_path,
                                                            monkeypatch):
    """STUN, TURN over UDP, TCP and TLS (its certificate verified against CA certificates read
    before confinement) and the relay check, in a transport confined by every layer."""
    certificate_authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # the transport inherits it
    turns = {**tls_coturn.ice_server("turns"), "urls": f"turns:localhost:{tls_coturn.tls_port}"}
    configuration = {"iceServers": [{"urls": coturn.url("stun")}, coturn.ice_server("turn", "udp"),
                                    coturn.ice_server("turn", "tcp"), turns]}

    async def gather() -> tuple[SandboxInfo, list[Any]]:
        client = await TransportClient.start()
        fired: list[Any] = []
        try:
            async with RTCPeerConnection(configuration, transport=client, options=CHECKED) as pc:
                for kind in ("icecandidate", "icecandidateerror", "icerelaycheck"):
                    pc.addEventListener(kind, fired.append)
                await asyncio.wait_for(pc.gather(), 30)
        finally:
            await client.aclose()
        return client.sandbox, fired

    sandbox, fired = asyncio.run(gather())

    assert fully_confined(sandbox)
    assert [event for event in fired if event.type == "icecandidateerror"] == []
    candidates = [event.candidate for event in fired if event.type == "icecandidate" and event.candidate]
    assert sorted(candidate.url for candidate in candidates if candidate.type == "relay") == sorted(
        server["urls"] for server in configuration["iceServers"][1:])
    assert [event.outcome for event in fired if event.type == "icerelaycheck"] == ["works"] * 3
