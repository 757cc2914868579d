"""The exporter most of the exporter's tests probe through: ``probing_exporter`` over the
session's coturn, one a test module; and a lossy path to a server (``lossy_proxy``)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import impair_proxy
import pytest
from local_coturn import Coturn
from local_exporter import ExporterProcess, probing_exporter
from process_stop import stop

PROXY_SEED = 1  # the same datagrams lost on every run


@pytest.fixture(scope="module")
def exporter(coturn: Coturn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExporterProcess]:
    with probing_exporter(tmp_path_factory.mktemp("exporter"), coturn) as process:
        yield process


@contextmanager
def lossy_proxy(upstream: int, loss: float) -> Iterator[int]:
    """scripts/impair_proxy.py on 127.0.0.1 in front of the UDP port ``upstream``, dropping
    ``loss`` of the datagrams each way: the port to send to."""
    proxy = subprocess.Popen(
        [sys.executable, impair_proxy.__file__, "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{upstream}",
         "--loss", str(loss), "--seed", str(PROXY_SEED)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proxy.stdout is not None
        said = proxy.stdout.readline()  # once it listens, or nothing when it could not start
        listening = re.search(r"listening on 127\.0\.0\.1:(\d+),", said)
        assert listening is not None, f"impair_proxy: {said!r}"
        yield int(listening.group(1))
    finally:
        stop(proxy, 5)
