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


def first_command_after(heading: str) -> str:
    return code_blocks_in(README.split(heading, 1)[1])[0].strip()


def ci_command(name: str) -> str:
    """A command .ci/run names in a line ``name='...'``."""
    ci_script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    [command] = re.findall(rf"^{name}='(.*)'$", ci_script, flags=re.MULTILINE)
    return command


def code_blocks_in(text: str) -> list[str]:
    return re.findall(r"```\n(.*?)```", text, flags=re.DOTALL)


def test_ci_runs_exactly_the_readme_commands_with_debians_own_python() -> None:
    assert ci_command("readme_install") == first_command_after("Install, and run icegather")
    assert ci_command("readme_tests") == first_command_after("Run the tests")
    assert "pytest" in ci_command("readme_tests")
    ci_script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # Both run with nothing but the system's PATH, where python3 is Debian's /usr/bin/python3.
    assert 'stock "$readme_install"' in ci_script and 'stock "$readme_tests"' in ci_script
    assert "env -i HOME=\"$HOME\" PATH=/usr/sbin:/usr/bin:/sbin:/bin" in ci_script


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
