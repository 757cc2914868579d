"""``turns:`` and ``stuns:``: a certificate nobody trusts, or one for another name, fires 701
naming the TLS failure; told to, a self-signed server is accepted; a ``stuns:`` answer is
reported but makes no UDP candidate; a TLS connection closes at once, whatever the server does.
Real coturn with certificates the tests make."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator

import trustme
from gathering_helpers import FAST_SCHEDULE, gather
from loop_waits import until
from stun_servers import ScriptedTcpServer, answer_binding_over_stream

from icegather.shared.config.gather_options import GatherOptions
from icegather.transport_proc.stun.channels import StreamChannel, bind_socket
from icegather.transport_proc.stun.tls_contexts import tls_context

INSECURE_TLS = GatherOptions(schedule=FAST_SCHEDULE, local_addresses=("127.0.0.1",), verify_tls=False)


def test_turns_with_a_certificate_nobody_trusts_fires_701_naming_the_tls_failure(tls_coturn):
    url = tls_coturn.url("turns")
    recording = gather({"iceServers": [tls_coturn.ice_server("turns")]})

    [error] = recording.errors
    assert (error.errorCode, error.url) == (701, url)
    assert error.errorText.startswith(f"TLS handshake with 127.0.0.1:{tls_coturn.tls_port} failed: ")
    assert "certificate" in error.errorText
    assert error.address == "127.0.0.1" and error.port is not None
    assert recording.of_type("relay") == []


def test_turns_and_stuns_work_against_a_self_signed_server_when_told_to_accept_it(tls_coturn):
    configuration = {"iceServers": [tls_coturn.ice_server("turns"), {"urls": tls_coturn.url("stuns")}]}
    recording = gather(configuration, INSECURE_TLS)

    assert recording.errors == []
    [relay] = recording.of_type("relay")
    assert (relay.url, relay.relayProtocol) == (tls_coturn.url("turns"), "tls")


def test_a_stuns_answer_is_reported_but_makes_no_udp_srflx_candidate(certificate_authority):
    # RFC 7064: STUN over TLS learns the mapped address of that TLS connection, which closes
    # right after; it says nothing about a UDP socket, so it is not a UDP srflx candidate.
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1").configure_cert(tls)
    with ScriptedTcpServer(answer_binding_over_stream(("203.0.113.7", 40000)), tls=tls) as server:
        url = f"stuns:127.0.0.1:{server.port}"
        recording = gather({"iceServers": [{"urls": url}]}, INSECURE_TLS)

    assert recording.errors == []
    assert recording.of_type("srflx") == []
    [answer] = recording.answers
    assert answer.url == url


def test_turns_verifies_the_certificate_against_the_trusted_cas_and_the_host_name(
    tls_coturn, certificate_authority, tmp_path, monkeypatch
):
    bundle = tmp_path / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # the transport process inherits it
    port = tls_coturn.tls_port
    server = {"username": tls_coturn.username, "credential": tls_coturn.password}
    by_name, by_address = f"turns:localhost:{port}", f"turns:127.0.0.1:{port}"

    recording = gather({"iceServers": [{**server, "urls": by_name}, {**server, "urls": by_address}]})

    [relay] = recording.of_type("relay")
    assert relay.url == by_name  # the certificate names localhost ...
    [error] = recording.errors  # ... and not 127.0.0.1
    assert (error.url, error.errorCode) == (by_address, 701)
    assert "TLS handshake" in error.errorText and "mismatch" in error.errorText


@contextlib.contextmanager
def tls_server_that_never_closes(certificate_authority: trustme.CA) -> Iterator[int]:
    """A TLS server on 127.0.0.1 that completes each handshake and then holds the connection:
    it never sends close_notify. Yields its port."""
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1").configure_cert(tls)
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        connection, _ = listener.accept()
        held.append(tls.wrap_socket(connection, server_side=True))  # the handshake, then silence
        done.wait()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        thread.join(10)
        for connection in held:
            connection.close()
        listener.close()


def test_a_tls_connection_is_closed_at_once_even_when_the_server_never_sends_close_notify(certificate_authority):
    # asyncio's TLS close would wait up to 30 s for the server's close_notify, holding the
    # socket: the transport's open files would stay taken by jobs it has closed.
    async def scenario(port: int) -> None:
        sock = bind_socket("127.0.0.1", socket.SOCK_STREAM)
        channel = await StreamChannel.connect(sock, ("127.0.0.1", port), 5.0, tls=tls_context(False),
                                              server_hostname="127.0.0.1")
        channel.close()
        await until(lambda: sock.fileno() == -1, within=2)

    with tls_server_that_never_closes(certificate_authority) as port:
        asyncio.run(scenario(port))
