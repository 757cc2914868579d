"""Servers that send garbage: the transport keeps working, reports 701 or the sanitised code and
text, and neither crashes nor hangs. Each configuration also holds the healthy coturn, whose
relay must still arrive: one bad server must not spoil the others."""

from __future__ import annotations

import os

import pytest
from aioice import stun
from gathering_helpers import FAST_SCHEDULE, gather
from stun_servers import (
    ScriptedStunServer,
    ScriptedTcpServer,
    another_transaction_id,
    error_to_every_request,
    response,
    send_then_close,
)


def garbage(request: stun.Message, source) -> bytes:
    return b"\x00\x01\x00\x08" + request.transaction_id[:4] + os.urandom(40)  # a STUN-like header that lies


def truncated(request: stun.Message, source) -> bytes:
    return bytes(response(request, stun.Class.RESPONSE, **{"XOR-MAPPED-ADDRESS": ("203.0.113.7", 40000)}))[:26]


def huge_datagram(request: stun.Message, source) -> bytes:
    return bytes(response(request, stun.Class.RESPONSE)) + b"\x00" * 60_000


def non_utf8_reason(request: stun.Message, source) -> bytes:
    data = bytearray(bytes(response(request, stun.Class.ERROR, **{"ERROR-CODE": (401, "Unauth?rized")})))
    # Found by the whole phrase: a lone "?" could be a byte of the random transaction ID.
    data[data.index(b"Unauth?rized") + len("Unauth")] = 0xFF
    return bytes(data)


def flood(request: stun.Message, source) -> bytes:
    return bytes(response(request, stun.Class.RESPONSE, **{"XOR-MAPPED-ADDRESS": ("203.0.113.7", 40000)}))


SILENT_KINDS = {
    "garbage": garbage,
    "truncated message": truncated,
    "oversized datagram": huge_datagram,
}


@pytest.mark.parametrize("kind", list(SILENT_KINDS))
def test_unusable_answers_are_ignored_and_the_server_counts_as_silent(kind, coturn):
    with ScriptedStunServer(SILENT_KINDS[kind]) as server:
        recording = gather({"iceServers": [{"urls": server.url()}, coturn.ice_server("turn")]})

    [error] = recording.errors
    assert (error.url, error.errorCode) == (server.url(), 701)
    assert error.errorText.startswith("no response from")
    assert len(recording.of_type("relay")) == 1


def test_answers_with_another_transaction_id_are_discarded_but_not_taken_for_silence(coturn):
    with ScriptedStunServer(another_transaction_id) as server:
        recording = gather({"iceServers": [{"urls": server.url()}, coturn.ice_server("turn")]})

    [error] = recording.errors
    assert (error.url, error.errorCode, error.errorCause) == (server.url(), 701, "answer_wrong_transaction")
    sends = FAST_SCHEDULE.max_sends
    assert error.errorText == (
        f"{server.host}:{server.port} answered {sends} times, but with another transaction ID "
        "(discarded, RFC 8489 section 6.3)"
    )
    assert recording.of_type("srflx") == []  # nothing made of them
    assert len(recording.of_type("relay")) == 1


@pytest.mark.parametrize(
    ("code", "reason", "expected_code", "expected_text"),
    [
        (401, "x" * 700, 401, "x" * 127),  # RFC 8489: a reason phrase has at most 127 characters
        (438, "Stale\r\n\x1b[31mNonce\x00", 438, "Stale [31mNonce"),  # no control characters reach a terminal
        (403, "", 403, "Forbidden (the server sent no reason phrase)"),  # the registry's name stands in
        (699, "", 699, "error 699 (the server sent no reason phrase)"),  # no name in the registry
        (200, "OK?", 701, "the server sent an invalid error code 200"),
        (150, "Low", 701, "the server sent an invalid error code 150"),  # class 1: no such class
        (700, "Mine", 701, "the server sent an invalid error code 700"),  # 7xx are ours to make
    ],
)
def test_a_servers_error_code_and_reason_phrase_are_checked_and_sanitised(
    code, reason, expected_code, expected_text, coturn
):
    with ScriptedStunServer(error_to_every_request(code, reason)) as server:
        recording = gather({"iceServers": [{"urls": server.url()}, coturn.ice_server("turn")]})

    [error] = recording.errors
    assert (error.errorCode, error.errorText) == (expected_code, expected_text)
    assert len(recording.of_type("relay")) == 1


def test_a_reason_phrase_that_is_not_utf8_is_shown_with_a_replacement_character():
    with ScriptedStunServer(non_utf8_reason) as server:
        recording = gather({"iceServers": [{"urls": server.url()}]})

    [error] = recording.errors
    assert (error.errorCode, error.errorText) == (401, "Unauth\ufffdrized")


def test_a_flood_of_duplicate_answers_gives_one_candidate_and_no_trouble(coturn):
    def flooding(request: stun.Message, source) -> bytes:
        answer = flood(request, source)
        for _ in range(499):  # 500 answers to every request
            server.sock.sendto(answer, source)
        return answer

    with ScriptedStunServer(flooding) as server:
        recording = gather({"iceServers": [{"urls": server.url()}, coturn.ice_server("turn")]})

    assert recording.errors == []
    assert [c.address for c in recording.of_type("srflx")] == ["203.0.113.7"]
    assert len(recording.of_type("relay")) == 1


def test_a_tcp_server_that_dies_in_the_middle_of_its_answer_gives_701(coturn):
    answer = bytes(stun.Message(stun.Method.ALLOCATE, stun.Class.ERROR))
    with ScriptedTcpServer(send_then_close(answer[:10])) as server:
        url = f"turn:127.0.0.1:{server.port}?transport=tcp"
        recording = gather(
            {"iceServers": [{"urls": url, "username": "u", "credential": "p"}, coturn.ice_server("turn")]}
        )

    [error] = recording.errors
    assert (error.url, error.errorCode) == (url, 701)
    assert error.errorText == f"connection closed by 127.0.0.1:{server.port} before it answered"
    assert len(recording.of_type("relay")) == 1


def test_a_tcp_server_that_is_not_speaking_stun_gives_701(coturn):
    with ScriptedTcpServer(send_then_close(b"HTTP/1.1 400 Bad Request\r\n\r\n" * 4)) as server:
        url = f"turn:127.0.0.1:{server.port}?transport=tcp"
        recording = gather({"iceServers": [{"urls": url, "username": "u", "credential": "p"}]})

    [error] = recording.errors
    assert error.errorCode == 701
    assert error.errorText == f"unusable response from 127.0.0.1:{server.port}: not a STUN stream"
