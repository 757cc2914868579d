"""A confined transport whose resolver file is replaced by rename (NetworkManager, DHCP clients,
``sed -i``), or its CA bundle (update-ca-certificates), restarts to read the new one: Landlock
holds the old file, not the name. It says so (``draining``); the supervisor sends new work to a
fresh transport at once, while the old one finishes what it has.

The pure part (which file is replaced) is tested on identities; the watch on real files in a
temporary directory; the CA bundle through
``SSL_CERT_FILE``; and the whole restart on the real ``/etc/hosts`` and ``/etc/resolv.conf``,
in a mount namespace of one thread of this process (root only) whose ``/etc`` is an overlay of
the real one: renames there touch neither the real ``/etc`` nor the rest of the test run, and
the transports that thread starts see only that ``/etc``.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import select
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from gathering_helpers import LOOPBACK, record_gathering
from local_exporter import exporter_process
from loop_waits import until
from process_stats import transport_processes_of
from stun_servers import ScriptedStunServer

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.supervision import Supervision
from icegather.main_proc.link.transport_client import TransportClient
from icegather.main_proc.link.transport_error import TransportError
from icegather.main_proc.link.transport_supervisor import TransportSupervisor
from icegather.shared import protocol
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule
from icegather.transport_proc.sandbox.file_watch import FileWatch, replaced, restart_cause

T = TypeVar("T")

CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
# A name only the new hosts file has.
NEW_NAME = "resolver-files.icegather.test"
RESTARTED = "restarted to read new configuration files (exit status 75)"


# --- which file is replaced (pure) ---------------------------------------------------------


def test_only_a_file_that_now_names_another_inode_is_replaced():
    recorded = {"/etc/hosts": (1, 10), "/etc/resolv.conf": (1, 11), "/etc/gai.conf": None, "/etc/host.conf": (1, 12)}
    now = {"/etc/hosts": (1, 20), "/etc/resolv.conf": (1, 11), "/etc/gai.conf": (1, 21), "/etc/host.conf": None}
    # hosts renamed over, resolv.conf written in place, gai.conf made, host.conf removed.
    assert replaced(recorded, now) == ("/etc/hosts", "/etc/gai.conf")


def test_a_restart_is_told_with_the_cause_of_the_first_watched_set_a_replaced_file_belongs_to():
    causes = {"/etc/hosts": "resolver_files_replaced", "/etc/ssl/ca.crt": "certificate_files_replaced"}
    assert restart_cause(("/etc/ssl/ca.crt",), causes) == "certificate_files_replaced"
    assert restart_cause(("/etc/ssl/ca.crt", "/etc/hosts"), causes) == "resolver_files_replaced"


# --- the watch on real files --------------------------------------------------------------


def replace_by_rename(path: Path, text: str) -> None:
    """What NetworkManager and ``sed -i`` do: a new file renamed over the old one."""
    new = path.with_name(path.name + ".new")
    new.write_text(text)
    os.rename(new, path)


def test_the_watch_reports_files_replaced_by_rename_and_not_files_written_in_place(tmp_path):
    (tmp_path / "run").mkdir()
    hosts, stub, link = tmp_path / "hosts", tmp_path / "run" / "stub.conf", tmp_path / "resolv.conf"
    hosts.write_text("127.0.0.1 localhost\n")
    stub.write_text("nameserver 127.0.0.53\n")
    link.symlink_to(stub)

    async def scenario() -> list[tuple[str, tuple[str, ...]]]:
        reports: list[tuple[str, tuple[str, ...]]] = []
        reported = asyncio.Event()

        def on_replaced(cause: str, files: tuple[str, ...]) -> None:
            reports.append((cause, files))
            reported.set()

        interval = 0.02
        watch = FileWatch.open({"resolver_files_replaced": [str(hosts), str(link)]}, interval)
        try:
            watch.follow(on_replaced)
            with hosts.open("a") as appended:  # in place: the same inode, which the rule holds
                appended.write("127.0.0.2 also\n")
            await asyncio.sleep(3 * interval)
            assert not reports
            replace_by_rename(stub, "nameserver 127.0.0.54\n")  # the link's target, as resolved does
            await asyncio.wait_for(reported.wait(), 5)
            replace_by_rename(hosts, "127.0.0.1 localhost\n")  # reported once only: it is restarting
            await asyncio.sleep(3 * interval)
        finally:
            watch.close()
        return reports

    assert asyncio.run(scenario()) == [("resolver_files_replaced", (str(link),))]


# --- the supervisor ---------------------------------------------------------------------


def test_the_supervisor_replaces_a_transport_that_has_exited_before_its_exit_is_read():
    async def scenario():
        supervisor = TransportSupervisor()
        try:
            first = await supervisor.client()
            first.process.popen.terminate()
            first.process.popen.wait()  # no turn of the loop: its client has not read the exit
            second = await supervisor.client()
            return first.transport_pid, second.transport_pid, supervisor.started
        finally:
            await supervisor.aclose()

    first, second, started = asyncio.run(scenario())
    assert first != second and started == 2


# --- the whole restart, in a mount namespace whose /etc is an overlay --------------------


def in_overlaid_etc(work: Path, call: Callable[[], T]) -> T:
    """``call()`` on a thread of its own in a new mount namespace whose ``/etc`` is an overlay of
    the real one (changes go to ``work``); the processes it starts live in that namespace."""

    def entered() -> T:
        libc = ctypes.CDLL(None, use_errno=True)
        for upper in ("upper", "work"):
            (work / upper).mkdir(parents=True)
        options = f"lowerdir=/etc,upperdir={work}/upper,workdir={work}/work".encode()
        for result, what in (
            (lambda: libc.unshare(CLONE_NEWNS), "unshare"),
            (lambda: libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /"),
            (lambda: libc.mount(b"overlay", b"/etc", b"overlay", 0, options), "mount overlay /etc"),
        ):
            if result() != 0:
                error = ctypes.get_errno()
                pytest.skip(f"{what}: {os.strerror(error)}")
        return call()

    if os.geteuid() != 0:
        pytest.skip("a mount namespace needs root")
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(entered).result()


# Gives a silent server up after 0.1 + 0.2 + 0.4 s: still running when the hosts file is replaced.
SLOW = GatherOptions(RetransmissionSchedule(0.1, 3, 4), local_addresses=("127.0.0.1",))


def unread_waits(client: TransportClient, within: float = 10) -> bool:
    """Block the loop, so that nothing is read, until a message from the transport waits."""
    deadline = time.monotonic() + within
    while not client._has_unread():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


async def held_open(supervisor: TransportSupervisor, url: str) -> RTCPeerConnection:
    """A peer connection that gathered from ``url`` and stays open: a job the transport keeps
    until it is closed (a transport that drains waits for it)."""
    held = RTCPeerConnection({"iceServers": [{"urls": url}]}, transport=supervisor, options=LOOPBACK)
    await held.gather()
    return held


def test_a_confined_transport_finishes_its_jobs_while_a_fresh_one_runs_the_new_ones_at_once(
    tmp_path, silent_udp_server, coturn, caplog
):
    new_url = f"stun:{NEW_NAME}:{coturn.port}"
    caplog.set_level(logging.INFO, logger="icegather.main_proc.link.transport_client")

    async def scenario():
        supervisor = TransportSupervisor()
        try:
            running = RTCPeerConnection({"iceServers": [{"urls": silent_udp_server.url()}]},
                                        transport=supervisor, options=SLOW)
            started = asyncio.Event()
            running.onicegatheringstatechange = lambda event: started.set()
            gathering = asyncio.ensure_future(running.gather())
            await started.wait()  # the transport has the job
            old = await supervisor.client()
            replace_by_rename(Path("/etc/hosts"), Path("/etc/hosts").read_text() + f"127.0.0.1 {NEW_NAME}\n")
            await until(lambda: old.draining is not None)
            recording = await record_gathering({"iceServers": [{"urls": new_url}]}, transport=supervisor)
            new = await supervisor.client()
            old_still_running = old.process.popen.poll() is None  # its job is open until closed
            await gathering
            finished = running.iceGatheringState
            running.close()
            await old.process.wait_exit()
            return old, new, old_still_running, finished, recording, supervisor.started
        finally:
            await supervisor.aclose()

    old, new, old_still_running, finished, recording, started = in_overlaid_etc(
        tmp_path, lambda: asyncio.run(scenario())
    )
    assert old.sandbox.landlock_enforced
    assert old.draining == protocol.Draining("resolver_files_replaced", ("/etc/hosts",))
    assert recording.errors == [] and [answer.url for answer in recording.answers] == [new_url]
    assert recording.transport_pid == new.transport_pid != old.transport_pid and old_still_running
    assert finished == "complete"
    assert old.process.popen.returncode == os.EX_TEMPFAIL and started == 2
    assert old.failure == f"the transport process (pid {old.transport_pid}) {RESTARTED}"
    said = [(record.levelno, record.getMessage()) for record in caplog.records
            if record.name == "icegather.main_proc.link.transport_client"]
    assert (logging.INFO, f"{old.failure}: as planned, and the next jobs go to a fresh transport") in said
    assert [message for level, message in said if level >= logging.WARNING] == []


def test_a_gathering_the_draining_transport_refused_before_its_notice_was_read_runs_on_the_fresh_one(
    tmp_path, coturn
):
    url = f"stun:127.0.0.1:{coturn.port}"

    async def scenario():
        supervisor = TransportSupervisor(Supervision(heartbeat_interval=0))  # nothing comes but the notice
        try:
            held = await held_open(supervisor, url)
            old = held.transport
            replace_by_rename(Path("/etc/hosts"), Path("/etc/hosts").read_text() + f"127.0.0.1 {NEW_NAME}\n")
            noticed = unread_waits(old)  # the transport's notice has come, and nothing has read it
            recording = await record_gathering({"iceServers": [{"urls": url}]}, transport=supervisor)
            held.close()
            await old.process.wait_exit()
            return old, noticed, recording, supervisor.started
        finally:
            await supervisor.aclose()

    old, noticed, recording, started = in_overlaid_etc(tmp_path, lambda: asyncio.run(scenario()))
    assert noticed and old.draining is not None
    assert old.moved == 1 and started == 2
    assert recording.errors == [] and [answer.url for answer in recording.answers] == [url]
    assert recording.states_seen == ["gathering", "complete"]


def test_a_confined_transport_restarts_when_its_ca_bundle_is_replaced_and_new_work_runs_on_a_fresh_one(
    tmp_path, monkeypatch, coturn
):
    bundle = tmp_path / "ca-certificates.crt"
    bundle.write_text(Path(ssl.get_default_verify_paths().openssl_cafile).read_text())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # the transports' CA bundle
    url = f"stun:127.0.0.1:{coturn.port}"

    async def scenario():
        supervisor = TransportSupervisor()
        try:
            held = await held_open(supervisor, url)
            old = held.transport
            replace_by_rename(bundle, bundle.read_text())  # as update-ca-certificates does
            await until(lambda: old.draining is not None)
            recording = await record_gathering({"iceServers": [{"urls": url}]}, transport=supervisor)
            old_still_running = old.process.popen.poll() is None
            held.close()
            await old.process.wait_exit()
            return old, recording, old_still_running, supervisor.started
        finally:
            await supervisor.aclose()

    old, recording, old_still_running, started = asyncio.run(scenario())
    assert old.sandbox.landlock_enforced
    assert old.draining == protocol.Draining("certificate_files_replaced", (str(bundle),))
    assert recording.errors == [] and recording.transport_pid != old.transport_pid and old_still_running
    assert old.process.popen.returncode == os.EX_TEMPFAIL and started == 2


def test_an_unconfined_transport_reads_the_replaced_file_and_goes_on(tmp_path, coturn):
    async def scenario():
        supervisor = TransportSupervisor(connect=lambda s: TransportClient.start(supervision=s, sandbox=False))
        try:
            first = await supervisor.client()
            replace_by_rename(Path("/etc/hosts"), Path("/etc/hosts").read_text() + f"127.0.0.1 {NEW_NAME}\n")
            recording = await record_gathering({"iceServers": [{"urls": f"stun:{NEW_NAME}:{coturn.port}"}]},
                                               transport=supervisor)
            return first.transport_pid, recording, supervisor.started
        finally:
            await supervisor.aclose()

    pid, recording, started = in_overlaid_etc(tmp_path, lambda: asyncio.run(scenario()))
    assert recording.errors == [] and len(recording.answers) == 1
    assert recording.transport_pid == pid and started == 1


def test_a_standalone_service_exits_75_saying_why_when_resolv_conf_is_replaced(tmp_path):
    directory = tmp_path / "service"

    def scenario() -> tuple[subprocess.Popen[str], str]:
        command = [sys.executable, "-I", "-m", "icegather.transport_proc", "--bind", f"ipc://{directory}/transport"]
        service = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        async def connected() -> None:  # once it answers, it is confined and watching
            client = await TransportClient.connect(f"ipc://{directory}/transport", supervision=Supervision(0, 0))
            client.close()

        try:
            asyncio.run(connected())
            replace_by_rename(Path("/etc/resolv.conf"), Path("/etc/resolv.conf").read_text())
            _, stderr = service.communicate(timeout=30)
        finally:
            service.kill()
        return service, stderr

    service, stderr = in_overlaid_etc(tmp_path, scenario)
    assert service.returncode == os.EX_TEMPFAIL
    assert stderr.splitlines() == [
        f"transport[{service.pid}] WARNING icegather.transport_proc.service: /etc/resolv.conf replaced by a file "
        "this sandbox may not read: refusing new jobs, waiting for 0 running ones, then exiting with status 75 "
        "to be restarted"
    ]


def test_a_supervisor_connects_to_a_draining_service_again_only_once_the_service_has_ended(tmp_path, coturn):
    endpoint = f"ipc://{tmp_path}/service/transport"
    url = f"stun:127.0.0.1:{coturn.port}"

    async def supervised() -> tuple[TransportClient, str, int]:
        supervisor = TransportSupervisor(connect=lambda s: TransportClient.connect(endpoint, supervision=s))
        try:
            held = await held_open(supervisor, url)
            old = held.transport
            replace_by_rename(Path("/etc/hosts"), Path("/etc/hosts").read_text() + f"127.0.0.1 {NEW_NAME}\n")
            await until(lambda: old.draining is not None)
            refused = RTCPeerConnection({"iceServers": [{"urls": url}]}, transport=supervisor, options=LOOPBACK)
            with pytest.raises(TransportError) as refusal:  # a new connection would reach the same process
                await refused.gather()
            refused.close()
            connected_while_draining = supervisor.started
            held.close()
            await until(lambda: old.failure is not None)
            return old, str(refusal.value), connected_while_draining
        finally:
            await supervisor.aclose()

    def scenario() -> tuple[int | None, tuple[TransportClient, str, int]]:
        command = [sys.executable, "-I", "-m", "icegather.transport_proc", "--bind", endpoint]
        service = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            result = asyncio.run(supervised())
            service.wait(timeout=30)
        finally:
            service.kill()
        return service.returncode, result

    status, (old, refusal, connected_while_draining) = in_overlaid_etc(tmp_path / "etc", scenario)
    assert refusal == "the transport refused to gather: the transport is restarting to read the new resolver " \
        "configuration (/etc/hosts)"
    assert connected_while_draining == 1 and old.moved == 0
    assert status == os.EX_TEMPFAIL and old.failure == f"the connection to the transport at {endpoint} was lost"


def exited(pid: int, within: float = 30) -> bool:
    """Whether process ``pid`` (another's child) exits within ``within`` seconds."""
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:  # gone already
        return True
    try:
        return bool(select.select([descriptor], [], [], within)[0])
    finally:
        os.close(descriptor)


def test_the_exporter_finishes_a_probe_in_flight_on_the_old_transport_and_runs_an_overlapping_one_on_a_new_one(
    tmp_path, coturn
):
    asked = threading.Event()

    def silent(request: object, source: object) -> None:
        asked.set()  # the old transport has the probe's gathering

    config = tmp_path / "icegather.yml"
    module = {"local_addresses": ["127.0.0.1"], "schedule": {"rto": 0.1, "max_sends": 3, "final_wait": 4}}
    config.write_text(json.dumps({"modules": {"fast": module}}))  # JSON is YAML

    def scenario():
        with ScriptedStunServer(silent) as server, exporter_process(config, tmp_path / "exporter.log") as exporter:
            exporter.get(f"/probe?module=fast&target=stun:127.0.0.1:{coturn.port}")
            [old] = transport_processes_of(exporter.process.pid)
            with ThreadPoolExecutor(1) as pool:
                in_flight = pool.submit(exporter.get, f"/probe?module=fast&target={server.url()}")
                assert asked.wait(10)
                replace_by_rename(Path("/etc/hosts"), Path("/etc/hosts").read_text() + f"127.0.0.1 {NEW_NAME}\n")
                overlapping = exporter.get(f"/probe?module=fast&target=stun:127.0.0.1:{coturn.port}")
                during = in_flight.result()
            old_exited = exited(old)
            after = exporter.get(f"/probe?module=fast&target=stun:{NEW_NAME}:{coturn.port}")
            return old, old_exited, during, overlapping, after, exporter.metrics(), exporter.log

    old, old_exited, during, overlapping, after, metrics, log = in_overlaid_etc(tmp_path / "etc", scenario)
    assert during.value("icegather_server_failure", cause="silent") == 1  # finished, on the old one
    assert overlapping.value("icegather_probe_success") == 1  # asked while the old one drained: not refused
    assert old_exited
    assert after.value("icegather_probe_success") == 1
    assert metrics.value("icegather_exporter_transport_starts_total") == 2
    assert f"INFO icegather.main_proc.link.transport_client: the transport process (pid {old}) {RESTARTED}: as " \
        "planned" in log.read_text()
