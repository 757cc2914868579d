"""The documentation stays true: the README's commands are the ones CI runs, the Python API
guide's example runs and prints what the guide says it prints, the command line guide shows the
real bad-input messages, the architecture lists every message of the protocol, the README stays
a front page, and every relative link leads somewhere."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from commands import ICEGATHER

from icegather.shared.protocol.messages import TO_MAIN, TO_TRANSPORT

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def guide(name: str) -> str:
    """The text of the guide docs/NAME."""
    return (DOCS / name).read_text(encoding="utf-8")


def code_blocks(language: str, text: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


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


def test_python_api_example_prints_what_the_guide_shows() -> None:
    python_api = guide("python-api.md")
    example = code_blocks("python", python_api)[0]
    shown_output = code_blocks_in(python_api.split(example + "```", 1)[1])[0]
    result = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == shown_output


def test_command_line_guide_shows_the_real_bad_input_messages() -> None:
    command_line = guide("command-line.md")
    for url in ("turn:127.0.0.1:9", "http://x"):
        result = subprocess.run(
            [ICEGATHER, "-s", url], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2
        assert f"$ icegather -s {url}\n{result.stderr}" in command_line


def test_the_architecture_document_lists_every_message_of_the_protocol():
    architecture = guide("architecture.md")
    for name in (*TO_TRANSPORT, *TO_MAIN):
        direction = "main -> transport" if name in TO_TRANSPORT else "transport -> main"
        assert f"| {direction} | `{name}` |" in architecture


def test_the_readme_is_a_front_page_of_at_most_250_lines() -> None:
    assert len(README.splitlines()) <= 250


def github_anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading: lower case, punctuation but - and _ dropped,
    spaces made hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    outside_code = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)
    return {github_anchor(h) for h in re.findall(r"^#+ (.*)$", outside_code, flags=re.MULTILINE)}


def test_every_relative_link_in_the_readme_and_the_docs_leads_to_something_that_exists() -> None:
    documents = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
    checked = 0
    for document in documents:
        text = document.read_text(encoding="utf-8")
        prose = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
        for target in re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", prose):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: and the like
                continue
            path, _, fragment = target.partition("#")
            linked = (document.parent / path).resolve() if path else document
            where = f"{document.relative_to(ROOT)} links to {target}"
            assert linked.exists(), where
            if fragment and linked.suffix == ".md":
                assert fragment in anchors(linked.read_text(encoding="utf-8")), where
            checked += 1
    assert checked >= 20  # the README links to every guide, and the guides back to it
