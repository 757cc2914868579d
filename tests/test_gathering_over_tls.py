"""``turns:`` and ``stuns:``: a certificate nobody trusts, or one for another name, fires 701
naming the TLS failure; told to, a self-signed server is accepted; a ``stuns:`` answer is
reported but makes no UDP candidate. Real coturn with certificates the tests make."""

from __future__ import annotations

import ssl

from gathering_helpers import FAST_SCHEDULE, gather
from stun_servers import ScriptedTcpServer, answer_binding_over_stream

from icegather.shared.config.gather_options import GatherOptions

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
