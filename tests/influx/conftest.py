"""Fixtures: a real victoria-metrics per test that asks for it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.services import missing

from simulators.stack.victoria import VictoriaMetrics


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    if shutil.which("victoria-metrics") is None:
        missing("victoria-metrics")
    server = VictoriaMetrics(tmp_path / "vm").start()
    try:
        yield server
    finally:
        server.close()
