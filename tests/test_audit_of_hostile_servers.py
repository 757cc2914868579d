"""``icegather audit`` against hostile servers: one that grants everything gives every finding,
garbage in place of an answer and a closed TLS port are a clear ``not audited``, never a crash."""

from __future__ import annotations

import socket

from audit_helpers import FAST, audit, checks, granted
from stun_servers import ScriptedStunServer, response

from icegather.shared.vocabulary.audit_plan import AUDIT_PEERS


def accept_everything(request, source) -> bytes:
    """A TURN server that grants every request, with no credentials: an open relay to anywhere."""
    attributes = {}
    if request.message_method == 3:  # Allocate
        attributes = {"XOR-RELAYED-ADDRESS": ("127.0.0.1", 50000), "XOR-MAPPED-ADDRESS": source, "LIFETIME": 600}
    return bytes(response(request, 0x100, **attributes))


def test_a_server_that_grants_everything_gives_every_finding_and_no_crash():
    with ScriptedStunServer(accept_everything) as server:
        status, records = audit(server.url("turn"), *FAST)

    assert [r["severity"] for r in checks(records) if r["name"] == "open relay"] == ["critical"]
    asked = {r["subject"]: r["result"] for r in checks(records) if r["name"].endswith(" peer")}
    assert set(asked) == {peer for peer, _ in AUDIT_PEERS}
    # Its relays are IPv4 (it gives one to the IPv6 ask too): IPv6 peers cannot be reached.
    unreachable = {"::1", "::", "fe80::1", "fd00::1", "ff02::1"}
    assert set(granted(records)) == set(asked) - unreachable
    assert all(asked[peer].endswith("not reachable through this relay") for peer in unreachable)
    assert status == 1


def test_garbage_in_place_of_an_answer_is_a_clear_701():
    with ScriptedStunServer(lambda request, source: b"\x00\x01garbage, not STUN" * 3) as server:
        status, records = audit(server.url("turn"), *FAST)

    [not_audited] = checks(records)
    assert (not_audited["name"], not_audited["severity"]) == ("not audited", "not checked")
    assert "no response from" in not_audited["result"]
    assert status == 1


def test_a_closed_tls_port_is_not_audited_and_says_why():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _, records = audit(f"turns:127.0.0.1:{port}", *FAST)

    assert {r["name"] for r in checks(records)} == {"not audited"}
