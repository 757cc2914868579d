"""The ``icegather`` command, run as a user runs it: a separate process, real coturn."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

FAST = ["--rto", "0.05", "--max-sends", "2", "--final-wait", "2", "--local-address", "127.0.0.1"]


def icegather(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("icegather")
    assert executable, "the icegather console script is not installed (pip install -e .)"
    return subprocess.run(
        [executable, *args], capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})},
    )


def records(result: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_healthy_turn_server_exits_0_with_a_relay_candidate_in_ndjson(coturn):
    result = icegather("--json", "--server", coturn.url(), "--username", coturn.username,
                       "--credential", coturn.password, *FAST)

    assert result.returncode == 0, result.stderr
    lines = records(result)
    assert lines[0] == {"type": "icegatheringstatechange", "state": "gathering", "time_ms": lines[0]["time_ms"]}
    relays = [r for r in lines if r["type"] == "icecandidate" and r["candidate"] and r["candidateType"] == "relay"]
    assert len(relays) == 1 and relays[0]["url"] == coturn.url() and relays[0]["relayProtocol"] == "udp"
    assert lines[-1]["type"] == "summary" and lines[-1]["exitStatus"] == 0
    assert lines[-1]["candidates"]["relay"] == 1 and lines[-1]["errors"] == 0


def test_refused_credentials_exit_1_with_the_dom_shaped_error_record(coturn):
    result = icegather("--json", "--server", coturn.url(), "--username", coturn.username,
                       "--credential", "wrong", *FAST)

    assert result.returncode == 1, result.stderr
    [error] = [r for r in records(result) if r["type"] == "icecandidateerror"]
    assert set(error) == {"type", "url", "errorCode", "errorText", "address", "port", "time_ms"}
    assert (error["url"], error["errorCode"], error["errorText"]) == (coturn.url(), 401, "Unauthorized")
    assert error["address"] == "127.0.0.1" and isinstance(error["port"], int)


def test_human_output_shows_the_error_code_text_url_and_a_summary(coturn):
    result = icegather("--server", coturn.url(), "--username", coturn.username, "--credential", "wrong", *FAST)

    assert result.returncode == 1
    assert f"error  401 Unauthorized  {coturn.url()}  (local 127.0.0.1:" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("summary: gathering complete;")


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
    config.write_text(json.dumps({"iceServers": [coturn.ice_server("turn", password="wrong"),
                                                 {"urls": "stun:stun1.invalid:3478"}]}))
    result = icegather("--json", "--config", str(config), *FAST)

    assert result.returncode == 1
    errors = {r["url"]: r["errorCode"] for r in records(result) if r["type"] == "icecandidateerror"}
    assert errors == {coturn.url(): 401, "stun:stun1.invalid:3478": 701}


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
    config.write_text(json.dumps({"iceServers": [coturn.ice_server("turn", password=secret),
                                                 {"urls": "turn:127.0.0.1:1?transport=tcp", "username": "u",
                                                  "credential": secret}]}))
    runs = [
        icegather("--server", coturn.url(), "-u", "alice", "--credential", secret, *FAST),
        icegather("--json", "--server", coturn.url(), "-u", "alice", "--credential-file", str(secret_file), *FAST),
        icegather("--json", "--server", coturn.url(), "-u", "alice", *FAST, env={"ICEGATHER_CREDENTIAL": secret}),
        icegather("--config", str(config), *FAST),
        icegather("--json", "--config", str(config), *FAST),
        icegather("--server", f"turn:alice:{secret}@127.0.0.1", "-u", "alice", "--credential", secret),
        icegather("--server", "turn:127.0.0.1", "--credential", secret),
    ]
    assert [r.returncode for r in runs] == [1, 1, 1, 1, 1, 2, 2]
    for result in runs:
        assert secret not in result.stdout and secret not in result.stderr


def test_the_credential_file_and_environment_variable_supply_the_credential(coturn, tmp_path):
    secret_file = tmp_path / "credential"
    secret_file.write_text(coturn.password + "\n")
    from_file = icegather("--server", coturn.url(), "-u", coturn.username, "--credential-file", str(secret_file), *FAST)
    from_env = icegather("--server", coturn.url(), "-u", coturn.username, *FAST,
                         env={"ICEGATHER_CREDENTIAL": coturn.password})
    assert (from_file.returncode, from_env.returncode) == (0, 0)
