"""One schema, numbered migrations, on a real SQLite file and a real PostgreSQL database.

The oracle for "exactly the schema release 0 shipped" is the frozen copy of its schema.sql
(tests/store/fixtures/schema_release_0.sql), read with SQLite's own PRAGMAs, not with the
code under test.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect

from collector.store import migrate
from collector.store.db import StoreError, connect
from collector.store.migrate import (
    alembic_config,
    autogenerate_options,
    ensure_schema,
    ensure_schema_at,
)
from collector.store.schema import HEAD, metadata
from dashboard.queries_cases import CASE_WINDOWS_SQL

RELEASE_0 = Path(__file__).with_name("fixtures") / "schema_release_0.sql"
WITHOUT_ROWID = {"telemetry_rollup", "txn_batches", "txn_totals"}


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "posfleet.sqlite")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def sqlite_target(tmp_path: Path) -> str:
    return str(tmp_path / "posfleet.sqlite")


def sa_url(target: str) -> str:
    if target.startswith("postgresql://"):
        return "postgresql+psycopg://" + target.removeprefix("postgresql://")
    return f"sqlite:///{target}"


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    made: list[Engine] = []
    yield made
    for eng in made:
        eng.dispose()


def engine_for(target: str, made: list[Engine]) -> Engine:
    eng = create_engine(sa_url(target))
    made.append(eng)
    return eng


# --------------------------------------------------------------------------- shape
PG_TO_SQLITE_TYPE = {"TEXT": "TEXT", "BIGINT": "INTEGER", "DOUBLE PRECISION": "REAL"}


def _default(value: str | None) -> str | None:
    return None if value is None else re.sub(r"::(text|bigint)$", "", value)


def _where(value: Any) -> str | None:
    if value is None:
        return None
    where = str(value).strip()
    while where.startswith("(") and where.endswith(")"):
        where = where[1:-1]
    return where.replace("<>", "!=").replace("'::text", "'")


def shape(eng: Engine) -> dict[str, Any]:
    """Tables, columns, keys and indexes as both engines can state them, SQLite's words."""
    insp = inspect(eng)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        if table == "alembic_version":
            continue
        cols = []
        for c in insp.get_columns(table):
            kind = str(c["type"])
            cols.append(
                (
                    c["name"],
                    PG_TO_SQLITE_TYPE.get(kind, kind),
                    c["nullable"],
                    _default(c["default"]),
                )
            )
        indexes = {}
        for ix in insp.get_indexes(table):
            if ix.get("duplicates_constraint"):
                continue  # PostgreSQL lists a unique constraint's index too
            opts = ix.get("dialect_options", {})
            where = opts.get("postgresql_where") or opts.get("sqlite_where")
            indexes[ix["name"]] = (tuple(ix["column_names"]), bool(ix["unique"]), _where(where))
        out[table] = {
            "columns": cols,
            "pk": tuple(insp.get_pk_constraint(table)["constrained_columns"]),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
            "indexes": indexes,
        }
    return out


def sqlite_catalog(path: str) -> dict[str, Any]:
    """SQLite's own account of a store (PRAGMAs and the stored CREATE text)."""
    conn = sqlite3.connect(path)
    try:
        out: dict[str, Any] = {}
        for table, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version' ORDER BY name"
        ):
            indexes = {}
            for _seq, name, unique, origin, partial in conn.execute(
                f"PRAGMA index_list('{table}')"
            ):
                cols = tuple(r[2] for r in conn.execute(f"PRAGMA index_info('{name}')"))
                where = None
                if partial:
                    (ix_sql,) = conn.execute(
                        "SELECT sql FROM sqlite_master WHERE name = ?", (name,)
                    ).fetchone()
                    where = " ".join(ix_sql.split(" WHERE ", 1)[1].split())
                indexes[name] = (cols, unique, origin, where)
            out[table] = {
                "columns": [tuple(r) for r in conn.execute(f"PRAGMA table_info('{table}')")],
                "without_rowid": "WITHOUT ROWID" in sql.upper(),
                "indexes": indexes,
            }
        return out
    finally:
        conn.close()


def release_0_store(path: str) -> None:
    """A store as today's release writes it: its schema.sql, and some rows."""
    conn = sqlite3.connect(path)
    conn.executescript(RELEASE_0.read_text())
    write_release_0_rows(conn)
    conn.commit()
    conn.close()


def write_release_0_rows(conn: Any) -> None:
    at = "2026-11-22T09:00:00.000000+00:00"
    conn.execute("INSERT INTO regions (region_id, name) VALUES ('north', 'North')")
    conn.execute(
        "INSERT INTO gateways (gateway_id, site_id, region_id, status, session, "
        "heartbeat_interval, suspended) VALUES ('gw-1', 's-1', 'north', 'down', 7, 30.25, 1)"
    )
    conn.execute("INSERT INTO terminals (terminal_id, gateway_id) VALUES ('t-1', 'gw-1')")
    conn.execute(
        "INSERT INTO incidents (subject_type, subject_id, started_at) VALUES ('gateway', 'gw-1', ?)",
        (at,),
    )
    conn.execute(
        "INSERT INTO alerts (kind, subject_type, subject_id, state, started_at) "
        "VALUES ('gateway_down', 'gateway', 'gw-1', 'firing', ?)",
        (at,),
    )
    conn.execute(
        "INSERT INTO telemetry_rollup (gateway_id, kind, metric, bucket_start, n, min, sum, max) "
        "VALUES ('gw-1', 'network', 'rssi', ?, 2, -80.5, -150.5, -70.0)",
        (at,),
    )
    conn.execute(
        "INSERT INTO txn_aggregates (gateway_id, window_start, window_end, received_at, "
        "approved, approved_amount, currency) VALUES ('gw-1', ?, ?, ?, 3, 123456789012, 'CNY')",
        (at, at, at),
    )


RELEASE_0_ROWS = {
    "SELECT region_id, name FROM regions": [("north", "North")],
    "SELECT gateway_id, status, session, heartbeat_interval, suspended, registered FROM gateways": [
        ("gw-1", "down", 7, 30.25, 1, 1)
    ],
    "SELECT terminal_id, gateway_id, status FROM terminals": [("t-1", "gw-1", "unknown")],
    "SELECT id, subject_id, ended_at, class FROM incidents": [(1, "gw-1", None, "fault")],
    "SELECT id, kind, state, details FROM alerts": [(1, "gateway_down", "firing", "{}")],
    # 0003 (alert snooze): an upgraded alert row is not snoozed
    "SELECT id, snoozed_until, snoozed_by FROM alerts": [(1, None, None)],
    "SELECT n, min, sum, max FROM telemetry_rollup": [(2, -80.5, -150.5, -70.0)],
    "SELECT id, approved, approved_amount, currency FROM txn_aggregates": [
        (1, 3, 123456789012, "CNY")
    ],
}


def revision_by_alembic(eng: Engine) -> str | None:
    with eng.connect() as c:
        return MigrationContext.configure(c).get_current_revision()


def drift(eng: Engine) -> list[Any]:
    """What Alembic autogenerate would change to make the database match the MetaData."""
    with eng.connect() as c:
        ctx = MigrationContext.configure(c, opts=autogenerate_options(c.dialect.name))
        return list(compare_metadata(ctx, metadata))


# --------------------------------------------------------------------------- tests
# What the migrations after the baseline add (0002: transaction health, issue #16; 0003:
# alert snooze; 0004: policies set from the console, issue #15; 0005: several
# collectors, 0006: webhook deliveries claimed per row, 0007: the alert inbox, issue #14;
# 0008: a transaction window's key leads with its terminal, issue #16).
ADDED_TABLES = {
    "alert_inbox",
    "case_calls",
    "maintenance_done",
    "maintenance_schedules",
    "maintenance_task_types",
    "collector_members",
    "liveness_fleet",
    "liveness_state",
    "settlement_imports",
    "settlement_rows",
    "shortfall_cases",
    "txn_baseline",
    "txn_state",
    "txn_site_baseline",
    "webhook_deliveries",
}
ADDED_INDEXES = {
    "txn_batches": {"txn_batches_closed"},
    "txn_aggregates": {"txn_aggregates_key"},
    "terminals": {"terminals_moved"},
}
# Release 0's indexes that later migrations replaced (0008: the window key).
DROPPED_INDEXES = {
    "txn_aggregates": {"sqlite_autoindex_txn_aggregates_1", "txn_aggregates_terminal"}
}
WINDOW_KEY = ("terminal_id", "window_end", "gateway_id", "window_start", "currency", "acquirer")
# Columns added to release 0's tables, appended in this order, as (name, declared type,
# notnull, default, pk): 0003 alert snooze, 0004 policies (issue #15), 0011 terminal moves.
ADDED_COLUMNS = {
    "alerts": [("snoozed_until", "TEXT", 0, None, 0), ("snoozed_by", "TEXT", 0, None, 0)],
    "firmware_policy": [
        ("target_version", "TEXT", 0, None, 0),
        ("updated_by", "TEXT", 0, None, 0),
        ("updated_at", "TEXT", 0, None, 0),
    ],
    "services": [("task_type", "TEXT", 1, "''", 0)],
    "terminals": [("moved_seq", "INTEGER", 1, "0", 0)],  # 0011: moves taken at once
}


def test_fresh_sqlite_store_has_release_0_schema_plus_what_later_migrations_add(
    tmp_path: Path,
) -> None:
    fresh, old = str(tmp_path / "fresh.sqlite"), str(tmp_path / "old.sqlite")
    ensure_schema_at(fresh)
    conn = sqlite3.connect(old)
    conn.executescript(RELEASE_0.read_text())
    conn.close()
    new_cat, old_cat = sqlite_catalog(fresh), sqlite_catalog(old)

    assert sorted(new_cat) == sorted(set(old_cat) | ADDED_TABLES)
    assert len(old_cat) == 24
    for table, was in old_cat.items():
        now = new_cat[table]
        assert now["without_rowid"] == was["without_rowid"], table
        added, dropped = ADDED_INDEXES.get(table, set()), DROPPED_INDEXES.get(table, set())
        assert set(now["indexes"]) - set(was["indexes"]) == added, table
        assert set(was["indexes"]) - set(now["indexes"]) == dropped, table
        assert {k: v for k, v in now["indexes"].items() if k not in added} == {
            k: v for k, v in was["indexes"].items() if k not in dropped
        }
        old_n = len(was["columns"])
        for (cid, name, kind, notnull, default, pk), got in zip(
            was["columns"], now["columns"][:old_n], strict=True
        ):
            # The one difference: key columns are NOT NULL (release 0 left SQLite's NULL
            # keys possible); everything else is as release 0 declared it.
            assert got == (cid, name, kind, 1 if pk else notnull, default, pk), (table, name)
        assert [c[1:] for c in now["columns"][old_n:]] == ADDED_COLUMNS.get(table, []), table
    assert {t for t, c in new_cat.items() if c["without_rowid"]} == WITHOUT_ROWID
    assert new_cat["txn_aggregates"]["indexes"]["txn_aggregates_key"] == (WINDOW_KEY, 1, "c", None)


def test_fresh_sqlite_ids_are_rowid_aliases(sqlite_target: str) -> None:
    conn = connect(sqlite_target)
    ensure_schema(conn)
    conn.execute(
        "INSERT INTO state_changes (rowid, subject_type, subject_id, from_status, "
        "to_status, at) VALUES (41, 'gateway', 'g', 'online', 'down', 'x')"
    )
    assert conn.execute("SELECT id FROM state_changes").fetchall() == [(41,)]
    conn.close()


def test_fresh_sqlite_and_postgresql_stores_have_the_same_tables_columns_and_indexes(
    sqlite_target: str, pg_url: str, engines: list[Engine]
) -> None:
    ensure_schema_at(sqlite_target)
    ensure_schema_at(pg_url)
    lite = shape(engine_for(sqlite_target, engines))
    pg = shape(engine_for(pg_url, engines))
    assert sorted(lite) == sorted(pg)
    assert len(lite) == 24 + len(ADDED_TABLES)
    for table in lite:
        assert lite[table] == pg[table], table
    assert pg["incidents"]["indexes"]["incidents_one_open"] == (
        ("subject_type", "subject_id"),
        True,
        "ended_at IS NULL",
    )
    assert pg["alerts"]["indexes"]["alerts_one_active"][2] == "state != 'resolved'"


def test_postgresql_types_are_wide_and_ids_are_identities(
    pg_url: str, engines: list[Engine]
) -> None:
    ensure_schema_at(pg_url)
    insp = inspect(engine_for(pg_url, engines))
    kinds = {str(c["type"]) for t in insp.get_table_names() for c in insp.get_columns(t)}
    assert kinds == {"TEXT", "BIGINT", "DOUBLE PRECISION", "VARCHAR(32)"}  # + alembic_version
    ids = {t: c for t in insp.get_table_names() for c in insp.get_columns(t) if c["name"] == "id"}
    assert sorted(ids) == [
        "alert_events",
        "alert_inbox",
        "alerts",
        "audit_log",
        "case_calls",
        "incidents",
        "maintenance_schedules",
        "maintenance_windows",
        "oncall_overrides",
        "services",
        "settlement_imports",
        "shortfall_cases",
        "state_changes",
        "telemetry",
        "txn_aggregates",
    ]
    for table, col in ids.items():
        assert col.get("identity", {}).get("always") is False, table
    conn = connect(pg_url)
    row = conn.execute(
        "INSERT INTO alerts (kind, subject_type, subject_id, state, started_at) "
        "VALUES ('k', 'gateway', 'g', 'firing', 'x') RETURNING id"
    ).fetchone()
    conn.commit()
    conn.close()
    assert row == (1,)


def test_metadata_is_what_the_migrations_build(target: str, engines: list[Engine]) -> None:
    eng = engine_for(target, engines)
    with eng.begin() as c:
        command.upgrade(alembic_config(c), "head")  # the whole history, not the create_all shortcut
    assert drift(eng) == []
    assert revision_by_alembic(eng) == HEAD == migrate.head()
    created = target + "_created" if not target.startswith("postgresql") else None
    if created:  # SQLite: the shortcut's store is the same shape as the history's
        ensure_schema_at(created)
        assert shape(engine_for(created, engines)) == shape(eng)


def test_a_fresh_store_is_created_from_the_metadata_and_stamped_head(
    target: str, engines: list[Engine]
) -> None:
    assert ensure_schema_at(target) == (None, HEAD)
    eng = engine_for(target, engines)
    assert drift(eng) == []
    assert revision_by_alembic(eng) == HEAD


def test_a_release_0_store_upgrades_in_place_and_keeps_its_rows(
    sqlite_target: str, tmp_path: Path, engines: list[Engine]
) -> None:
    release_0_store(sqlite_target)
    conn = connect(sqlite_target, timeout=7.5)
    ensure_schema(conn)
    # Migrated on the caller's own connection: its settings are still there.
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (7500,)
    assert not conn.in_transaction
    for sql, rows in RELEASE_0_ROWS.items():
        assert conn.execute(sql).fetchall() == rows, sql
    # New rows go on after the old ones, and the rules of release 0 still hold.
    conn.execute(
        "INSERT INTO incidents (subject_type, subject_id, started_at) VALUES ('gateway', 'gw-2', 'x')"
    )
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO incidents (subject_type, subject_id, started_at) "
            "VALUES ('gateway', 'gw-1', 'y')"
        )
    assert conn.execute("SELECT max(id) FROM incidents").fetchone() == (2,)
    conn.commit()
    conn.close()
    eng = engine_for(sqlite_target, engines)
    assert revision_by_alembic(eng) == HEAD
    fresh = str(tmp_path / "fresh.sqlite")
    ensure_schema_at(fresh)
    assert {t: v["indexes"] for t, v in shape(eng).items()} == {
        t: v["indexes"] for t, v in shape(engine_for(fresh, engines)).items()
    }
    # Autogenerate sees only release 0's nullable keys, nothing else to change.
    assert {(d[0][0], d[0][2], d[0][3]) for d in drift(eng)} <= {
        ("modify_nullable", t, c)
        for t, spec in sqlite_catalog(sqlite_target).items()
        for (_cid, c, _k, _nn, _d, pk) in spec["columns"]
        if pk
    }


def release_0_on_postgresql() -> str:
    """Release 0's schema as the interim PostgreSQL translation (7c89024) ran it."""
    sql = RELEASE_0.read_text()
    sql = re.sub(r"^\s*PRAGMA[^;]*;", "", sql, flags=re.M)
    sql = sql.replace(") WITHOUT ROWID;", ");")
    sql = re.sub(
        r"\bINTEGER PRIMARY KEY\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", sql
    )
    sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)


def test_a_postgresql_store_of_the_interim_release_upgrades_in_place(
    pg_url: str, engines: list[Engine]
) -> None:
    conn = connect(pg_url)
    conn.executescript(release_0_on_postgresql())
    write_release_0_rows(conn)
    conn.commit()
    ensure_schema(conn)
    for sql, rows in RELEASE_0_ROWS.items():
        assert conn.execute(sql).fetchall() == rows, sql
    conn.close()
    eng = engine_for(pg_url, engines)
    assert revision_by_alembic(eng) == HEAD
    assert drift(eng) == []


def test_a_store_newer_than_the_code_fails_clearly_and_is_left_alone(target: str) -> None:
    ensure_schema_at(target)
    conn = connect(target)
    conn.execute("UPDATE alembic_version SET version_num = '0999'")
    conn.commit()
    with pytest.raises(StoreError) as err:
        ensure_schema(conn)
    message = str(err.value)
    assert "0999" in message
    assert f"knows up to {HEAD}" in message
    assert "Upgrade posfleet" in message
    assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0999",)]
    conn.close()


def test_ensure_schema_twice_writes_nothing_the_second_time(
    target: str, engines: list[Engine]
) -> None:
    conn = connect(target)
    ensure_schema(conn)
    before = shape(engine_for(target, engines))
    if isinstance(conn, sqlite3.Connection):
        changes = conn.total_changes
        ensure_schema(conn)
        assert conn.total_changes == changes
        assert not conn.in_transaction
    else:
        xid = conn.execute("SELECT pg_current_xact_id()").fetchone()
        conn.commit()
        ensure_schema(conn)
        after = conn.execute("SELECT pg_current_xact_id()").fetchone()
        conn.commit()
        assert int(after[0]) == int(xid[0]) + 1  # nothing in between took a transaction id
    assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]
    conn.close()
    assert shape(engine_for(target, engines)) == before


def test_stores_opened_at_once_by_several_processes_are_created_once(target: str) -> None:
    conns = [connect(target) for _ in range(4)]
    gate = threading.Barrier(len(conns))
    errors: list[BaseException] = []

    def open_store(conn: Any) -> None:
        gate.wait()
        try:
            ensure_schema(conn)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert conns[0].execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]
    for c in conns:
        c.close()


def test_a_release_0_store_missing_columns_is_refused_by_name(sqlite_target: str) -> None:
    conn = sqlite3.connect(sqlite_target)
    conn.executescript(RELEASE_0.read_text())
    conn.executescript("ALTER TABLE terminals DROP COLUMN receipts_at_service;")
    conn.close()
    with pytest.raises(StoreError, match=r"lacks terminals\.receipts_at_service"):
        ensure_schema_at(sqlite_target)
    conn = sqlite3.connect(sqlite_target)
    assert (
        conn.execute("SELECT name FROM sqlite_master WHERE name = 'alembic_version'").fetchall()
        == []
    )
    conn.close()


def test_a_database_of_someone_else_is_not_taken_over(sqlite_target: str) -> None:
    conn = sqlite3.connect(sqlite_target)
    conn.execute("CREATE TABLE inbox (id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(StoreError, match="not posfleet's"):
        ensure_schema_at(sqlite_target)


def test_an_upgraded_store_keeps_its_windows_guards_replays_and_reads_a_terminal_by_the_key(
    target: str,
) -> None:
    """0008 rebuilds (SQLite) or re-keys (PostgreSQL) txn_aggregates: its rows and ids stay, a
    replayed window is still stored once, new ids go on after the old ones, and the case
    page's read of a terminal's windows uses the new key, not a scan."""
    if target.startswith("postgresql"):
        conn = connect(target)
        conn.executescript(release_0_on_postgresql())
        write_release_0_rows(conn)
        conn.commit()
        conn.close()
    else:
        release_0_store(target)
    conn = connect(target)
    ensure_schema(conn)
    at = "2026-11-22T09:00:00.000000+00:00"
    window = (
        "INSERT INTO txn_aggregates (gateway_id, terminal_id, window_start, window_end, "
        "received_at, approved, currency) VALUES (?, ?, ?, ?, ?, ?, 'CNY') ON CONFLICT DO NOTHING"
    )
    assert conn.execute(window, ("gw-1", "", at, at, at, 9)).rowcount == 0  # release 0's row
    assert conn.execute(window, ("gw-1", "t-1", at, at, at, 4)).rowcount == 1
    assert conn.execute(window, ("gw-1", "t-1", at, at, at, 4)).rowcount == 0  # its replay
    (old, new) = conn.execute(
        "SELECT id, terminal_id, approved FROM txn_aggregates ORDER BY id"
    ).fetchall()
    # After release 0's id (PostgreSQL's sequence also moves on an insert that conflicted).
    assert old == (1, "", 3)
    assert new[1:] == ("t-1", 4)
    assert new[0] > 1
    if target.startswith("postgresql"):
        conn.execute("SET enable_seqscan = off")  # a two-row table: the planner would scan it
        plan = conn.execute("EXPLAIN " + CASE_WINDOWS_SQL, ("t-1", "t-1", at, at)).fetchall()
    else:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN " + CASE_WINDOWS_SQL, ("t-1", "t-1", at, at)
        ).fetchall()
    text = " ".join(str(part) for row in plan for part in row)
    assert "txn_aggregates_key" in text, text
    assert "txn_aggregates_terminal" not in text, text
    conn.rollback()
    conn.close()


def _upgraded(conn: Any, eng: Engine, target: str) -> Any:
    """Commit and close ``conn`` (an older store's rows), upgrade the store to head with
    Alembic, and return a new connection to it."""
    conn.commit()
    conn.close()
    with eng.begin() as c:
        command.upgrade(alembic_config(c), "head")
    return connect(target)


def test_0009_drops_the_baselines_a_terminal_counted_in_utc_and_keeps_the_rest(
    target: str, engines: list[Engine]
) -> None:
    """Until 0009 a terminal listed without a store of its own (terminals.csv: terminal and
    gateway only, so site_id '') had its hour-of-week baseline counted in UTC; it is now
    counted in its gateway's store's zone. Read as Shanghai time, its UTC buckets would
    expect the shop's 11:00 trade at 03:00 and page the closed shop every night, so those
    baselines go (learnt again); those whose zone is unchanged stay."""
    eng = engine_for(target, engines)
    with eng.begin() as c:
        command.upgrade(alembic_config(c), "0008")
    conn = connect(target)
    conn.execute("INSERT INTO sites (site_id, tz) VALUES ('s-sh', 'Asia/Shanghai')")
    conn.execute("INSERT INTO sites (site_id, tz) VALUES ('s-utc', 'UTC')")
    for gw, site in (("gw-1", "s-sh"), ("pos-9", "s-sh"), ("gw-u", "s-utc")):
        conn.execute("INSERT INTO gateways (gateway_id, site_id) VALUES (?, ?)", (gw, site))
    for tid, gw, site in (
        ("t-own", "gw-1", "s-sh"),  # its own store: counted in Shanghai time all along
        ("t-inherits", "gw-1", ""),  # its gateway's store: counted in UTC until now
        ("t-utc", "gw-u", ""),  # its gateway's store is in UTC: nothing changes
    ):
        conn.execute(
            "INSERT INTO terminals (terminal_id, gateway_id, site_id) VALUES (?, ?, ?)",
            (tid, gw, site),
        )
    rows = [
        ("terminal", "t-own", 3),
        ("terminal", "t-inherits", 3),
        ("terminal", "t-utc", 3),
        ("gateway", "pos-9", 3),  # an all-in-one POS in its own store
    ]
    conn.executemany(
        "INSERT INTO txn_baseline (subject_type, device_id, how, txn, hours) "
        "VALUES (?, ?, ?, 10, 2)",
        rows,
    )
    conn = _upgraded(conn, eng, target)
    kept = conn.execute(
        "SELECT subject_type, device_id FROM txn_baseline ORDER BY device_id"
    ).fetchall()
    conn.close()
    assert [tuple(r) for r in kept] == [
        ("gateway", "pos-9"),
        ("terminal", "t-own"),
        ("terminal", "t-utc"),
    ]


def test_0010_files_a_terminals_old_incidents_open_alerts_and_cases_in_its_gateways_store(
    target: str, engines: list[Engine]
) -> None:
    """Before the place rule, a PIN pad listed without a store of its own (site and region
    '') opened incidents, alerts and shortfall cases filed nowhere. 0010 fills the '' from its
    gateway (its own place, where it has one, is kept); resolved alerts and closed cases, and
    what neither the terminal nor its gateway places, stay as they were."""
    eng = engine_for(target, engines)
    with eng.begin() as c:
        command.upgrade(alembic_config(c), "0009")
    conn = connect(target)
    for gw, site, region in (("gw-1", "s-sh", "east"), ("gw-0", "", "")):
        conn.execute(
            "INSERT INTO gateways (gateway_id, site_id, region_id) VALUES (?, ?, ?)",
            (gw, site, region),
        )
    for tid, gw, site, region in (
        ("pp-1", "gw-1", "", ""),  # terminals.csv: terminal_id,gateway_id only
        ("pp-own", "gw-1", "s-cd", "west"),  # a place of its own: kept
        ("pp-half", "gw-1", "", "west"),  # a region of its own, no store
        ("pp-0", "gw-0", "", ""),  # nor its gateway: nothing to fill
    ):
        conn.execute(
            "INSERT INTO terminals (terminal_id, gateway_id, site_id, region_id) "
            "VALUES (?, ?, ?, ?)",
            (tid, gw, site, region),
        )
    at = "2026-11-01T09:00:00.000000+00:00"
    incidents = (
        ("terminal", "pp-1", "", "", at),  # closed: history, filled too
        ("terminal", "pp-1", "", "", None),
        ("terminal", "pp-own", "s-cd", "west", at),
        ("terminal", "pp-half", "", "west", at),
        ("terminal", "pp-0", "", "", at),
        ("terminal", "pp-gone", "", "", at),  # no longer in the inventory
        ("gateway", "gw-0", "", "", at),  # a gateway's own place: nothing to take
    )
    for subject_type, subject, site, region, ended in incidents:
        conn.execute(
            "INSERT INTO incidents (subject_type, subject_id, site_id, region_id, started_at, "
            "ended_at) VALUES (?, ?, ?, ?, ?, ?)",
            (subject_type, subject, site, region, at, ended),
        )
    for kind, tid, state in (
        ("maintenance_overdue", "pp-1", "firing"),
        ("firmware_noncompliant", "pp-1", "resolved"),  # routed as it was: kept
        ("maintenance_overdue", "pp-half", "pending"),
    ):
        conn.execute(
            "INSERT INTO alerts (kind, subject_type, subject_id, state, terminal_id, "
            "gateway_id, started_at) VALUES (?, 'terminal', ?, ?, ?, 'gw-1', ?)",
            (kind, tid, state, tid, at),
        )
    for tid, batch, status in (("pp-1", "b-1", "open"), ("pp-1", "b-0", "closed")):
        conn.execute(
            "INSERT INTO shortfall_cases (kind, status, terminal_id, gateway_id, batch_id, "
            "business_date, difference, import_id, opened_at, updated_at) "
            "VALUES ('mismatch', ?, ?, 'gw-1', ?, '2026-11-01', 500, 1, ?, ?)",
            (status, tid, batch, at, at),
        )
    conn = _upgraded(conn, eng, target)
    got_incidents = conn.execute(
        "SELECT subject_id, ended_at IS NULL, site_id, region_id FROM incidents ORDER BY id"
    ).fetchall()
    got_alerts = conn.execute(
        "SELECT subject_id, state, site_id, region_id FROM alerts ORDER BY id"
    ).fetchall()
    got_cases = conn.execute(
        "SELECT batch_id, site_id, region_id FROM shortfall_cases ORDER BY id"
    ).fetchall()
    conn.close()
    assert [tuple(r) for r in got_incidents] == [
        ("pp-1", False, "s-sh", "east"),
        ("pp-1", True, "s-sh", "east"),
        ("pp-own", False, "s-cd", "west"),
        ("pp-half", False, "s-sh", "west"),
        ("pp-0", False, "", ""),
        ("pp-gone", False, "", ""),
        ("gw-0", False, "", ""),
    ]
    assert [tuple(r) for r in got_alerts] == [
        ("pp-1", "firing", "s-sh", "east"),
        ("pp-1", "resolved", "", ""),
        ("pp-half", "pending", "s-sh", "west"),
    ]
    assert [tuple(r) for r in got_cases] == [("b-1", "s-sh", "east"), ("b-0", "", "")]


def test_0011_stamps_existing_terminals_never_moved_and_an_import_stamps_a_move(
    target: str, engines: list[Engine]
) -> None:
    """0011 adds terminals.moved_seq: the rows of a store at 0010 are never-moved (0), so a
    collector re-reads nothing after the upgrade; the first import that moves one stamps it."""
    from collector.inventory import upsert_rows

    eng = engine_for(target, engines)
    with eng.begin() as c:
        command.upgrade(alembic_config(c), "0010")
    conn = connect(target)
    for tid in ("t-stays", "t-moves"):
        conn.execute("INSERT INTO terminals (terminal_id, gateway_id) VALUES (?, 'gw-1')", (tid,))
    for gid in ("gw-1", "gw-2"):  # an import refuses a terminal behind an unknown gateway
        conn.execute("INSERT INTO gateways (gateway_id) VALUES (?)", (gid,))
    conn = _upgraded(conn, eng, target)
    with conn:
        upsert_rows(
            conn,
            "terminals",
            [
                {"terminal_id": "t-stays", "gateway_id": "gw-1"},
                {"terminal_id": "t-moves", "gateway_id": "gw-2"},
            ],
        )
    rows = conn.execute(
        "SELECT terminal_id, gateway_id, moved_seq FROM terminals ORDER BY 1"
    ).fetchall()
    mark = conn.execute("SELECT value FROM meta WHERE key = 'terminal_moves'").fetchall()
    conn.close()
    assert [tuple(r) for r in rows] == [("t-moves", "gw-2", 1), ("t-stays", "gw-1", 0)]
    assert [tuple(r) for r in mark] == [("1",)]
