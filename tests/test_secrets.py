"""Credentials go where they are needed, the transport, and nowhere else: not back over IPC,
not into logs of either process (even at DEBUG), events, reprs or error messages."""

from __future__ import annotations

import asyncio
import logging

from gathering_helpers import LOOPBACK, record_gathering
from local_coturn import free_port, local_coturn

from icegather.main_proc.link.transport_client import TransportClient
from icegather.shared import protocol
from icegather.shared.protocol.messages import TO_MAIN
from icegather.shared.protocol.schemas import fields_of
from icegather.shared.structs import CandidateInfo, IceCandidateErrorInfo, ServerAnswerInfo

SECRET = "Xq7-very-secret-credential"


def test_the_credential_is_in_no_log_event_or_repr_of_either_process(capfd, caplog):
    caplog.set_level(logging.DEBUG)
    with local_coturn(password=SECRET) as turn:
        configuration = {
            "iceServers": [
                turn.ice_server("turn"),  # succeeds with the secret
                turn.ice_server("turn", transport="tcp", password=SECRET + "-wrong"),  # 401
                {"urls": f"turn:127.0.0.1:{free_port()}?transport=tcp", "username": "u", "credential": SECRET},
                {"urls": "turns:turn.invalid", "username": "u", "credential": SECRET},
            ]
        }

        async def scenario():
            transport = await TransportClient.start(log_level="DEBUG")  # its stderr is ours
            try:
                return await record_gathering(configuration, LOOPBACK, transport)
            finally:
                transport.close()

        recording = asyncio.run(scenario())
        coturn_log = turn.log

    captured = capfd.readouterr()
    assert "DEBUG" in captured.err or "INFO" in captured.err  # the transport did log
    assert len(recording.of_type("relay")) == 1 and len(recording.errors) == 3
    seen = [captured.out, captured.err, caplog.text] + [repr(e) + str(vars(e)) for e in recording.events]
    for text in seen:
        assert SECRET not in text
    assert "alice" in coturn_log  # the server did get the request (and keeps its own secrets)


def test_no_message_to_the_main_process_has_room_for_a_credential():
    def fields(cls: type) -> set[str]:
        return set(fields_of(cls))

    to_main = set().union(*(fields(cls) for cls in TO_MAIN.values()))
    for struct in (IceCandidateErrorInfo, CandidateInfo, ServerAnswerInfo):
        to_main |= fields(struct)
    assert not to_main & {"configuration", "credential", "username", "password"}
    assert "configuration" in fields(protocol.Gather)  # it does travel the other way
