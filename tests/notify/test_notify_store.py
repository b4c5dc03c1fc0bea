"""The relay's long-lived connections to a PostgreSQL store (a real server): they never sit
idle inside a transaction between pages, and a session the server dropped is replaced, not
reused for every page after it."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import psycopg
import pytest

from collector.store import db
from collector.store.migrate import ensure_schema
from notify.audit import AuditLog
from notify.render import SiteInfo
from notify.sites import SiteDirectory

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(pg_url: str) -> str:
    conn = db.connect(pg_url)
    ensure_schema(conn)
    with conn:
        conn.execute("INSERT INTO regions (region_id, name) VALUES ('north', 'North')")
        conn.executemany(
            "INSERT INTO sites (site_id, region_id, name, merchant_name, merchant_contact) "
            "VALUES (?, 'north', ?, ?, ?)",
            [(f"site-{i}", f"Store {i}", f"Merchant {i}", f"1380000000{i}") for i in range(4)],
        )
    conn.close()
    return pg_url


def _sessions(url: str) -> list[tuple[int, str]]:
    """(pid, state) of the relay's sessions (application_name posfleet) on ``url``'s database."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(url, autocommit=True, application_name="test-observer") as c:
        return [
            (int(pid), str(state))
            for pid, state in c.execute(
                "SELECT pid, state FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = 'posfleet'",
                (name,),
            ).fetchall()
        ]


def _kill_sessions(url: str) -> int:
    with psycopg.connect(url, autocommit=True, application_name="test-observer") as c:
        killed = 0
        for pid, _ in _sessions(url):
            c.execute("SELECT pg_terminate_backend(%s)", (pid,))
            killed += 1
    return killed


def test_site_lookups_leave_no_session_idle_in_a_transaction(store: str) -> None:
    sites = SiteDirectory(store)
    try:
        assert sites("site-1") == SiteInfo("Store 1", "Merchant 1", "13800000001", "North")
        assert [state for _, state in _sessions(store)] == ["idle"]
        audit = AuditLog(store)
        try:
            assert audit.record("notify.delivered", "alert:fp1", NOW, {"channel": "noc"})
            assert sorted(state for _, state in _sessions(store)) == ["idle", "idle"]
        finally:
            audit.close()
    finally:
        sites.close()


def test_a_site_lookup_after_the_server_dropped_the_session_still_names_the_store(
    store: str,
) -> None:
    sites = SiteDirectory(store)
    try:
        assert sites("site-1") is not None
        assert _kill_sessions(store) == 1
        # A new site (not cached): read on a new session, the page keeps its names.
        assert sites("site-2") == SiteInfo("Store 2", "Merchant 2", "13800000002", "North")
    finally:
        sites.close()


def test_an_audit_write_lost_with_its_session_is_counted_and_the_next_one_reconnects(
    store: str,
) -> None:
    audit = AuditLog(store)
    try:
        assert audit.record("notify.delivered", "alert:fp1", NOW, {"n": 1})
        assert _kill_sessions(store) == 1
        # Not retried: whether a write reached the store is unknown when its session dies.
        assert not audit.record("notify.delivered", "alert:fp2", NOW, {"n": 2})
        assert audit.failures == 1
        assert audit.record("notify.delivered", "alert:fp3", NOW, {"n": 3})
    finally:
        audit.close()
    conn = db.connect(store)
    try:
        rows = conn.execute("SELECT subject FROM audit_log ORDER BY id").fetchall()
    finally:
        conn.close()
    assert [r[0] for r in rows] == ["alert:fp1", "alert:fp3"]
