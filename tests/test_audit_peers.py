"""``icegather audit`` against TURN servers no one here wrote: Pion TURN and node-turn, each with
relays of one address family (IPv4) and no peer filter at all. What they grant must be judged
by what can be reached through their relays, and the fixes must be in their words, never in
coturn's.

Every peer address of the audit appears only inside CreatePermission/ChannelBind requests to a
loopback server: no data is sent to any of them."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from audit_helpers import FAST, audit, checks
from peer_turn import PeerServer

from icegather.shared.vocabulary.audit_plan import AUDIT_PEERS

pytestmark = pytest.mark.peers

# IPv6 peers proper: an IPv4-mapped one is an IPv4 host, which an IPv4 relay may reach.
IPV6_PEERS = {peer for peer, _ in AUDIT_PEERS
              if ipaddress.ip_address(peer).version == 6 and ipaddress.ip_address(peer).ipv4_mapped is None}
IPV4_CRITICAL = {"127.0.0.1", "0.0.0.0", "169.254.169.254", "::ffff:127.0.0.1", "::ffff:0.0.0.0"}


def audit_peer_server(server: PeerServer, tmp_path: Path) -> tuple[int, list[dict]]:
    credential = tmp_path / "credential"
    credential.write_text(server.password or "")
    return audit(server.url(), *FAST, "--username", server.username or "", "--credential-file", str(credential))


def peers_by_subject(records: list[dict]) -> dict[str, dict]:
    return {r["subject"]: r for r in checks(records) if r["name"].endswith(" peer")}


@pytest.mark.parametrize("name", ["pion", "nodeturn"])
def test_ipv6_peers_granted_on_an_ipv4_only_relay_are_not_reachable_through_it_and_not_critical(
    name, request, tmp_path
):
    server = request.getfixturevalue(name)
    status, records = audit_peer_server(server, tmp_path)

    peers = peers_by_subject(records)
    assert set(peers) == {peer for peer, _ in AUDIT_PEERS}  # every peer was asked for
    for peer in IPV6_PEERS:
        assert peers[peer]["severity"] == "ok", peers[peer]
        assert "granted" in peers[peer]["result"] and "not reachable through this relay" in peers[peer]["result"]
    # Neither filters peers: what its IPv4 relay can reach is granted, and judged as usual.
    assert {p for p, r in peers.items() if r["severity"] == "critical"} == IPV4_CRITICAL
    [ipv6_relay] = [r for r in checks(records) if r["name"] == "ipv6 relay"]
    assert "IPv6 peers cannot be reached through this server" in ipv6_relay["result"]
    assert status == 1


def test_pion_binds_an_ipv4_mapped_peer_on_a_channel_and_port_of_its_own(pion, tmp_path):
    # Pion takes ::ffff:127.0.0.1 for 127.0.0.1: a second ChannelBind of the same transport
    # address on another channel number would get its 400, an artifact of the order of checks.
    _, records = audit_peer_server(pion, tmp_path)

    mapped = peers_by_subject(records)["::ffff:127.0.0.1"]
    assert mapped["severity"] == "critical"
    assert mapped["result"] == "CreatePermission and ChannelBind for ::ffff:127.0.0.1 granted"


def test_node_turns_software_from_its_allocate_success_gives_every_fix_in_its_words(nodeturn, tmp_path):
    # node-turn names itself in Allocate, CreatePermission and Refresh successes only, never in
    # the 401 that the audit's first Allocate gets.
    _, records = audit_peer_server(nodeturn, tmp_path)

    [software] = [r for r in checks(records) if r["name"] == "software version"]
    assert software["result"] == "SOFTWARE says 'node-turn', with no version"
    fixes = [r["fix"] for r in checks(records) if r["fix"]]
    assert fixes and all(fix.startswith("node-turn: ") and "coturn" not in fix for fix in fixes)
    loopback = peers_by_subject(records)["127.0.0.1"]
    assert "relayIps" in loopback["fix"] and "no option that refuses peers" in loopback["fix"]


def test_pion_names_no_software_so_its_fixes_name_no_product(pion, tmp_path):
    _, records = audit_peer_server(pion, tmp_path)

    fixes = [r["fix"] for r in checks(records) if r["fix"]]
    assert fixes
    assert not any(product in fix for fix in fixes for product in ("coturn", "node-turn", "Pion"))
    loopback = peers_by_subject(records)["127.0.0.1"]
    assert loopback["fix"].startswith("refuse peers in 127.0.0.0/8")
