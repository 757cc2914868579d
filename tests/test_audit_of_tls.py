"""``icegather audit`` of ``turns:`` and ``stuns:`` servers: certificates the tests make that
expire soon, have expired or come from an authority nobody trusts, and the TLS versions a
server takes (Debian's coturn refuses 1.0 and 1.1 whatever it is told; a server that takes 1.0
gets a warning)."""

from __future__ import annotations

import datetime
import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from audit_helpers import FAST, audit, checks
from local_coturn import Coturn, local_coturn
from stun_servers import ScriptedTcpServer


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def tls_coturn_with(authority: trustme.CA, directory: Path, days: float, *options: str):
    now = datetime.datetime.now(datetime.timezone.utc)
    leaf = authority.issue_cert("localhost", not_before=now - datetime.timedelta(days=30),
                                not_after=now + datetime.timedelta(days=days))
    leaf.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(directory / "key.pem"))
    authority.cert_pem.write_to_path(str(directory / "ca.pem"))
    return local_coturn(tls_certificate=(str(directory / "cert.pem"), str(directory / "key.pem")),
                        extra_args=list(options))


def audit_tls(turn: Coturn, directory: Path) -> list[dict]:
    _, records = audit(f"turns:localhost:{turn.tls_port}", *FAST, env={"SSL_CERT_FILE": str(directory / "ca.pem")})
    return [r for r in checks(records) if r["name"].startswith(("certificate", "tls"))]


def test_a_certificate_that_expires_in_5_days_is_a_warning_and_an_expired_one_critical(authority, tmp_path):
    with tls_coturn_with(authority, tmp_path, 5) as turn:
        soon = audit_tls(turn, tmp_path)
    with tls_coturn_with(authority, tmp_path, -2) as turn:
        expired = audit_tls(turn, tmp_path)
    with tls_coturn_with(authority, tmp_path, 90) as turn:
        valid = audit_tls(turn, tmp_path)

    [expiring] = [r for r in soon if r["name"].startswith("certificate")]
    assert (expiring["name"], expiring["severity"]) == ("certificate expiring", "warning")
    assert "in 5.0 days" in expiring["result"] or "in 4.9 days" in expiring["result"]
    [gone] = [r for r in expired if r["name"].startswith("certificate")]
    assert (gone["name"], gone["severity"]) == ("certificate expired", "critical")
    [fine] = [r for r in valid if r["name"].startswith("certificate")]
    assert (fine["name"], fine["severity"]) == ("certificate", "ok")


def test_a_certificate_from_an_authority_nobody_trusts_is_a_warning(authority, tmp_path):
    with tls_coturn_with(authority, tmp_path, 90) as turn:
        _, records = audit(f"turns:localhost:{turn.tls_port}", *FAST)  # the test's authority is not trusted

    [certificate] = [r for r in checks(records) if r["name"].startswith("certificate")]
    assert (certificate["name"], certificate["severity"]) == ("certificate untrusted", "warning")
    assert "unable to get local issuer certificate" in certificate["result"]


@pytest.mark.parametrize("options", [[], ["--no-tlsv1", "--no-tlsv1_1"]])
def test_debians_coturn_refuses_tls_1_0_and_1_1_with_or_without_its_options(authority, tmp_path, options):
    # Debian 12's OpenSSL refuses them by policy whatever coturn is told; recorded as it does.
    with tls_coturn_with(authority, tmp_path, 90, *options) as turn:
        versions = {r["subject"]: (r["severity"], r["result"]) for r in audit_tls(turn, tmp_path)
                    if r["name"] == "tls version"}

    assert versions["TLSv1"] == ("ok", "refuses TLSv1") and versions["TLSv1.1"] == ("ok", "refuses TLSv1.1")
    assert versions["TLSv1.2"] == ("ok", "accepts TLSv1.2")


@pytest.fixture
def tls_1_0_server(authority) -> Iterator[ScriptedTcpServer]:
    """A TLS server that still takes TLS 1.0 (and answers nothing after the handshake)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():  # deprecated: that is the point of this server
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    authority.issue_cert("localhost").configure_cert(context)
    with ScriptedTcpServer(lambda connection: connection.recv(4096), tls=context) as server:
        yield server


def test_a_server_that_accepts_tls_1_0_gets_a_warning(tls_1_0_server):
    _, records = audit(f"stuns:localhost:{tls_1_0_server.port}", *FAST)

    versions = {r["subject"]: r["severity"] for r in checks(records) if r["name"] == "tls version"}
    assert versions["TLSv1"] == "warning" and versions["TLSv1.2"] == "ok"
