"""No single input takes a transport down: what one URL, one client or one message does stays
with it. Real transport processes and real ZeroMQ sockets, except where the service's own table
is what is checked (then the service runs in this process, on a real socket)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import msgpack
import pytest
import zmq
import zmq.asyncio
from commands import ICEGATHER
from fake_transport import lingerless_context
from gathering_helpers import FAST_SCHEDULE, record_gathering
from test_service import a_rogue_client_then_a_gathering, running_service

from icegather.main_proc.link.transport_client import TransportClient
from icegather.shared import protocol
from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule
from icegather.shared.config.ice_config import parse_configuration
from icegather.shared.protocol import codec
from icegather.shared.protocol.checks import MAX_TEXT
from icegather.shared.structs import IceCandidateErrorInfo, SandboxInfo
from icegather.transport_proc.service import TransportService, contained

LONG_HOST = "a" * 600 + ".invalid"
FAST = ["--rto", "0.05", "--max-sends", "2", "--final-wait", "2", "--local-address", "127.0.0.1"]


def test_a_600_character_host_fails_its_url_with_a_clear_error_and_nothing_else(closed_udp_port):
    result = subprocess.run(
        [ICEGATHER, "--json", "-s", f"stun:{LONG_HOST}", "-s", f"stun:127.0.0.1:{closed_udp_port}", *FAST],
        capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 1, result.stderr
    errors = {r["url"]: r for r in map(json.loads, result.stdout.splitlines()) if r["type"] == "icecandidateerror"}
    long_error = errors[f"stun:{LONG_HOST}"]
    assert long_error["errorCause"] == "dns"
    assert f"... ({len(LONG_HOST)} characters)" in long_error["errorText"] and len(long_error["errorText"]) <= MAX_TEXT
    assert errors[f"stun:127.0.0.1:{closed_udp_port}"]["errorCause"] == "port_unreachable"


def test_a_gathering_beside_a_hostile_one_on_a_shared_transport_is_unaffected(closed_udp_port):
    async def scenario():
        transport = await TransportClient.start()
        try:
            return await asyncio.gather(
                record_gathering({"iceServers": [{"urls": f"stun:{LONG_HOST}"}]}, transport=transport),
                record_gathering({"iceServers": [{"urls": f"stun:127.0.0.1:{closed_udp_port}"}]}, transport=transport),
            )
        finally:
            await transport.aclose()

    hostile, beside = asyncio.run(scenario())
    assert [e.errorCause for e in hostile.errors] == ["dns"]
    assert [e.errorCause for e in beside.errors] == ["port_unreachable"]
    assert beside.states_seen[-1] == "complete"


def test_a_report_that_would_break_the_schema_is_sent_as_an_internal_error_of_its_url():
    broken = protocol.CandidateError(1, IceCandidateErrorInfo("127.0.0.1", 5000, "stun:x", 701, "x" * 600, "dns"))
    with pytest.raises(protocol.ProtocolError):
        protocol.encode(broken, 0)  # what the receiver would refuse is refused when it is sent

    replacement = contained(broken, "error_text too long")
    assert isinstance(replacement, protocol.CandidateError)
    info = replacement.info
    assert (info.url, info.error_code, info.cause) == ("stun:x", 701, "internal_error")
    protocol.encode(replacement, 0)  # it passes
    assert contained(protocol.GatheringState(1, "gathering"), "any") is None  # other reports are dropped


@pytest.mark.parametrize("broken", [
    protocol.CandidateError(1, IceCandidateErrorInfo("127.0.0.1", 5000, "stun:x", 701, "x" * 600, "dns")),  # a field
    protocol.CandidateError(1, IceCandidateErrorInfo("", 5000, "stun:x", 701, "lookup", "dns")),  # a rule
    protocol.CandidateError(1, IceCandidateErrorInfo("127.0.0.1", 5000, "stun:x", 401, "Unauthorized", "dns")),
    protocol.ServerHello(1, sandbox=SandboxInfo(seccomp_mode=7)),  # in a nested struct
], ids=["field", "address without port", "cause of the wrong code", "nested"])
def test_what_the_receiver_would_refuse_the_sender_refuses_with_the_same_reason(broken):
    as_sent = msgpack.packb({"type": broken.WIRE.name, "seq": 0, **codec._encode_value(broken)})  # unchecked
    with pytest.raises(protocol.ProtocolError) as received:
        list(protocol.decode_to_main(as_sent))
    with pytest.raises(protocol.ProtocolError) as sent:
        protocol.encode(broken, 0)

    assert str(sent.value) == str(received.value)


def test_a_message_type_that_is_not_a_string_is_a_protocol_error_not_a_crash():
    for kind in ([1], {"a": 1}, 7, None, b"gather"):
        with pytest.raises(protocol.ProtocolError):
            list(protocol.decode_to_transport(msgpack.packb({"type": kind, "seq": 0}, use_bin_type=True)))
        with pytest.raises(protocol.ProtocolError):
            list(protocol.decode_to_main(msgpack.packb({"type": kind, "seq": 0}, use_bin_type=True)))


def test_a_message_that_fails_validation_uses_its_sequence_number():
    inbox = protocol.Inbox(protocol.decode_to_transport)
    list(inbox.read(protocol.encode(protocol.ClientHello(), 0)))
    with pytest.raises(protocol.InvalidMessage):
        list(inbox.read(msgpack.packb({"type": "close", "seq": 1, "pc_id": "not a number"})))
    # The next message is not taken for one that follows a lost message.
    assert list(inbox.read(protocol.encode(protocol.Close(3), 2))) == [protocol.Close(3)]


def test_the_service_survives_a_hostile_client_and_answers_its_undecodable_gather(tmp_path):
    endpoint = f"ipc://{tmp_path}/run/transport"

    async def misbehave(rogue: zmq.asyncio.Socket) -> list[tuple[int, protocol.Message]]:
        await rogue.send(protocol.encode(protocol.ClientHello(), 0))
        await asyncio.wait_for(rogue.recv(), 10)
        await rogue.send(msgpack.packb({"type": [1], "seq": 1}))
        await rogue.send(msgpack.packb({"type": "gather", "seq": 1, "pc_id": 7, "configuration": {}, "options": 1}))
        answer = list(protocol.decode_to_main(await asyncio.wait_for(rogue.recv(), 10)))
        # Its number was used: a close after it is no protocol error ("lost" messages).
        await rogue.send(protocol.encode(protocol.Close(7), 2))
        return answer

    with running_service("--bind", endpoint, ready=tmp_path / "run" / "transport") as process:
        answer, recording = asyncio.run(a_rogue_client_then_a_gathering(endpoint, misbehave))
    log = process.stderr.read()

    [(_, rejected)] = answer
    assert isinstance(rejected, protocol.GatherRejected) and rejected.pc_id == 7
    assert rejected.reason.startswith("invalid gather: Gather.options:")
    assert "rejected a message (2 so far)" in log and "rejected a message (3 so far)" not in log
    assert [e.errorCode for e in recording.errors] == [701]  # the next client is served


def test_clients_that_never_say_hello_are_not_kept(tmp_path):
    endpoint = f"ipc://{tmp_path}/transport"

    async def scenario() -> TransportService:
        context = lingerless_context()
        sock = context.socket(zmq.ROUTER)
        service = TransportService(sock)
        sock.bind(endpoint)
        serving = asyncio.ensure_future(service.serve())
        for _ in range(50):
            stranger = context.socket(zmq.DEALER)
            stranger.connect(endpoint)
            await stranger.send(protocol.encode(protocol.Close(1), 0))  # valid, but before any hello
            stranger.close(linger=1000)
        # A client that says hello is answered after everything sent before it was read.
        friend = context.socket(zmq.DEALER)
        friend.connect(endpoint)
        await friend.send(protocol.encode(protocol.ClientHello(), 0))
        await asyncio.wait_for(friend.recv(), 10)
        friend.close(linger=0)
        serving.cancel()
        service.connections.close()
        sock.close(linger=0)
        context.term()
        return service

    service = asyncio.run(scenario())
    assert service.rejected == 50
    assert len(service.clients) == 1  # the friend's only


def test_a_repeated_local_address_opens_one_host_socket(closed_udp_port):
    repeated = GatherOptions(schedule=FAST_SCHEDULE, local_addresses=("127.0.0.1", "127.0.0.1"))

    async def scenario() -> list[int]:
        transport = await TransportClient.start()
        open_files = []
        try:
            for _ in range(20):
                configuration = {"iceServers": [{"urls": f"stun:127.0.0.1:{closed_udp_port}"}]}
                recording = await record_gathering(configuration, repeated, transport=transport)
                assert len(recording.of_type("host")) == 1
                open_files.append(len(os.listdir(f"/proc/{transport.transport_pid}/fd")))
        finally:
            await transport.aclose()
        return open_files

    open_files = asyncio.run(scenario())
    assert open_files[-1] <= open_files[0]  # no socket left behind per gathering


def test_a_schedule_the_protocol_would_refuse_is_refused_where_it_is_made():
    with pytest.raises(ValueError, match="gives up on a silent server after 1140 s"):
        RetransmissionSchedule(60, 5, 4)
    with pytest.raises(ValueError, match="initial_rto"):
        RetransmissionSchedule(0)
    with pytest.raises(ValueError, match="in local_addresses is not an IP address"):
        GatherOptions(local_addresses=("nope",))
    # The longest schedule allowed fits every time the protocol carries.
    longest = RetransmissionSchedule(30, 5, 4)
    assert longest.give_up_after == 570
    configuration = parse_configuration({"iceServers": [{"urls": "stun:127.0.0.1:9"}]})
    protocol.encode(protocol.Gather(1, configuration, GatherOptions(schedule=longest)), 0)


def test_the_command_line_refuses_a_schedule_over_the_limit_as_bad_input():
    result = subprocess.run([ICEGATHER, "-s", "stun:127.0.0.1:9", "--rto", "60", "--trace"],
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 2
    assert result.stderr == (
        "icegather: --rto, --max-sends and --final-wait: this schedule gives up on a silent server after 1140 s; "
        "at most 600 s is allowed\n"
    )

