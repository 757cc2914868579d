"""The checkout's wheel and sdist, built once per test run and shared by the suite's workers.

setuptools builds in the checkout's own ``build/`` directory, which takes one build at a time:
two pytest-xdist workers building at once break each other's ("No such file or directory:
'build/bdist.linux-x86_64/wheel/...'"). So the first worker to ask builds, under a lock, into
the run's directory, which every worker's temporary directory lies in; the other finds them
built.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def built_distributions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"wheel": ..., "sdist": ...}``, built by ``python -m build`` from the checkout."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER") is not None:
        shared = shared.parent  # the run's directory: pytest-<n>/popen-gw<k>/..
    built = shared / "distributions"
    with open(shared / "distributions.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            building = shared / "distributions.partial"
            shutil.rmtree(building, ignore_errors=True)
            result = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(building),
                                     str(ROOT)], capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, result.stdout + result.stderr
            building.rename(built)  # complete, or not there at all
    return {"wheel": next(built.glob("icegather-*.whl")), "sdist": next(built.glob("icegather-*.tar.gz"))}
