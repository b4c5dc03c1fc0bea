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
# Until the shared `pg_url` / `postgres_server` fixtures land (another branch), a fresh
# database per test on the lead's dev server; POSFLEET_TEST_PG_ADMIN overrides the server.
PG_ADMIN_URL = "postgresql://posfleet@127.0.0.1:55432/postgres"


@pytest.fixture
def pg_url() -> Iterator[str]:
    import os
    import uuid

    import psycopg

    admin_url = os.environ.get("POSFLEET_TEST_PG_ADMIN", PG_ADMIN_URL)
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        missing("postgresql", f"start the dev server at {admin_url} ({exc})")
    name = f"posfleet_test_{uuid.uuid4().hex[:12]}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
        admin.close()


# --- end TEMP pg fixtures ---
