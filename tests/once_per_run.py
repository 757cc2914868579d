"""What the suite makes once per test run and its workers share: the checkout's wheel and sdist,
and a user's virtual environment holding that wheel and mypy.

setuptools builds in the checkout's own ``build/`` directory, which takes one build at a time:
two pytest-xdist workers building at once break each other's ("No such file or directory:
'build/bdist.linux-x86_64/wheel/...'"). And a virtual environment with mypy takes about 9 s to
make, which each worker would spend again. So the first worker to ask makes the thing, under a
lock, in the run's directory, which every worker's temporary directory lies in; the other
waits for it and finds it made.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """The directory ``name`` of this run, filled by ``make`` the first time it is asked for."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER") is not None:
        shared = shared.parent  # the run's directory: pytest-<n>/popen-gw<k>/..
    made, done = shared / name, shared / f"{name}.done"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(made, ignore_errors=True)  # what a failed attempt left
            make(made)
            done.touch()  # made whole, where it is used (a virtual environment cannot move)
    return made


def built_distributions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"wheel": ..., "sdist": ...}``, built by ``python -m build`` from the checkout."""

    def build(out: Path) -> None:
        result = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr

    built = made_once(tmp_path_factory, "distributions", build)
    return {"wheel": next(built.glob("icegather-*.whl")), "sdist": next(built.glob("icegather-*.tar.gz"))}


def user_environment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a new virtual environment holding the wheel, its dependencies and mypy."""
    wheel = built_distributions(tmp_path_factory)["wheel"]

    def make(venv: Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
        install = subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
             "--disable-pip-version-check", str(wheel), "mypy"],
            capture_output=True, text=True, timeout=300,
        )
        assert install.returncode == 0, install.stdout + install.stderr

    return made_once(tmp_path_factory, "user-venv", make) / "bin" / "python"
