"""``icegather audit`` against real coturn instances configured insecurely and securely: open,
allowing loopback peers, with coturn 4.6's defaults and hardened, each peer it relays to given
its severity and each finding its fix.

Every peer address of the audit appears only inside CreatePermission/ChannelBind requests to a
loopback coturn: no data is sent to any of them."""

from __future__ import annotations

from audit_helpers import audit, checks, credential_file, granted
from local_coturn import Coturn, local_coturn

from icegather.main_proc.commands.audit_command import CHECK_RECORD_FIELDS, SUMMARY_RECORD_FIELDS
from icegather.shared.vocabulary.audit_plan import AUDIT_PEERS

DUAL_STACK = ("127.0.0.1", "::1")  # the relay has an address of each family: every peer is asked for
HARDENED = [
    "--denied-peer-ip=10.0.0.0-10.255.255.255", "--denied-peer-ip=172.16.0.0-172.31.255.255",
    "--denied-peer-ip=192.168.0.0-192.168.255.255", "--denied-peer-ip=169.254.0.0-169.254.255.255",
    "--denied-peer-ip=100.64.0.0-100.127.255.255", "--denied-peer-ip=fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "--denied-peer-ip=fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "--no-multicast-peers",
    "--denied-peer-ip=::ffff:0.0.0.0-::ffff:255.255.255.255",  # IPv4-mapped: see the defaults test
]


def audit_coturn(turn: Coturn, *urls: str) -> tuple[int, list[dict]]:
    return audit(*(urls or (turn.url(),)), "--username", turn.username, "--credential-file", str(credential_file(turn)))


def test_an_open_relay_is_critical_and_its_relay_is_audited_too():
    with local_coturn(authentication=False, relay_ips=DUAL_STACK) as turn:
        status, records = audit(turn.url())

    [open_relay] = [r for r in checks(records) if r["name"] == "open relay"]
    assert open_relay["severity"] == "critical" and "no credentials" in open_relay["result"]
    assert "lt-cred-mech" in open_relay["fix"]
    assert granted(records)  # with the open relay's allocation, the peers were asked for too
    assert status == 1
    # Every record has its type's keys, in the order docs/audit.md gives.
    assert {tuple(r) for r in checks(records)} == {CHECK_RECORD_FIELDS}
    assert [tuple(r) for r in records if r["type"] == "auditsummary"] == [SUMMARY_RECORD_FIELDS]


def test_allowing_loopback_peers_is_critical():
    with local_coturn(relay_ips=DUAL_STACK, loopback_peers=True) as turn:
        status, records = audit_coturn(turn)

    assert granted(records)["127.0.0.1"] == "critical"
    assert granted(records)["::1"] == "critical"
    [loopback] = [r for r in checks(records) if r["name"] == "loopback peer" and r["subject"] == "127.0.0.1"]
    assert "CreatePermission and ChannelBind" in loopback["result"] and "no-loopback-peers" in loopback["fix"]
    assert status == 1


def test_coturn_4_6_by_default_refuses_loopback_but_relays_to_mapped_loopback_metadata_private_and_multicast():
    with local_coturn(relay_ips=DUAL_STACK, loopback_peers=False) as turn:
        status, records = audit_coturn(turn)

    # Recorded as coturn 4.6.1 does it: no-loopback-peers is its default and refuses 127.0.0.1, ::1,
    # 0.0.0.0 and ::, but its IPv6 relay grants their IPv4-mapped forms; the rest is allowed.
    assert granted(records) == {
        "::ffff:127.0.0.1": "critical", "::ffff:0.0.0.0": "critical",
        "169.254.169.254": "critical",
        "10.0.0.1": "warning", "172.16.0.1": "warning", "192.168.0.1": "warning",
        "fe80::1": "warning", "100.64.0.1": "warning", "fd00::1": "warning",
        "224.0.0.1": "warning", "ff02::1": "warning", "255.255.255.255": "warning",
    }
    refused = {r["subject"] for r in checks(records) if r["name"].endswith(" peer") and r["severity"] == "ok"}
    assert {"127.0.0.1", "::1", "0.0.0.0", "::"} <= refused
    assert status == 1


def test_a_hardened_coturn_refuses_every_peer_and_only_says_what_it_is():
    with local_coturn(relay_ips=DUAL_STACK, loopback_peers=False, extra_args=HARDENED) as turn:
        status, records = audit_coturn(turn)

    assert granted(records) == {}
    peers = {r["subject"] for r in checks(records) if r["name"].endswith(" peer")}
    assert peers == {peer for peer, _ in AUDIT_PEERS}  # every peer was asked for, and refused
    assert {r["severity"] for r in checks(records)} <= {"ok", "info"}
    assert records[-1] == {"type": "auditsummary", "critical": 0, "warning": 0, "notChecked": 0, "info": 1,
                           "ok": records[-1]["ok"], "verdict": "ok", "advice": None, "failure": None,
                           "exitStatus": 0}
    assert status == 0


def test_the_software_version_on_show_is_info_with_its_fix(coturn):
    _, records = audit_coturn(coturn)

    [software] = [r for r in checks(records) if r["name"] == "software version"]
    assert software["severity"] == "info" and "Coturn-4.6" in software["result"]
    assert software["fix"] == "coturn: no-software-attribute"
