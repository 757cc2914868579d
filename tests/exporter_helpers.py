"""The exporter most of the exporter's tests probe through: ``probing_exporter`` over the
session's coturn, one a test module; and a lossy path to a server (``lossy_proxy``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager

import pytest
from impaired_paths import running_proxy
from local_coturn import Coturn
from local_exporter import ExporterProcess, probing_exporter

PROXY_SEED = 1  # the same datagrams lost on every run


@pytest.fixture(scope="module")
def exporter(coturn: Coturn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExporterProcess]:
    with probing_exporter(tmp_path_factory.mktemp("exporter"), coturn) as process:
        yield process


def lossy_proxy(upstream: int, loss: float) -> AbstractContextManager[int]:
    """scripts/impair_proxy.py on 127.0.0.1 in front of the UDP port ``upstream``, dropping
    ``loss`` of the datagrams each way: the port to send to."""
    return running_proxy("127.0.0.1", upstream, "--loss", str(loss), "--seed", str(PROXY_SEED))
