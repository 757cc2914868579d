"""The exporter most of the exporter's tests probe through: ``probing_exporter`` over the
session's coturn, one a test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from local_coturn import Coturn
from local_exporter import ExporterProcess, probing_exporter


@pytest.fixture(scope="module")
def exporter(coturn: Coturn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExporterProcess]:
    with probing_exporter(tmp_path_factory.mktemp("exporter"), coturn) as process:
        yield process
