"""Shared fixtures: a real Mosquitto per test that asks for it, and a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.services import missing

from simulators.broker import BrokerError, MosquittoProcess, find_mosquitto


@pytest.fixture
def require_mosquitto() -> None:
    """For tests that start their own Mosquitto (scenario runs)."""
    if find_mosquitto() is None:
        missing("mosquitto")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A real Mosquitto on a free loopback port, with no silent queue limit."""
    if find_mosquitto() is None:
        missing("mosquitto")
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


# --- TEMP pg fixtures (replaced at merge) ---
# Until the PostgreSQL fixtures of the infrastructure branch are merged: a fresh database per
# test on the lead's dev server, dropped afterwards. ``store_url`` gives a store target for
# each backend: an SQLite file path or a postgresql:// URL, as --db / POSFLEET_DB take them.
_TEMP_PG_SERVER = "postgresql://posfleet@127.0.0.1:55432/postgres"


@pytest.fixture
def pg_url() -> Iterator[str]:
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    try:
        admin = psycopg.connect(_TEMP_PG_SERVER, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        missing("postgresql", f"the dev server {_TEMP_PG_SERVER} does not answer: {exc}")
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield _TEMP_PG_SERVER.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "posfleet.sqlite")
    url: str = request.getfixturevalue("pg_url")
    return url
