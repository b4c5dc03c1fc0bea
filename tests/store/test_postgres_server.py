"""simulators.stack.postgres.PostgresServer: the real PostgreSQL that store tests, drills,
benchmarks and the demo run on; and the postgres_server / pg_url / store_url fixtures."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from support.services import missing

from simulators.stack.postgres import PostgresError, PostgresServer, find_bindir

pytestmark = pytest.mark.integration


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of the test's own, not started: the test stops and kills it."""
    if find_bindir() is None:
        missing("postgresql")
    server = PostgresServer()
    try:
        yield server
    finally:
        server.close()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _server_pids(server: PostgresServer) -> list[int]:
    assert server.pid is not None
    postmaster = psutil.Process(server.pid)
    return [postmaster.pid, *(p.pid for p in postmaster.children(recursive=True))]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_application_url_logs_in_as_posfleet_without_superuser_powers(
    postgres_server: PostgresServer,
) -> None:
    assert postgres_server.url == f"postgresql://posfleet@127.0.0.1:{postgres_server.port}/posfleet"
    with psycopg.connect(postgres_server.url) as conn:
        user, db, encoding = (
            conn.execute(
                "SELECT current_user, current_database(), pg_encoding_to_char(encoding)"
                " FROM pg_database WHERE datname = current_database()"
            ).fetchone()
            or ()
        )
        assert (user, db, encoding) == ("posfleet", "posfleet", "UTF8")
        assert conn.execute("SHOW is_superuser").fetchone() == ("off",)
        assert conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'posfleet'"
        ).fetchone() == ("posfleet",)
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN"
                " ('fsync', 'synchronous_commit', 'max_connections', 'listen_addresses')"
            ).fetchall()
        )
    assert settings == {
        "fsync": "off",
        "synchronous_commit": "on",
        "max_connections": "200",
        "listen_addresses": "127.0.0.1",
    }


def test_two_created_databases_are_isolated_and_dropped(postgres_server: PostgresServer) -> None:
    url_a = postgres_server.create_database("iso_a")
    url_b = postgres_server.create_database("iso_b")
    try:
        for url, value in ((url_a, "a"), (url_b, "b")):
            with psycopg.connect(url) as conn:
                conn.execute("CREATE TABLE gateway (id text PRIMARY KEY)")
                conn.execute("INSERT INTO gateway VALUES (%s)", (value,))
        with psycopg.connect(url_a) as conn:
            assert conn.execute("SELECT id FROM gateway").fetchall() == [("a",)]
        with psycopg.connect(url_b) as conn:
            assert conn.execute("SELECT id FROM gateway").fetchall() == [("b",)]
    finally:
        postgres_server.drop_database("iso_a")
        postgres_server.drop_database("iso_b")
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(url_a)


def test_a_database_created_from_a_template_starts_as_its_copy(
    postgres_server: PostgresServer,
) -> None:
    template = postgres_server.create_database("tpl_migrated")
    try:
        with psycopg.connect(template) as conn:
            conn.execute("CREATE TABLE schema_version (n int)")
            conn.execute("INSERT INTO schema_version VALUES (3)")
        copy = postgres_server.create_database("tpl_copy", template="tpl_migrated")
        with psycopg.connect(copy) as conn:
            assert conn.execute("SELECT n FROM schema_version").fetchall() == [(3,)]
            conn.execute("INSERT INTO schema_version VALUES (4)")
        with psycopg.connect(template) as conn:
            assert conn.execute("SELECT n FROM schema_version").fetchall() == [(3,)]
    finally:
        postgres_server.drop_database("tpl_copy")
        postgres_server.drop_database("tpl_migrated")


def test_pg_url_is_an_empty_database_the_application_owns(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone() == (0,)
        conn.execute("CREATE TABLE alert (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY)")
        assert conn.execute("INSERT INTO alert DEFAULT VALUES RETURNING id").fetchone() == (1,)


def test_store_url_names_each_backend(store_url: str, tmp_path: Path) -> None:
    if store_url.startswith("postgresql://"):
        with psycopg.connect(store_url) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("posfleet",)
    else:
        assert store_url == str(tmp_path / "store.db")


def test_a_table_survives_a_restart_on_the_same_url(own_server: PostgresServer) -> None:
    with own_server:
        with psycopg.connect(own_server.url) as conn:
            conn.execute("CREATE TABLE t (x int)")
            conn.execute("INSERT INTO t VALUES (42)")
        url, old = own_server.url, _server_pids(own_server)
        own_server.restart()
        assert all(_gone(pid) for pid in old)
        assert own_server.url == url
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT x FROM t").fetchall() == [(42,)]


def test_a_commit_acknowledged_just_before_a_kill_survives_it(own_server: PostgresServer) -> None:
    # A drill that kills PostgreSQL must lose nothing the collector saw committed: the test
    # settings keep synchronous_commit on (with it off, this row is lost).
    with own_server:
        with psycopg.connect(own_server.url) as conn:
            conn.execute("CREATE TABLE t (x int)")
        client = psycopg.connect(own_server.url, autocommit=True)
        client.execute("INSERT INTO t VALUES (7)")
        old = _server_pids(own_server)
        own_server.kill()
        assert all(_gone(pid) for pid in old)
        with pytest.raises(psycopg.OperationalError):
            client.execute("SELECT 1")
        client.close()
        own_server.start()
        with psycopg.connect(own_server.url) as conn:
            assert conn.execute("SELECT x FROM t").fetchall() == [(7,)]


def test_closing_leaves_no_process_no_port_and_no_directory(own_server: PostgresServer) -> None:
    with own_server:
        client = psycopg.connect(own_server.url)  # a backend, left open on purpose
        pids = _server_pids(own_server)
        assert len(pids) >= 3  # postmaster, our backend, the checkpointer at least
        expected_user = "postgres" if os.geteuid() == 0 else psutil.Process().username()
        assert {psutil.Process(pid).username() for pid in pids} == {expected_user}
    client.close()
    assert [pid for pid in pids if not _gone(pid)] == []
    assert not _listening(own_server.port)
    assert not own_server.workdir.exists()


def test_a_server_that_cannot_start_says_why_and_leaves_nothing() -> None:
    if find_bindir() is None:
        missing("postgresql")
    server = PostgresServer(settings={"shared_buffers": "lots"})
    with pytest.raises(PostgresError, match='invalid value for parameter "shared_buffers"'):
        server.__enter__()
    assert server.pid is None
    assert not server.workdir.exists()
