"""What software a server says it runs (its SOFTWARE attribute): a ``software`` iceservernote,
fired before the answer that named it. Since protocol 13 a URL's first answer carries it to the
main process; the events are the same. Real STUN servers on loopback, real transports."""

from __future__ import annotations

import asyncio

from aioice import stun
from gathering_helpers import LOOPBACK
from stun_servers import ScriptedStunServer, response

from icegather.main_proc.dom.peerconnection import RTCPeerConnection
from icegather.main_proc.link.transport_client import TransportClient
from icegather.shared.net.endpoints import Address


def naming(software: str) -> object:
    """A Binding server that names itself ``software`` in its answer."""

    def script(request: stun.Message, source: Address) -> bytes:
        return bytes(response(request, stun.Class.RESPONSE, **{"XOR-MAPPED-ADDRESS": source, "SOFTWARE": software}))

    return script


def server_events(server: ScriptedStunServer) -> list[tuple[str, str]]:
    async def gather() -> list[tuple[str, str]]:
        fired: list[tuple[str, str]] = []
        async with RTCPeerConnection({"iceServers": [{"urls": server.url()}]}, options=LOOPBACK) as pc:
            pc.addEventListener("iceservernote", lambda note: fired.append((note.note, note.detail)))
            pc.addEventListener("iceserveranswer", lambda answer: fired.append(("answer", answer.url)))
            await asyncio.wait_for(pc.gather(), 30)
        return fired

    return asyncio.run(gather())


def test_the_software_a_first_answer_names_is_one_note_fired_before_the_answer_without_its_control_characters():
    with ScriptedStunServer(naming("Scripted\x07 STUN  1.0")) as server:
        assert server_events(server) == [("software", "Scripted STUN 1.0"), ("answer", server.url())]


def test_a_software_of_control_characters_alone_names_nothing():
    with ScriptedStunServer(naming("\x07\x1b\r\n")) as server:
        assert server_events(server) == [("answer", server.url())]


def test_a_listener_that_closes_its_connection_on_the_software_note_leaves_a_shared_transport_serving():
    # The note and the answer come in one message: the answer then finds its connection
    # closed, which is no fault of the transport's, whose other connections carry on.
    async def gather(url: str) -> tuple[list[str], list[str]]:
        client = await TransportClient.start()
        try:
            closing = RTCPeerConnection({"iceServers": [{"urls": url}]}, transport=client, options=LOOPBACK)
            other = RTCPeerConnection({"iceServers": [{"urls": url}]}, transport=client, options=LOOPBACK)
            heard: list[str] = []
            closing.addEventListener("iceservernote", lambda note: closing.close())
            closing.addEventListener("iceserveranswer", lambda answer: heard.append("closed connection's answer"))
            other.addEventListener("iceserveranswer", lambda answer: heard.append("answer"))
            await asyncio.wait_for(asyncio.gather(closing.gather(), other.gather()), 30)
            later = RTCPeerConnection({"iceServers": [{"urls": url}]}, transport=client, options=LOOPBACK)
            states: list[str] = []
            later.addEventListener("icegatheringstatechange", lambda event: states.append(later.iceGatheringState))
            await asyncio.wait_for(later.gather(), 30)
            later.close()
            other.close()
            return heard, states
        finally:
            await client.aclose()

    with ScriptedStunServer(naming("Scripted STUN 1.0")) as server:
        heard, states = asyncio.run(gather(server.url()))
    assert heard == ["answer"]
    assert states == ["gathering", "complete"]  # the transport still serves
