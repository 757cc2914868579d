"""The audit's table on its own: what each result of the transport's checks is found to be, every
finding explained by name, a peer judged by the family of its relay, fixes in the words of the
product the server says it is, and a peer result the audit never asks for refused at the border."""

from __future__ import annotations

import subprocess

import pytest
from commands import ICEGATHER

from icegather.main_proc.diagnosis.audit.audit_findings import FINDINGS, classify, classify_all
from icegather.main_proc.diagnosis.audit.audit_fixes import FIXES, fix_for
from icegather.main_proc.diagnosis.server_products import PRODUCTS, recognise
from icegather.shared.protocol import ProtocolError
from icegather.shared.protocol.schemas import decoder_for
from icegather.shared.structs import AuditResultInfo
from icegather.shared.vocabulary.audit_plan import AUDIT_PEERS


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
