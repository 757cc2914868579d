"""``icegather audit`` against real coturn instances configured insecurely and securely, real TLS
servers with certificates the tests make, and hostile servers; and its table, on its own.

Every peer address of the audit appears only inside CreatePermission/ChannelBind requests to a
loopback coturn: no data is sent to any of them."""

from __future__ import annotations

import datetime
import socket
import ssl
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from audit_helpers import FAST, LOOPBACK, audit, checks
from commands import ICEGATHER
from local_coturn import Coturn, local_coturn
from stun_servers import ScriptedStunServer, ScriptedTcpServer, response

from icegather.main_proc.commands.audit_command import CHECK_RECORD_FIELDS, SUMMARY_RECORD_FIELDS
from icegather.main_proc.diagnosis.audit_findings import FINDINGS, classify, classify_all
from icegather.main_proc.diagnosis.audit_fixes import FIXES, fix_for
from icegather.main_proc.diagnosis.server_products import PRODUCTS, recognise
from icegather.shared.protocol import ProtocolError
from icegather.shared.protocol.schemas import decoder_for
from icegather.shared.structs import AuditResultInfo
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
    credential = Path(turn.workdir) / "credential"
    credential.write_text(turn.password)
    return audit(*(urls or (turn.url(),)), "--username", turn.username, "--credential-file", str(credential))


def granted(records: list[dict]) -> dict[str, str]:
    """Peer -> severity of each permission the server granted."""
    peers = [r for r in checks(records) if r["name"].endswith(" peer")]
    return {r["subject"]: r["severity"] for r in peers if r["severity"] != "ok"}


# --- coturn, insecure and secure ------------------------------------------------------------


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


def test_the_text_view_groups_each_url_with_the_worst_first(coturn):
    credential = Path(coturn.workdir) / "credential"
    credential.write_text(coturn.password)
    result = subprocess.run(
        [ICEGATHER, "audit", *LOOPBACK, coturn.url(), "-u", coturn.username, "--credential-file", str(credential)],
        capture_output=True, text=True, timeout=120,
    )

    lines = result.stdout.splitlines()
    assert lines[0] == coturn.url()
    severities = [line.split()[0] for line in lines[1:-1] if not line.strip().startswith("fix:")]
    order = ["CRITICAL", "WARNING", "NOT", "INFO", "ok"]
    assert severities == sorted(severities, key=order.index)
    assert lines[-1].startswith("audit: ") and coturn.password not in result.stdout


# --- TLS -------------------------------------------------------------------------------------


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


# --- hostile servers -------------------------------------------------------------------------


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


def test_without_credentials_the_peers_are_not_checked_the_exit_is_1_and_the_advice_is_given_once(coturn):
    urls = [coturn.url(), coturn.url(transport="tcp")]
    result = subprocess.run([ICEGATHER, "audit", *LOOPBACK, *urls], capture_output=True, text=True, timeout=120)

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    not_checked = [line.split(":")[0].split() for line in lines if "NOT CHECKED" in line]
    assert not_checked == [["NOT", "CHECKED", "authenticated", "checks"]] * 2
    [advice] = [line for line in lines if "--credential-file" in line]  # said once, for both URLs
    assert "2 TURN URLs" in advice and "loopback" in advice
    assert lines[-1] == "audit: not checked (0 critical, 0 warning, 2 not checked, 2 info, 2 ok)"


def test_without_credentials_the_json_summary_counts_not_checked_and_gives_the_advice_once(coturn):
    status, records = audit(coturn.url())

    summary = records[-1]
    assert (summary["notChecked"], summary["verdict"], summary["exitStatus"]) == (1, "not checked", 1)
    assert "1 TURN URL " in summary["advice"]
    assert not any("--credential-file" in (record["fix"] or "") for record in checks(records))
    assert status == 1


def test_the_help_says_that_not_checked_exits_1():
    result = subprocess.run([ICEGATHER, "audit", "--help"], capture_output=True, text=True, timeout=60)

    assert "'not checked', never ok" in result.stdout
    assert "0 nothing critical, warning or not checked; 1 something is" in " ".join(result.stdout.split())


def test_bad_input_exits_2_with_one_line():
    result = subprocess.run([ICEGATHER, "audit", "http://x"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "SyntaxError" in result.stderr


# --- the table --------------------------------------------------------------------------------


def result(check: str, outcome: str, subject: str = "", code: int = 0, text: str = "", expires: int = 0):
    return AuditResultInfo("turn:t.example", check, subject, outcome, code, text, expires)


def test_every_finding_the_table_can_give_is_explained_by_name():
    now = 1_800_000_000
    produced = set()
    for check, outcome, subject, code, expires in [
        ("allocate_without_credentials", "accepted", "192.0.2.1", 0, 0),
        ("allocate", "refused", "", 401, 0),
        ("ipv6_relay", "accepted", "::1", 0, 0),
        ("tls_version", "accepted", "TLSv1", 0, 0),
        ("certificate", "refused", "", 10, now - 86400),
        ("certificate", "refused", "", 18, now + 90 * 86400),
        ("certificate", "refused", "", 62, now + 90 * 86400),
        ("certificate", "refused", "", 20, now + 90 * 86400),
        ("certificate", "accepted", "", 0, now + 86400),
        ("certificate", "accepted", "", 0, now + 90 * 86400),
        ("software", "accepted", "Coturn-4.6.1", 0, 0),
        ("allocate", "failed", "", 701, 0),
        *(("peer_permission", "accepted", peer, 0, 0) for peer, _ in AUDIT_PEERS),
    ]:
        produced |= {f.name for f in classify(result(check, outcome, subject, code, expires=expires), now)}
    produced |= {f.name for f in classify_all(
        [AuditResultInfo("turn:h.example", "allocate", "", "accepted", 0, "", 0),
         AuditResultInfo("turns:h.example", "allocate", "", "accepted", 0, "", 0)], now, 14)}

    assert produced == {explained.name for explained in FINDINGS}


def test_explain_knows_every_audit_finding_by_its_hyphenated_name():
    names = [explained.name.replace(" ", "-") for explained in FINDINGS]
    result = subprocess.run([ICEGATHER, "explain", *names], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0
    assert result.stdout.count("(audit finding: ") == len(FINDINGS)


def test_the_audit_finding_about_credentials_is_not_named_as_the_diagnosis_cause_of_refused_ones():
    # "credentials" is the diagnosis cause of a server that refused them: the audit's finding,
    # whether the checks that need credentials ran, has a name of its own.
    found = classify(result("allocate", "refused", code=401, text="Unauthorized"), 0)

    assert [(f.name, f.severity) for f in found] == [("authenticated checks", "not checked")]
    assert "credentials" not in {explained.name for explained in FINDINGS}


def peer(subject: str, relay: str, check: str = "peer_permission", outcome: str = "accepted", code: int = 0):
    return AuditResultInfo("turn:t.example", check, subject, outcome, code, "Bad Request" if code else "", 0, relay)


def test_a_peer_of_a_family_the_relay_lacks_is_not_reachable_through_it_but_an_ipv4_mapped_one_is():
    found = classify_all([peer("::1", "192.0.2.1"), peer("::ffff:127.0.0.1", "192.0.2.1"),
                          peer("127.0.0.1", "2001:db8::1"), peer("fd00::1", "2001:db8::1")], 0, 14)

    assert [(f.subject, f.severity) for f in found] == [
        ("::1", "ok"), ("::ffff:127.0.0.1", "critical"), ("127.0.0.1", "ok"), ("fd00::1", "warning")]
    assert found[0].result == ("CreatePermission for ::1 granted, but the relay 192.0.2.1 is IPv4: "
                               "not reachable through this relay")


def test_a_channelbind_400_after_a_granted_permission_is_about_the_channel_not_a_refused_peer():
    [found] = classify_all([peer("10.0.0.1", "192.0.2.1"),
                            peer("10.0.0.1", "192.0.2.1", "peer_channel", "refused", 400)], 0, 14)

    assert found.severity == "warning"
    assert found.result == ("CreatePermission for 10.0.0.1 granted (ChannelBind answered 400 Bad Request: "
                            "about the channel, not the peer)")


def test_software_names_the_product_whose_words_the_fixes_are_in():
    assert recognise("Coturn-4.6.1 'Gorst'").name == "coturn"
    assert recognise("node-turn").name == "node-turn"
    assert recognise("pion/turn").name == "pion"
    assert recognise("node/v20.20.2 stun/v1.0.0") is None
    assert loopback_fix_on("Coturn-4.6.1").startswith("coturn: no-loopback-peers")
    assert loopback_fix_on("node-turn").startswith("node-turn: it has no option that refuses peers")
    assert loopback_fix_on("eturnal").startswith("refuse peers in 127.0.0.0/8")


def loopback_fix_on(software: str) -> str:
    said = AuditResultInfo("turn:t.example", "software", software, "accepted", 0, "", 0)
    [loopback] = [f for f in classify_all([said, peer("127.0.0.1", "192.0.2.1")], 0, 14) if f.name == "loopback peer"]
    return loopback.fix


def test_a_fix_names_only_the_product_it_is_for_and_a_generic_one_none():
    titles = {product.title for product in PRODUCTS}
    for name in FIXES:
        assert not any(title in fix_for(name, None) for title in titles), name
        for product in PRODUCTS:
            assert not any(title in fix_for(name, product) for title in titles - {product.title}), (name, product)


def test_a_peer_result_about_an_address_the_audit_never_asks_for_is_refused_at_the_border():
    decode = decoder_for(AuditResultInfo)
    fields = {"url": "turn:t.example", "check": "peer_permission", "subject": "198.51.100.7", "outcome": "accepted",
              "error_code": 0, "error_text": "", "expires": 0, "relay": "192.0.2.1"}

    with pytest.raises(ProtocolError, match="a subject its check cannot have"):
        decode(fields)
    with pytest.raises(ProtocolError, match="a subject its check cannot have"):
        decode({**fields, "check": "ipv6_relay", "subject": "not an address", "relay": ""})
    assert decode({**fields, "subject": "::ffff:127.0.0.1"}).relay == "192.0.2.1"
