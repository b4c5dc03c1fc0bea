"""Shared fixtures: a real Mosquitto per test that asks for it, a SQLite file, a real
PostgreSQL (one server per session, one fresh database per test), and ``store_url`` for tests
that run on both store backends."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.services import missing

from simulators.broker import BrokerError, MosquittoProcess, find_mosquitto
from simulators.stack.postgres import PostgresError, PostgresServer, find_bindir


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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the whole run (started on first use).

    Shared: never stop or kill it in a test; a drill starts a ``PostgresServer`` of its own.
    """
    if find_bindir() is None:
        missing("postgresql")
    try:
        server = PostgresServer()
    except PostgresError as exc:
        pytest.fail(str(exc))
    try:
        server.start()
    except PostgresError as exc:
        server.close()
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database owned by role posfleet, dropped after the test:
    ``postgresql://posfleet@127.0.0.1:PORT/<test name>_<random>``."""
    stem = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower())[:40]
    name = f"t_{stem}_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store on each backend: a SQLite file path, or a fresh PostgreSQL database's URL.

    The PostgreSQL server is started only for the "postgresql" case, so the "sqlite" case
    runs where PostgreSQL is not installed.
    """
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return str(request.getfixturevalue("pg_url"))
