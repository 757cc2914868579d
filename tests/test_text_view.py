"""The text view of a run: what a STUN answer that gives back the host's own address tells
(no NAT between here and the server), against a real coturn, and when it cannot be told."""

from __future__ import annotations

import subprocess

from commands import ICEGATHER

from icegather.main_proc.views.report import host_address_seen

FAST = ["--rto", "0.05", "--max-sends", "3", "--final-wait", "2", "--local-address", "127.0.0.1"]


def test_a_stun_answer_with_the_host_address_reads_no_nat_between_here_and_the_server(coturn):
    result = subprocess.run([ICEGATHER, "--server", coturn.url("stun"), *FAST], capture_output=True, text=True,
                            timeout=60)

    [host] = [line.split()[4] for line in result.stdout.splitlines() if "  host " in line]
    [row] = [line for line in result.stdout.splitlines() if line.startswith(f"  {coturn.url('stun')}")]
    assert result.returncode == 0, result.stderr
    assert f"no NAT between here and the server (it sees {host}, the host address itself)" in row


def answer(url: str, entry: int, port: int) -> dict:
    return {"type": "iceserveranswer", "url": url, "serverIndex": entry, "address": "192.0.2.2", "port": port}


def srflx(url: str, entry: int, port: int) -> dict:
    return {"type": "icecandidate", "candidate": "candidate:...", "candidateType": "srflx", "url": url,
            "serverIndex": entry, "relatedAddress": "192.0.2.2", "relatedPort": port}


def test_an_answer_from_a_socket_that_no_srflx_came_from_is_the_host_address():
    records = [answer("stun:a.example", 0, 4000), answer("stun:b.example", 1, 4000)]

    assert host_address_seen(records, 0, "stun:a.example") == ["192.0.2.2:4000"]
    assert host_address_seen(records, 1, "stun:b.example") == ["192.0.2.2:4000"]


def test_a_socket_behind_a_nat_is_not_said_to_be_seen_as_itself():
    # b's mapped address was a's: the transport surfaced it once, from a; nothing says b saw 4000.
    records = [answer("stun:a.example", 0, 4000), srflx("stun:a.example", 0, 4000), answer("stun:b.example", 1, 4000)]

    assert host_address_seen(records, 0, "stun:a.example") == []
    assert host_address_seen(records, 1, "stun:b.example") == []


def test_a_turn_or_stuns_answer_says_nothing_of_the_host_address():
    records = [answer("turn:t.example", 0, 4000), answer("stuns:s.example", 1, 4001)]

    assert host_address_seen(records, 0, "turn:t.example") == []
    assert host_address_seen(records, 1, "stuns:s.example") == []
