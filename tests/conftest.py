"""Shared fixtures: a real Mosquitto per test that asks for it, and a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
# Until the PostgreSQL fixtures of the infrastructure branch are merged (its
# ``postgres_server`` starts a throwaway server; same names, same calls): the lead's dev
# server, a fresh database per test, dropped afterwards. ``store_url`` gives a store target
# for each backend: an SQLite file path or a postgresql:// URL, as --db / POSFLEET_DB take them.
class _DevPostgres:
    URL = "postgresql://posfleet@127.0.0.1:55432/postgres"

    def _admin(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.URL, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            missing("postgresql", f"the dev server {self.URL} does not answer: {exc}")

    def create_database(self, name: str) -> str:
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.URL.rsplit("/", 1)[0] + "/" + name

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server() -> _DevPostgres:
    return _DevPostgres()


@pytest.fixture
def pg_url(postgres_server: _DevPostgres) -> Iterator[str]:
    import uuid

    name = f"t_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "posfleet.sqlite")
    url: str = request.getfixturevalue("pg_url")
    return url
