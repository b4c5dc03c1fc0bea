"""Fixtures: a real victoria-metrics per test that asks for it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from vmserver import VictoriaMetrics


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    # As for Mosquitto: under CI or scripts/test a missing server fails, never skips.
    required = os.environ.get("CI") == "true" or os.environ.get("POSFLEET_REQUIRE_SERVICES") == "1"
    if shutil.which("victoria-metrics") is None and not required:
        pytest.skip("victoria-metrics not installed (apt install victoria-metrics)")
    server = VictoriaMetrics(tmp_path / "vm").start()
    try:
        yield server
    finally:
        server.close()
