"""The README stays true: its test command is the one CI runs, its Python example runs and
prints what the README says it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from commands import ICEGATHER

from icegather.shared.protocol.messages import TO_MAIN, TO_TRANSPORT

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def readme_test_command() -> str:
    section = README.split("Run the tests", 1)[1]
    return code_blocks_in(section)[0].strip()


def code_blocks_in(text: str) -> list[str]:
    return re.findall(r"```\n(.*?)```", text, flags=re.DOTALL)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci_script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = readme_test_command()
    assert "pytest" in command
    ci_lines = [line.strip() for line in ci_script.splitlines()]
    assert command in ci_lines


def test_readme_python_example_prints_what_the_readme_shows() -> None:
    example = code_blocks("python")[0]
    shown_output = code_blocks_in(README.split(example + "```", 1)[1])[0]
    result = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == shown_output


def test_readme_shows_the_real_bad_input_messages() -> None:
    for url in ("turn:127.0.0.1:9", "http://x"):
        result = subprocess.run(
            [ICEGATHER, "-s", url], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2
        assert f"$ icegather -s {url}\n{result.stderr}" in README


def test_the_architecture_document_lists_every_message_of_the_protocol():
    architecture = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name in (*TO_TRANSPORT, *TO_MAIN):
        direction = "main -> transport" if name in TO_TRANSPORT else "transport -> main"
        assert f"| {direction} | `{name}` |" in architecture
