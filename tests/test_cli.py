"""The ``icegather`` command, run as a user runs it: a separate process, real coturn."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from pathlib import Path

import pytest
from commands import ICEGATHER
from fresh_interpreter import printed_by
from local_coturn import local_coturn

from icegather.main_proc.views.report import (
    DIAGNOSIS_FIELDS,
    FINDING_FIELDS,
    QUALITY_FIELDS,
    RECORD_FIELDS,
    RELAY_ROW_FIELDS,
    SERVER_FIELDS,
    schema_name,
)
from icegather.shared.vocabulary.stun_codes import describe

FAST = ["--rto", "0.05", "--max-sends", "2", "--final-wait", "2", "--local-address", "127.0.0.1"]


def icegather(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ICEGATHER, *args], capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})},
    )


def records(result: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_healthy_turn_server_exits_0_with_a_relay_candidate_in_ndjson(coturn):
    result = icegather("--json", "--server", coturn.url(), "--username", coturn.username,
                       "--credential", coturn.password, *FAST)

    assert result.returncode == 0, result.stderr
    lines = records(result)
    assert lines[0] == {"type": "icegatheringstatechange", "state": "gathering", "timeMs": lines[0]["timeMs"]}
    relays = [r for r in lines if r["type"] == "icecandidate" and r["candidate"] and r["candidateType"] == "relay"]
    assert len(relays) == 1 and relays[0]["url"] == coturn.url() and relays[0]["relayProtocol"] == "udp"
    assert lines[-1]["type"] == "summary" and lines[-1]["exitStatus"] == 0
    assert lines[-1]["candidates"]["relay"] == 1 and lines[-1]["errors"] == 0


def test_refused_credentials_exit_1_with_the_dom_shaped_error_record(coturn):
    result = icegather("--json", "--server", coturn.url(), "--username", coturn.username,
                       "--credential", "wrong", *FAST)

    assert result.returncode == 1, result.stderr
    [error] = [r for r in records(result) if r["type"] == "icecandidateerror"]
    assert set(error) == {
        "type", "url", "serverIndex", "errorCode", "errorText", "errorCause", "address", "port", "serverAddress",
        "timeMs",
    }
    assert error["errorCause"] == "signed_request_refused"  # refused after the 401 challenge
    assert (error["url"], error["errorCode"], error["errorText"]) == (coturn.url(), 401, "Unauthorized")
    assert error["address"] == "127.0.0.1" and isinstance(error["port"], int)


def test_human_output_shows_the_error_code_text_url_and_a_summary(coturn):
    result = icegather("--server", coturn.url(), "--username", coturn.username, "--credential", "wrong", *FAST)

    assert result.returncode == 1
    assert f"error  401 Unauthorized  {coturn.url()}  (local 127.0.0.1:" in result.stdout
    summary = result.stdout[result.stdout.index("summary (round 1, "):].splitlines()
    assert re.match(
        r"summary \(round 1, \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\): gathering complete in \d+ ms;", summary[0]
    )
    assert summary[1].split() == [
        coturn.url(),
        "FAILED",
        "401",
        "Unauthorized",
        "(answered",
        "in",
        *summary[1].split()[6:],
    ]
    assert summary[2].startswith("diagnosis: no relay candidate: every TURN URL failed")
    assert summary[3].startswith(f"  {coturn.url()}: the TURN server refused the username or credential; check ")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--server", "http://example.org"], "icegather: SyntaxError: ICE server URL 'http://example.org':"),
        (["--server", "turn:127.0.0.1"], "icegather: InvalidAccessError: iceServers[0]: TURN URL"),
        (["--config", "/nonexistent/ice.json"], "icegather: cannot read /nonexistent/ice.json:"),
        ([], "icegather: no ICE server"),
        (["--server", "stun:127.0.0.1", "--rto", "0"], "icegather: --rto must be"),
    ],
)
def test_bad_input_exits_2_with_one_line_on_stderr_and_nothing_on_stdout(args, message):
    result = icegather(*args)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1


def test_a_config_file_is_read_exactly_as_a_browser_takes_it(coturn, tmp_path):
    config = tmp_path / "ice.json"
    config.write_text(
        json.dumps({"iceServers": [coturn.ice_server("turn", password="wrong"), {"urls": "stun:stun1.invalid:3478"}]})
    )
    result = icegather("--json", "--config", str(config), *FAST)

    assert result.returncode == 1
    errors = {r["url"]: r["errorCode"] for r in records(result) if r["type"] == "icecandidateerror"}
    assert errors == {coturn.url(): 401, "stun:stun1.invalid:3478": 701}


def test_a_config_file_nested_too_deeply_exits_2_with_one_line(tmp_path):
    config = tmp_path / "ice.json"
    config.write_text("[" * 100_000)

    result = icegather("--config", str(config))

    assert (result.returncode, result.stderr) == (2, f"icegather: {config} is nested too deeply to read\n")


def test_a_config_file_that_is_not_json_exits_2(tmp_path):
    config = tmp_path / "ice.json"
    config.write_text("{iceServers: nope")
    result = icegather("--config", str(config))
    assert result.returncode == 2 and "is not valid JSON" in result.stderr


def test_the_credential_never_appears_in_any_output(coturn, tmp_path):
    secret = "Sup3r-Secret-Credential"
    secret_file = tmp_path / "credential"
    secret_file.write_text(secret + "\n")
    config = tmp_path / "ice.json"
    config.write_text(
        json.dumps(
            {
                "iceServers": [
                    coturn.ice_server("turn", password=secret),
                    {"urls": "turn:127.0.0.1:1?transport=tcp", "username": "u", "credential": secret},
                ]
            }
        )
    )
    runs = [
        icegather("--server", coturn.url(), "-u", "alice", "--credential", secret, *FAST),
        icegather("--json", "--server", coturn.url(), "-u", "alice", "--credential-file", str(secret_file), *FAST),
        icegather("--json", "--server", coturn.url(), "-u", "alice", *FAST, env={"ICEGATHER_CREDENTIAL": secret}),
        icegather("--config", str(config), *FAST),
        icegather("--json", "--config", str(config), *FAST),
        icegather("--watch", "0", "--rounds", "2", "--config", str(config), *FAST),
        icegather("--json", "--watch", "0", "--rounds", "2", "--config", str(config), *FAST),
        icegather("--server", f"turn:alice:{secret}@127.0.0.1", "-u", "alice", "--credential", secret),
        icegather("--server", "turn:127.0.0.1", "--credential", secret),
    ]
    assert [r.returncode for r in runs] == [1, 1, 1, 1, 1, 1, 1, 2, 2]
    for result in runs:
        assert secret not in result.stdout and secret not in result.stderr


def test_the_credential_file_and_environment_variable_supply_the_credential(coturn, tmp_path):
    secret_file = tmp_path / "credential"
    secret_file.write_text(coturn.password + "\n")
    from_file = icegather("--server", coturn.url(), "-u", coturn.username, "--credential-file", str(secret_file), *FAST)
    from_env = icegather(
        "--server", coturn.url(), "-u", coturn.username, *FAST, env={"ICEGATHER_CREDENTIAL": coturn.password}
    )
    assert (from_file.returncode, from_env.returncode) == (0, 0)


def test_every_ndjson_record_follows_the_documented_schema(tmp_path):
    config = tmp_path / "ice.json"
    # On two addresses, coturn answers RFC 5780's tests (icenattest); --quality streams through
    # its relay (icerelayquality).
    with local_coturn(other_host="127.0.0.2") as coturn:
        config.write_text(
            json.dumps(
                {
                    "iceServers": [
                        coturn.ice_server("turn"),
                        coturn.ice_server("turn", password="x"),
                        {"urls": coturn.url("stun")},
                        {"urls": "stun:stun1.invalid:3478"},
                    ]
                }
            )
        )
        lines = records(icegather("--json", "--trace", "--quality", "0.2", "--config", str(config), *FAST))

    seen = set()
    for record in lines:
        kind = schema_name(record)
        assert tuple(record) == RECORD_FIELDS[kind], record
        seen.add(kind)
    assert seen == set(RECORD_FIELDS)  # the run produced every record type
    summary = lines[-1]
    assert all(tuple(row) == SERVER_FIELDS for row in summary["servers"])
    assert all(tuple(relay) == RELAY_ROW_FIELDS and tuple(relay["quality"]) == QUALITY_FIELDS
               for row in summary["servers"] for relay in row["relays"])
    assert tuple(summary["diagnosis"]) == DIAGNOSIS_FIELDS
    assert all(tuple(finding) == FINDING_FIELDS for finding in summary["diagnosis"]["findings"])
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for kind, keys in RECORD_FIELDS.items():
        assert f"| `{kind}` | " + ", ".join(f"`{key}`" for key in keys) + " |" in readme


def test_watch_prints_one_summary_per_round_and_exits_with_the_last_rounds_status(coturn):
    result = icegather(
        "--json",
        "--watch",
        "0.1",
        "--rounds",
        "3",
        "--server",
        coturn.url(),
        "-u",
        coturn.username,
        "--credential",
        coturn.password,
        *FAST,
    )

    lines = records(result)
    assert [line["type"] for line in lines] == ["summary"] * 3
    assert [line["round"] for line in lines] == [1, 2, 3]
    assert all(line["candidates"]["relay"] == 1 for line in lines)
    assert result.returncode == 0


def test_a_progress_line_shows_on_a_terminal_and_never_in_a_pipe(silent_udp_server):
    args = [
        "--server",
        f"stun:127.0.0.1:{silent_udp_server.port}",
        "--rto",
        "0.2",
        "--max-sends",
        "2",
        "--final-wait",
        "2",
        "--local-address",
        "127.0.0.1",
    ]
    controller, terminal = pty.openpty()
    with subprocess.Popen([ICEGATHER, *args], stdout=terminal, stderr=subprocess.PIPE) as process:
        os.close(terminal)
        shown = read_all(controller)
        process.wait(30)
    piped = icegather(*args)

    assert f"waiting for 1 of 1 server URLs: stun:127.0.0.1:{silent_udp_server.port} (no answer yet)" in shown
    assert "error  701 no response" in shown and "\x1b[K" in shown  # cleared before the record
    assert "waiting for" not in piped.stdout and "\x1b" not in piped.stdout


def read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


EXPLAINED_CODES = (  # every code of ../shared/BEHAVIOUR.md's table
    300,
    400,
    401,
    403,
    405,
    420,
    430,
    431,
    432,
    433,
    437,
    438,
    440,
    441,
    442,
    446,
    447,
    486,
    487,
    500,
    508,
    600,
    701,
)


def test_explain_gives_name_origin_and_advice_for_every_code():
    result = icegather("explain", *map(str, EXPLAINED_CODES))

    assert result.returncode == 0
    blocks = result.stdout.split("\n  what to do: ")
    assert len(blocks) == len(EXPLAINED_CODES) + 1
    for code in EXPLAINED_CODES:
        entry = describe(code)
        header = f"{code} {entry.name}  (error code: {entry.reference}; sent by the {entry.produced_by})"
        assert header in result.stdout
    assert "sent by the local ICE agent" in icegather("explain", "701").stdout
    assert "sent by the STUN/TURN server" in icegather("explain", "486").stdout


def test_explain_refuses_an_unknown_code_with_exit_2():
    result = icegather("explain", "999")
    assert result.returncode == 2 and "999" in result.stderr and result.stdout == ""


def test_credentials_minted_from_a_shared_secret_work_and_the_secret_is_shown_nowhere(tmp_path):
    secret = "a-shared-secret-Zq9"
    (tmp_path / "secret").write_text(secret + "\n")
    with local_coturn(extra_args=["--use-auth-secret", f"--static-auth-secret={secret}"]) as turn:
        result = icegather("--json", "--auth-secret-file", str(tmp_path / "secret"), "--auth-user", "monitor",
                           "-s", turn.url(), "-s", turn.url("turn", "tcp"), *FAST)

    assert result.returncode == 0, result.stdout + result.stderr
    assert len([r for r in records(result) if r.get("candidateType") == "relay"]) == 2
    assert secret not in result.stdout + result.stderr


def test_watch_mints_fresh_credentials_every_round(tmp_path):
    # Valid for 2 s: round 1 has them in time even on a slow start; round 2 begins 2.5 s after
    # round 1 ended, when round 1's have expired for sure, so it passes only with fresh ones.
    secret = "another-secret"
    (tmp_path / "secret").write_text(secret)
    with local_coturn(extra_args=["--use-auth-secret", f"--static-auth-secret={secret}"]) as turn:
        result = icegather("--json", "--auth-secret-file", str(tmp_path / "secret"), "--auth-ttl", "2",
                           "--watch", "2.5", "--rounds", "2", "-s", turn.url(), *FAST)

    summaries = [r for r in records(result) if r["type"] == "summary"]
    assert [s["candidates"]["relay"] for s in summaries] == [1, 1], result.stdout
    assert result.returncode == 0


def test_a_shared_secret_with_a_username_is_refused_as_bad_input(tmp_path):
    (tmp_path / "secret").write_text("s")
    result = icegather("--auth-secret-file", str(tmp_path / "secret"), "-u", "alice", "-s", "turn:127.0.0.1:9")
    assert result.returncode == 2
    assert result.stderr == (
        "icegather: a shared secret mints the username and credential: leave out --username and --credential\n"
    )


def test_bad_input_is_answered_without_loading_asyncio_zeromq_or_the_gathering_code():
    # The start-up budget of the command line (scripts/bench_cli.py): bad input must not pay for them.
    probe = (
        "import io, sys\n"
        "from icegather.main_proc.commands.cli import run\n"
        "assert run(['-s', 'http://x'], io.StringIO(), io.StringIO()) == 2\n"
        "heavy = ('asyncio', 'zmq', 'aioice', 'icegather.main_proc.commands.gathering_round')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    assert printed_by(probe) == "[]"


def test_transactions_are_reported_only_with_trace(coturn):
    plain = records(icegather("--json", "--server", coturn.url("stun"), *FAST))
    traced = records(icegather("--json", "--trace", "--server", coturn.url("stun"), *FAST))

    assert not [r for r in plain if r["type"] == "icetransaction"]
    [binding] = [r for r in traced if r["type"] == "icetransaction"]
    assert (binding["method"], binding["outcome"], binding["url"]) == ("Binding", "answer", coturn.url("stun"))
    assert (binding["serverAddress"], binding["serverPort"]) == ("127.0.0.1", coturn.port)
