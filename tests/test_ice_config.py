"""Configuration and URL validation: the exceptions browsers raise (README, "Validation")."""

from __future__ import annotations

import pytest

from icegather.shared.config.dom_exception import DOMException
from icegather.shared.config.ice_config import parse_configuration
from icegather.shared.config.ice_url import parse_ice_url

SECRET = "s3cret-credential"


@pytest.mark.parametrize(
    "url, scheme, host, port, transport",
    [
        ("stun:example.org", "stun", "example.org", 3478, "udp"),
        ("stun:example.org:19302", "stun", "example.org", 19302, "udp"),
        ("STUN:Example.org", "stun", "Example.org", 3478, "udp"),
        ("stuns:example.org", "stuns", "example.org", 5349, "tcp"),
        ("turn:10.0.0.1", "turn", "10.0.0.1", 3478, "udp"),
        ("turn:10.0.0.1?transport=tcp", "turn", "10.0.0.1", 3478, "tcp"),
        ("turn:[::1]:3479?transport=udp", "turn", "::1", 3479, "udp"),
        ("turns:turn.example.org", "turns", "turn.example.org", 5349, "tcp"),
        ("turns:turn.example.org:443?transport=udp", "turns", "turn.example.org", 443, "tcp"),
        ("stun:stun1.invalid:3478", "stun", "stun1.invalid", 3478, "udp"),
    ],
)
def test_valid_urls_parse_into_host_port_and_transport(url, scheme, host, port, transport):
    parsed = parse_ice_url(url)
    assert (parsed.url, parsed.scheme, parsed.host, parsed.port, parsed.transport) == (
        url, scheme, host, port, transport,
    )


@pytest.mark.parametrize(
    "url",
    [
        "",
        "http://example.org",
        "example.org",
        "stun:",
        "stun:[::1",
        "stun:[nothost]:3478",
        "stun:example.org:0",
        "stun:example.org:65536",
        "stun:example.org:",
        "stun:example.org:34x",
        "stun:example.org?transport=udp",
        "turn:example.org?transport=sctp",
        "turn:example.org?foo=bar",
        "turn:example.org#fragment",
        "turn:example.org/path",
        "turn:user@example.org",
        "stun:exa mple.org",
        "stun:" + "a" * 2000,
    ],
)
def test_malformed_urls_raise_syntax_error(url):
    with pytest.raises(DOMException) as caught:
        parse_ice_url(url)
    assert caught.value.name == "SyntaxError"


TURN = "turn:turn.example.org"


@pytest.mark.parametrize(
    "configuration, name",
    [
        ({"iceServers": "stun:example.org"}, "TypeError"),
        ({"iceServers": [None]}, "TypeError"),
        ({"iceServers": [{}]}, "TypeError"),
        ({"iceServers": [{"urls": 42}]}, "TypeError"),
        # Bytes are not a list of URLs, even empty (a Python caller's slip; JSON has none).
        ({"iceServers": [{"urls": b""}]}, "TypeError"),
        ({"iceServers": [{"urls": bytearray(b"stun:x")}]}, "TypeError"),
        ({"iceServers": b""}, "TypeError"),
        ({"iceServers": [{"urls": [TURN], "username": 7, "credential": "c"}]}, "TypeError"),
        ({"iceServers": [], "iceTransportPolicy": "none"}, "TypeError"),
        ({"iceServers": [], "iceCandidatePoolSize": 256}, "TypeError"),
        ("not a dictionary", "TypeError"),
        ({"iceServers": [{"urls": []}]}, "SyntaxError"),
        ({"iceServers": [{"urls": ["http://x"]}]}, "SyntaxError"),
        ({"iceServers": [{"urls": [TURN], "username": "u"}]}, "InvalidAccessError"),
        ({"iceServers": [{"urls": [TURN], "credential": SECRET}]}, "InvalidAccessError"),
        ({"iceServers": [{"urls": "turns:turn.example.org"}]}, "InvalidAccessError"),
        # icegather's own bounds: every URL is tried at once, so their number is capped.
        ({"iceServers": [{"urls": f"stun:s{i}.example.org"} for i in range(65)]}, "TypeError"),
        ({"iceServers": [{"urls": [f"stun:s{i}.example.org" for i in range(65)]}]}, "TypeError"),
        ({"iceServers": [{"urls": [f"stun:s{i}.example.org" for i in range(33)]}] * 2}, "TypeError"),
    ],
)
def test_bad_configurations_raise_what_browsers_raise(configuration, name):
    with pytest.raises((DOMException, TypeError)) as caught:
        parse_configuration(configuration)
    raised = caught.value.name if isinstance(caught.value, DOMException) else type(caught.value).__name__
    assert raised == name


@pytest.mark.parametrize(
    "configuration",
    [
        None,
        {},
        {"iceServers": []},
        {"iceServers": [{"urls": [TURN], "username": "", "credential": ""}]},  # empty is not missing
        {"iceServers": [{"urls": "stun:example.org", "username": "ignored"}]},
        {"iceServers": [], "iceTransportPolicy": "relay", "iceCandidatePoolSize": 2},
        {"iceServers": [], "bundlePolicy": "max-bundle", "someFutureKey": True},  # unknown keys are ignored
    ],
)
def test_valid_configurations_are_accepted(configuration):
    parse_configuration(configuration)


def test_error_messages_name_the_url_but_never_the_credential():
    with pytest.raises(DOMException) as missing_username:
        parse_configuration({"iceServers": [{"urls": [TURN], "credential": SECRET}]})
    with pytest.raises(DOMException) as userinfo:
        parse_configuration({"iceServers": [{"urls": [f"turn:alice:{SECRET}@turn.example.org"]}]})
    with pytest.raises(TypeError) as wrong_type:
        parse_configuration({"iceServers": [{"urls": [TURN], "username": "u", "credential": [SECRET]}]})

    assert TURN in str(missing_username.value)
    for error in (missing_username, userinfo, wrong_type):
        assert SECRET not in str(error.value) and SECRET not in repr(error.value)


def test_the_credential_stays_out_of_the_configuration_repr():
    configuration = parse_configuration({"iceServers": [{"urls": [TURN], "username": "u", "credential": SECRET}]})
    assert SECRET not in repr(configuration)
    assert configuration.ice_servers[0].credential == SECRET


def test_urls_may_be_a_string_or_a_list_and_keep_their_exact_text():
    configuration = parse_configuration(
        {"iceServers": [{"urls": "STUN:Example.org:3478"}, {"urls": ["stun:a.example", "stun:b.example"]}]}
    )
    assert [u.url for server in configuration.ice_servers for u in server.urls] == [
        "STUN:Example.org:3478", "stun:a.example", "stun:b.example",
    ]
