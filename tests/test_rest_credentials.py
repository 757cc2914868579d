"""Time-limited TURN credentials (TURN REST API): minting, and the expiry a username carries.
That coturn accepts what is minted here is tested end to end in test_cli.py."""

from __future__ import annotations

import base64
import hashlib
import hmac

from icegather.main_proc.credentials.rest_credentials import mint, username_expiry
from icegather.main_proc.diagnosis.servers.outcomes import credential_facts


def test_a_minted_username_carries_its_expiry_and_the_credential_is_the_hmac_of_it():
    username, credential = mint(b"secret", "alice", 600, now=1_764_000_000.7)
    assert username == "1764000600:alice"
    assert base64.b64decode(credential) == hmac.new(b"secret", b"1764000600:alice", hashlib.sha1).digest()


def test_only_rest_style_usernames_have_an_expiry():
    assert username_expiry("1764000600:alice") == 1764000600
    assert username_expiry("1764000600") == 1764000600  # coturn accepts a bare timestamp too
    assert username_expiry("alice") is None
    assert username_expiry("42:alice") is None  # not a plausible unix time
    assert username_expiry("alice:1764000600") is None


def test_an_expired_username_is_told_from_a_fresh_minted_one():
    assert credential_facts("1764000000:alice", minted=False, now=1764000090).state == "expired"
    assert credential_facts("1764000000:alice", minted=False, now=1764000090).expired_seconds_ago == 90
    assert credential_facts("1764000600:alice", minted=True, now=1764000000).state == "minted"
    assert credential_facts("alice", minted=False, now=1764000000).state == ""
