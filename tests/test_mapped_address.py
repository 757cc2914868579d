"""A Binding success whose XOR-MAPPED-ADDRESS disagrees with its MAPPED-ADDRESS fails its URL:
a browser would take the XOR one, and PyPI's ``stun`` 1.1.0 server encodes it wrongly (the
magic cookie byte-reversed), so it would get a made-up public srflx from a loopback server."""

from __future__ import annotations

import json
import subprocess

import pytest
from commands import ICEGATHER
from gathering_helpers import gather
from peer_turn import binding

from icegather.transport_proc.stun.mapped_address import MappedAddressProblem, choose_mapped_address

PUBLIC_SERVER = ("198.51.100.1", 3478)
LOOPBACK_SERVER = ("127.0.0.1", 3478)


def test_an_xor_mapped_address_that_disagrees_with_mapped_address_is_a_problem_naming_both():
    # What PyPI's stun 1.1.0 sends to 127.0.0.1:59798: the XOR is undone with the right cookie.
    chosen = choose_mapped_address(("28.182.182.98", 55973), ("127.0.0.1", 59798), LOOPBACK_SERVER)

    assert chosen == MappedAddressProblem(
        "XOR-MAPPED-ADDRESS 28.182.182.98:55973 disagrees with MAPPED-ADDRESS 127.0.0.1:59798: the server "
        "encodes XOR-MAPPED-ADDRESS wrongly (a browser uses XOR-MAPPED-ADDRESS: its srflx candidate would be "
        "28.182.182.98:55973)"
    )


def test_a_port_alone_that_disagrees_is_a_problem_too():
    chosen = choose_mapped_address(("203.0.113.7", 40000), ("203.0.113.7", 40001), PUBLIC_SERVER)

    assert isinstance(chosen, MappedAddressProblem)
    assert "203.0.113.7:40000 disagrees with MAPPED-ADDRESS 203.0.113.7:40001:" in chosen.text


def test_agreeing_attributes_give_the_address_however_each_spells_it():
    assert choose_mapped_address(("203.0.113.7", 40000), ("203.0.113.7", 40000), PUBLIC_SERVER) == (
        "203.0.113.7", 40000
    )
    assert choose_mapped_address(("2001:db8::7", 40000), ("2001:db8:0:0:0:0:0:7", 40000), PUBLIC_SERVER) == (
        "2001:db8::7", 40000
    )


def test_either_attribute_alone_is_used_and_neither_is_none():
    assert choose_mapped_address(("203.0.113.7", 40000), None, PUBLIC_SERVER) == ("203.0.113.7", 40000)
    assert choose_mapped_address(None, ("203.0.113.7", 40000), PUBLIC_SERVER) == ("203.0.113.7", 40000)
    assert choose_mapped_address(None, None, PUBLIC_SERVER) is None


def test_a_private_mapped_address_beside_a_public_xor_from_a_public_server_is_a_nats_rewrite_not_a_problem():
    # RFC 8489 section 14.2: NAT ALGs rewrite their public address in payloads to the private
    # one; XOR-MAPPED-ADDRESS exists for this, and is right.
    assert choose_mapped_address(("203.0.113.7", 40000), ("192.168.1.20", 40000), PUBLIC_SERVER) == (
        "203.0.113.7", 40000
    )


@pytest.mark.peers
def test_pypi_stun_servers_mis_encoded_xor_mapped_address_fails_the_url_and_gives_no_srflx(pypi_stun_server):
    recording = gather({"iceServers": [{"urls": pypi_stun_server.url()}]})

    [error] = recording.errors
    assert (error.url, error.errorCode, error.errorCause) == (pypi_stun_server.url(), 701, "mapped_address_mismatch")
    assert error.errorText.startswith(f"wrong mapped address from 127.0.0.1:{pypi_stun_server.port}: XOR-MAPPED")
    assert f"disagrees with MAPPED-ADDRESS 127.0.0.1:{error.port}:" in error.errorText
    assert recording.of_type("srflx") == []


@pytest.mark.peers
def test_the_command_exits_1_against_pypi_stun_server_instead_of_saying_stun_works(pypi_stun_server):
    result = subprocess.run(
        [ICEGATHER, "--json", "--server", pypi_stun_server.url(), "--local-address", "127.0.0.1"],
        capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    [error] = [r for r in records if r["type"] == "icecandidateerror"]
    assert (error["errorCode"], error["errorCause"]) == (701, "mapped_address_mismatch")
    summary = records[-1]
    assert summary["candidates"]["srflx"] == 0 and summary["exitStatus"] == 1


def test_coturn_which_sends_both_attributes_agreeing_gives_no_error(coturn):
    _, response = binding(coturn.host, coturn.port)
    assert response.attributes["XOR-MAPPED-ADDRESS"] == response.attributes["MAPPED-ADDRESS"]

    recording = gather({"iceServers": [{"urls": f"stun:{coturn.host}:{coturn.port}"}]})

    assert recording.errors == []
    [answer] = recording.answers
    assert answer.url == f"stun:{coturn.host}:{coturn.port}"
