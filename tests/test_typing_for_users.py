"""icegather type-checks for its users as it does here: installed from a wheel into a fresh
virtual environment with only its declared dependencies and mypy (no ``types-PyYAML``, none of
this repository's mypy configuration), the package is clean under ``mypy --strict``, and a
browser-shaped configuration is checked key by key in user code with no ``Any`` in sight.

Unlike tests/test_packaging.py, which borrows this environment's packages, the environment
here installs from the package index: borrowed stubs would hide what a user is missing.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from once_per_run import user_environment

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def user_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return user_environment(tmp_path_factory)


def mypy(python: Path, directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Run from a directory without a configuration: the user's defaults, not this repository's.
    return subprocess.run([str(python), "-m", "mypy", "--strict", "--no-incremental", *args],
                          cwd=directory, capture_output=True, text=True, timeout=120)


USER_CODE = '''
from icegather import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCPeerConnectionIceErrorEvent


def on_error(event: RTCPeerConnectionIceErrorEvent) -> None:
    code: int = event.errorCode
    print(code, event.url, event.errorText)


async def main() -> None:
    pc = RTCPeerConnection(
        {
            "iceServers": [{"urls": ["stun:stun.invalid"], "username": "u", "credential": "c"}],
            "iceTransportPolicy": "relay",
        }
    )
    pc.onicecandidateerror = on_error
    await pc.gather()
    server: RTCIceServer = {"urls": "stun:stun.invalid"}
    configuration: RTCConfiguration = {"iceServers": [server], "iceCandidatePoolSize": 0}
    pc.setConfiguration(configuration)
'''


def test_the_installed_package_is_clean_under_mypy_strict_without_stubs_for_its_dependencies(
    user_python: Path, tmp_path: Path
) -> None:
    result = mypy(user_python, tmp_path, "-p", "icegather")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_a_browser_shaped_configuration_type_checks_with_no_any_expression_in_user_code(
    user_python: Path, tmp_path: Path
) -> None:
    (tmp_path / "user.py").write_text(USER_CODE)
    result = mypy(user_python, tmp_path, "--disallow-any-expr", "user.py")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("right", "wrong"), [
    ('"iceServers": [{"urls": ["stun', '"iceServer": [{"urls": ["stun'),
    ('"iceTransportPolicy": "relay"', '"iceTransportPolicy": "none"'),
    ('"username": "u"', '"userName": "u"'),
], ids=["misspelt-iceServers", "unknown-transport-policy", "misspelt-username"])
def test_a_wrong_key_or_policy_in_a_configuration_fails_type_checking(
    user_python: Path, tmp_path: Path, right: str, wrong: str
) -> None:
    assert USER_CODE.count(right) == 1
    (tmp_path / "user.py").write_text(USER_CODE.replace(right, wrong))
    result = mypy(user_python, tmp_path, "--disallow-any-expr", "user.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'Argument 1 to "RTCPeerConnection" has incompatible type' in result.stdout
    assert "Found 1 error in 1 file" in result.stdout
