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
# The pgschema helper's tests/conftest.py provides ``pg_url`` and ``store_url``; until that
# lands, these run against the lead's dev server. Remove this block at merge.
PG_SERVER_URL = "postgresql://posfleet@127.0.0.1:55432/postgres"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test (dropped after it)."""
    import uuid

    psycopg = pytest.importorskip("psycopg")
    name = f"posfleet_t_{uuid.uuid4().hex[:16]}"
    try:
        admin = psycopg.connect(PG_SERVER_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        missing(f"postgresql at {PG_SERVER_URL} ({exc})", "start the dev PostgreSQL server")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_SERVER_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_SERVER_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store of a test on each engine: an SQLite file path, or a fresh PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "posfleet.sqlite")
    return str(request.getfixturevalue("pg_url"))
