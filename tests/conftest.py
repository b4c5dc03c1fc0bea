"""Shared fixtures: a real Mosquitto per test that asks for it, and a SQLite file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.broker import BrokerError, MosquittoProcess, find_mosquitto


def _require_services() -> bool:
    # Under CI (and scripts/test) a missing service is a failure, never a skip.
    return os.environ.get("CI") == "true" or os.environ.get("POSFLEET_REQUIRE_SERVICES") == "1"


@pytest.fixture
def require_mosquitto() -> None:
    """For tests that start their own Mosquitto (scenario runs)."""
    if find_mosquitto() is None:
        if _require_services():
            pytest.fail("mosquitto is not installed: run scripts/install-services")
        pytest.skip("mosquitto not installed (scripts/install-services installs it)")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A real Mosquitto on a free loopback port, with no silent queue limit."""
    if find_mosquitto() is None and not _require_services():
        pytest.skip("mosquitto not installed (scripts/install-services installs it)")
    try:
        broker = MosquittoProcess(workdir=tmp_path / "mosquitto").start()
    except BrokerError as exc:
        pytest.fail(str(exc))
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "posfleet.sqlite"
