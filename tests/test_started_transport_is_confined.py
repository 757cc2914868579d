"""The sandbox of a transport the main process starts: what ``/proc`` shows of it, what
``icegather sandbox`` prints and how it reads the layers, a standalone service that logs to a file,
and a whole gathering, confined."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgpack
import pytest
from commands import ICEGATHER
from gathering_helpers import LOOPBACK
from sandbox_harness import server_hello

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.sandbox_layers import fully_confined, layers
from icegather.main_proc.link.transport_client import TransportClient
from icegather.main_proc.link.transport_process import TransportProcess, made_runtime_parent
from icegather.shared import protocol
from icegather.shared.structs import SandboxInfo
from icegather.transport_proc.sandbox import landlock

CHECKED = replace(LOOPBACK, relay_check=True)


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

    try:
        # Not a message first: the service logs a warning.
        hello = asyncio.run(server_hello(endpoint, msgpack.packb([1, 2])))
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
