"""icegather as a user installs it: a wheel built from this checkout, installed into a fresh
virtual environment, run from a directory whose folders are named like the repository's
(``shared``, ``main_proc``, ``transport_proc``, ``icegather``), against a real coturn; and its
public API type-checked in user code.

The fresh environment borrows the dependencies (aioice, pyzmq, ...) of the environment that
runs the suite through a ``.pth`` file, so that the test needs no network; icegather itself
comes only from the wheel.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
from once_per_run import ROOT, built_distributions

import icegather

FAST = ["--rto", "0.05", "--max-sends", "2", "--final-wait", "2", "--local-address", "127.0.0.1"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return built_distributions(tmp_path_factory)


@pytest.fixture(scope="module")
def fresh_environment(distributions: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the wheel installed; returns its bin/ directory."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--disable-pip-version-check", str(distributions["wheel"])], check=True, timeout=120)
    site_packages = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                   capture_output=True, text=True, check=True).stdout.strip()
    Path(site_packages, "borrowed_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv / "bin"


@pytest.fixture
def confusing_directory(tmp_path: Path) -> Path:
    """A directory whose folders are named like icegather's packages and break on import."""
    for name in ("shared", "main_proc", "transport_proc", "icegather"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('the {name} of the current directory')\n")
    return tmp_path


def test_the_wheel_holds_one_icegather_package_with_its_type_marker(distributions: dict[str, Path]) -> None:
    names = zipfile.ZipFile(distributions["wheel"]).namelist()
    top_level = {name.split("/")[0] for name in names if not name.startswith("icegather-")}
    assert top_level == {"icegather"}
    for expected in ("icegather/py.typed", "icegather/shared/protocol/codec.py", "icegather/main_proc/commands/cli.py",
                     "icegather/transport_proc/__main__.py"):
        assert expected in names


def test_the_sdist_carries_the_sources_and_metadata(distributions: dict[str, Path]) -> None:
    with tarfile.open(distributions["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "icegather/shared/structs.py", "icegather/py.typed"} <= names


def test_the_installed_wheel_gathers_correctly_from_a_directory_with_look_alike_folders(
    fresh_environment: Path, confusing_directory: Path, coturn, closed_udp_port: int
) -> None:
    credential = confusing_directory / "credential"
    credential.write_text(coturn.password)
    result = subprocess.run(
        [str(fresh_environment / "icegather"), "--json", "-u", coturn.username, "--credential-file", str(credential),
         "-s", coturn.url(), "-s", f"stun:127.0.0.1:{closed_udp_port}", *FAST],
        cwd=confusing_directory, capture_output=True, text=True, timeout=60,
    )
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1, result.stderr
    relays = [r for r in records if r["type"] == "icecandidate" and r.get("candidateType") == "relay"]
    assert [r["url"] for r in relays] == [coturn.url()]
    [error] = [r for r in records if r["type"] == "icecandidateerror"]
    assert (error["url"], error["errorCode"]) == (f"stun:127.0.0.1:{closed_udp_port}", 701)
    assert error["errorText"].startswith("port unreachable")
    assert records[-1]["complete"] is True and records[-1]["failure"] is None


def test_the_installed_command_and_module_say_their_version(fresh_environment: Path, confusing_directory: Path) -> None:
    command = subprocess.run([str(fresh_environment / "icegather"), "--version"], cwd=confusing_directory,
                             capture_output=True, text=True, timeout=30)
    assert command.stdout == f"icegather {icegather.__version__}\n"
    module = subprocess.run([str(fresh_environment / "python"), "-I", "-m", "icegather", "--version"],
                            capture_output=True, text=True, timeout=30)
    assert module.stdout == f"icegather {icegather.__version__}\n"


USER_CODE = '''
import asyncio

from icegather import RTCPeerConnection, RTCPeerConnectionIceErrorEvent, TransportError


def on_error(event: RTCPeerConnectionIceErrorEvent) -> None:
    code: int = event.errorCode
    address: str | None = event.address
    port: int | None = event.port
    print(code, address, port, event.url, event.errorText)


async def main() -> None:
    async with RTCPeerConnection({"iceServers": [{"urls": "stun:stun1.invalid"}]}) as pc:
        pc.onicecandidateerror = on_error
        try:
            await pc.gather()
        except TransportError as exc:
            print(exc)
        state: str = pc.iceGatheringState
        print(state)


asyncio.run(main())
'''


def test_user_code_type_checks_against_the_installed_api_and_wrong_types_are_caught(
    fresh_environment: Path, tmp_path: Path
) -> None:
    (tmp_path / "good.py").write_text(USER_CODE)
    (tmp_path / "bad.py").write_text(USER_CODE.replace("code: int = event.errorCode", "code: str = event.errorCode"))

    def mypy(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(fresh_environment / "python"), "-m", "mypy", "--strict", "--no-incremental", name],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)

    good = mypy("good.py")
    assert good.returncode == 0, good.stdout
    bad = mypy("bad.py")
    assert bad.returncode == 1
    assert 'Incompatible types in assignment (expression has type "int", variable has type "str")' in bad.stdout


def test_the_public_api_is_what_all_lists() -> None:
    public = set(icegather.__all__) - {"__version__"}
    assert public == set(icegather._EXPORTS)
    for name in public:
        assert getattr(icegather, name).__name__ == name


def test_the_install_script_byte_compiles_every_module_of_the_checkout(tmp_path: Path) -> None:
    # Where PYTHONDONTWRITEBYTECODE is set, a module without byte code is compiled at every run;
    # compileall does not follow icegather/'s links to the three folders, so the script must
    # name them.
    line = next(text for text in (ROOT / "scripts" / "install.sh").read_text().splitlines() if "-m compileall" in text)
    arguments = line.split("-m compileall", 1)[1].split()
    for name in ("icegather", "main_proc", "shared", "transport_proc"):
        shutil.copytree(ROOT / name, tmp_path / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "compileall", *arguments], cwd=tmp_path, check=True, timeout=120)

    modules = {path.resolve() for path in tmp_path.glob("**/*.py")}
    compiled = {(path.parent.parent / (path.name.split(".")[0] + ".py")).resolve()
                for path in tmp_path.glob("**/__pycache__/*.pyc")}
    assert modules and modules == compiled
