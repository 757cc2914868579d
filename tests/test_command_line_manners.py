"""The command line's manners: ``--help`` lists every command, and a closed pipe
(``icegather ... | head -1``) ends any command quietly with 141, the shell's status for it."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest
from commands import ICEGATHER

from icegather.main_proc.commands.cli import EXIT_PIPE_CLOSED, run
from icegather.main_proc.commands.cli_parser import SUBCOMMANDS

FAST = ["--rto", "0.05", "--max-sends", "2", "--final-wait", "2", "--local-address", "127.0.0.1"]


def with_stdout_closed(*args: str) -> subprocess.CompletedProcess[str]:
    """The command run with a stdout whose reader has gone: its first write meets a closed pipe."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([ICEGATHER, *args], stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)


@pytest.fixture
def saved_run(tmp_path: Path, closed_udp_port: int) -> Path:
    run_file = tmp_path / "run.ndjson"
    with run_file.open("w") as out:
        subprocess.run([ICEGATHER, "--json", "-s", f"stun:127.0.0.1:{closed_udp_port}", *FAST], stdout=out,
                       timeout=60, check=False)
    return run_file


@pytest.mark.parametrize("command", [
    "gathering", "gathering --json", "gathering --watch", "explain", "audit", "report", "exporter", "--help",
    "--version",
])
def test_a_closed_pipe_ends_every_command_quietly_with_141(command, closed_udp_port, saved_run, tmp_path):
    url = f"stun:127.0.0.1:{closed_udp_port}"
    args = {
        "gathering": ["-s", url, *FAST],
        "gathering --json": ["--json", "-s", url, *FAST],
        "gathering --watch": ["--watch", "0", "--rounds", "3", "-s", url, *FAST],
        "explain": ["explain"],
        "audit": ["audit", url, *FAST],
        "report": ["report", str(saved_run), "--html", str(tmp_path / "page.html")],
        "exporter": ["exporter", "--listen", "127.0.0.1:0"],  # ends: its first line meets the closed pipe
        "--help": ["--help"],
        "--version": ["--version"],
    }[command]

    result = with_stdout_closed(*args)

    assert (result.returncode, result.stderr) == (EXIT_PIPE_CLOSED, "")


def test_help_lists_every_command_with_one_line_each(capsys):
    with pytest.raises(SystemExit):
        run(["--help"], io.StringIO(), io.StringIO())  # argparse writes help to sys.stdout

    lines = capsys.readouterr().out.splitlines()
    assert set(SUBCOMMANDS) == {"explain", "audit", "report", "exporter", "sandbox"}
    for name, command in SUBCOMMANDS.items():
        [line] = [line for line in lines if line.split()[:1] == [name]]
        assert line == f"  {name:<8}  {command.summary}"
    assert "  sandbox   show which confinement layers the transport process runs under" in lines


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_every_command_help_lists_has_help_of_its_own(name, capsys):
    with pytest.raises(SystemExit) as done:
        run([name, "--help"], io.StringIO(), io.StringIO())

    assert done.value.code == 0 and capsys.readouterr().out.startswith(f"usage: icegather {name}")
