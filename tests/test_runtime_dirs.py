"""Where the transports a main process starts keep their IPC sockets (``shared.runtime_dirs``):
in ``$XDG_RUNTIME_DIR`` when it is the user's own, so that another user cannot take the place
first; a parent that another user took, or that others can open, is refused in one line that
names the fix; and a confined transport still removes its own directory there."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from commands import ICEGATHER
from sandbox_harness import server_hello

from icegather.main_proc.link.sandbox_layers import fully_confined
from icegather.main_proc.link.transport_process import made_runtime_parent
from icegather.shared import protocol, runtime_dirs
from icegather.shared.runtime_dirs import FIX_OWNER, refusal, runtime_parent

ANOTHER_USER = 65534  # nobody
UID = os.getuid()


def status(mode: int, uid: int = UID) -> os.stat_result:
    return os.stat_result((mode, 0, 0, 1, uid, 0, 4096, 0, 0, 0))


@pytest.fixture
def short_directory() -> Iterator[Path]:
    """A fresh directory of this user's, mode 700, with a short path: an ipc:// socket's path
    has at most 107 bytes, and pytest's tmp_path is long."""
    directory = Path(tempfile.mkdtemp())
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_a_directory_of_this_user_s_alone_may_hold_the_sockets():
    assert refusal(status(0o40700), UID) is None


@pytest.mark.parametrize(("mode", "uid", "reason"), [
    (0o40700, ANOTHER_USER, f"belongs to user {ANOTHER_USER}, not to you ({UID}): {FIX_OWNER}"),
    (0o40770, UID, "is open to others (mode 770): chmod 700 it"),
    (0o40701, UID, "is open to others (mode 701): chmod 700 it"),
    (0o120777, UID, "is not a directory: remove it"),  # a symbolic link, even to a good one
    (0o100600, UID, "is not a directory: remove it"),
], ids=["another user's", "group", "others", "a link", "a file"])
def test_a_directory_another_user_owns_or_others_can_open_is_refused_with_its_fix(mode, uid, reason):
    assert refusal(status(mode, uid), UID) == reason


def test_xdg_runtime_dir_is_preferred_when_it_is_the_user_s_alone(short_directory):
    assert runtime_parent({"XDG_RUNTIME_DIR": str(short_directory)}) == short_directory / "icegather-transports"


@pytest.mark.parametrize("xdg", ["", "relative/run", "/nonexistent/run", "open"])
def test_without_a_usable_xdg_runtime_dir_the_parent_is_in_the_temporary_directory(short_directory, xdg):
    if xdg == "open":
        xdg = str(short_directory)
        short_directory.chmod(0o755)  # XDG's own rule: mode 700

    assert runtime_parent({"XDG_RUNTIME_DIR": xdg}) == Path(tempfile.gettempdir(), f"icegather-{UID}")


@pytest.fixture
def squatted_temporary_directory(short_directory: Path) -> Path:
    """A temporary directory in which another user made this user's ``icegather-UID`` first."""
    if UID != 0:
        pytest.skip("making a directory of another user's needs root")
    taken = short_directory / f"icegather-{UID}"
    taken.mkdir(mode=0o700)
    os.chown(taken, ANOTHER_USER, -1)
    return short_directory


def without_xdg(**extra: str) -> dict[str, str]:
    return {**{name: value for name, value in os.environ.items() if name != "XDG_RUNTIME_DIR"}, **extra}


@pytest.mark.parametrize("command", [["-s"], ["audit"]], ids=["icegather", "icegather audit"])
def test_a_parent_another_user_took_first_is_refused_in_one_line_naming_the_fix(squatted_temporary_directory,
                                                                                command):
    result = subprocess.run([ICEGATHER, *command, "stun:127.0.0.1:9"], capture_output=True, text=True, timeout=60,
                            env=without_xdg(TMPDIR=str(squatted_temporary_directory)))

    prefix = "icegather audit" if command == ["audit"] else "icegather"
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (f"{prefix}: {squatted_temporary_directory}/icegather-{UID} belongs to user "
                             f"{ANOTHER_USER}, not to you ({UID}): {FIX_OWNER}\n")


def test_with_xdg_runtime_dir_a_parent_another_user_took_in_the_temporary_directory_does_not_matter(
        squatted_temporary_directory, short_directory):
    xdg = short_directory / "run"
    xdg.mkdir(mode=0o700)

    result = subprocess.run([ICEGATHER, "sandbox"], capture_output=True, text=True, timeout=60,
                            env=without_xdg(TMPDIR=str(squatted_temporary_directory), XDG_RUNTIME_DIR=str(xdg)))

    assert (result.returncode, result.stderr) == (0, "")
    assert os.listdir(xdg / "icegather-transports") == []  # made, and the transport's own directory removed


def test_a_confined_transport_removes_its_own_directory_under_xdg_runtime_dir(short_directory, monkeypatch):
    """Its sandbox grants removal beneath the parent, wherever the parent is."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short_directory))  # the transport inherits it
    runtime_dir = tempfile.mkdtemp(prefix=runtime_dirs.PREFIX, dir=made_runtime_parent())
    endpoint = f"ipc://{runtime_dir}/transport"
    popen = subprocess.Popen([sys.executable, "-I", "-m", "icegather.transport_proc", "--bind", endpoint,
                              "--watch-stdin", "--remove-runtime-dir"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    try:
        greeting = asyncio.run(server_hello(endpoint))
        _, stderr = popen.communicate(b"", timeout=30)  # the end of its stdin: it stops
    finally:
        popen.kill()
        popen.wait()

    assert isinstance(greeting, protocol.ServerHello) and fully_confined(greeting.sandbox)
    assert (popen.returncode, stderr) == (0, b"")
    assert Path(runtime_dir).parent == short_directory / "icegather-transports"
    assert not os.path.exists(runtime_dir)


def processes_naming(path: Path) -> list[str]:
    """The running processes whose command line names ``path``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:  # it ended while we looked
            continue
        if str(path).encode() in cmdline:
            found.append(pid)
    return found


def test_a_transport_spawned_for_input_that_proves_bad_is_gone_with_its_directory_when_the_command_ends(
    short_directory,
):
    """The command line spawns its transport as soon as its arguments parse, before it validates
    the configuration; bad input found then kills it and removes its directory."""
    xdg = short_directory / "run"
    xdg.mkdir(mode=0o700)

    result = subprocess.run([ICEGATHER, "-s", "http://x"], capture_output=True, text=True, timeout=60,
                            env=without_xdg(XDG_RUNTIME_DIR=str(xdg)))

    assert result.returncode == 2
    assert result.stderr.startswith("icegather: SyntaxError: ICE server URL 'http://x'")
    assert os.listdir(xdg / "icegather-transports") == []  # made for the transport, whose directory is gone
    assert processes_naming(xdg) == []


def test_ctrl_c_while_the_input_is_read_ends_the_command_and_its_transport_quietly(short_directory):
    """A credential read from a pipe blocks the command after its transport was spawned; Ctrl-C
    there (SIGINT to the terminal's process group) exits 130 with no traceback, and leaves no
    transport and no directory behind."""
    xdg = short_directory / "run"
    xdg.mkdir(mode=0o700)
    fifo = short_directory / "credential"
    os.mkfifo(fifo)
    command = subprocess.Popen([ICEGATHER, "-s", "turn:127.0.0.1:9", "-u", "alice", "--credential-file", str(fifo)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               env=without_xdg(XDG_RUNTIME_DIR=str(xdg)))
    try:
        spawned = xdg / "icegather-transports"
        deadline = time.monotonic() + 30
        while not (spawned.is_dir() and os.listdir(spawned)) and time.monotonic() < deadline:
            time.sleep(0.005)  # until the transport's directory is made: the command is past the spawn
        os.killpg(command.pid, signal.SIGINT)
        out, err = command.communicate(timeout=30)
    finally:
        command.kill()
        command.wait()

    assert (command.returncode, out, err) == (130, "", "")
    assert os.listdir(spawned) == []
    assert processes_naming(xdg) == []


def test_bad_input_is_one_line_whatever_the_transport_started_for_it_said_first(short_directory):
    """The transport is spawned before the input is validated; what it writes on its standard
    error (here: that it runs without a sandbox) is held until the input is found good."""
    xdg = short_directory / "run"
    xdg.mkdir(mode=0o700)
    fifo = short_directory / "credential"
    os.mkfifo(fifo)
    command = subprocess.Popen(
        [ICEGATHER, "--no-sandbox", "-s", "http://x", "-u", "alice", "--credential-file", str(fifo)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=without_xdg(XDG_RUNTIME_DIR=str(xdg)),
    )
    try:
        deadline = time.monotonic() + 30
        while not list(xdg.glob("icegather-transports/transport-*/transport")) and time.monotonic() < deadline:
            time.sleep(0.005)  # until the transport serves: it has warned by then
        fifo.write_text("secret")  # the command reads its credential, then refuses the URL
        out, err = command.communicate(timeout=30)
    finally:
        command.kill()
        command.wait()

    assert (command.returncode, out) == (2, "")
    assert err.splitlines() == ["icegather: SyntaxError: ICE server URL 'http://x': the scheme must be stun:, "
                                "stuns:, turn: or turns:"]
