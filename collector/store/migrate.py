"""The store's schema on either engine: create it, or bring an existing store up to date.

One schema (:mod:`collector.store.schema`, SQLAlchemy Core) and numbered Alembic migrations
(``collector/store/migrations/versions/NNNN_*.py``), run programmatically on the store's own
connection: no ``alembic.ini``, nothing for an operator to set up.

:func:`ensure_schema` decides from what it finds, under the store's write lock (SQLite
``BEGIN IMMEDIATE``, a PostgreSQL transaction-scoped advisory lock), so several collectors
starting at once migrate a store exactly once:

- at the newest revision: nothing to do (one query, no lock: every process start pays it);
- empty database: every table from the MetaData, then stamped with the newest revision
  (Alembic's "create_all, then stamp" recipe: the history need not be replayed);
- a store written before migrations existed (release 0: posfleet's tables, no
  ``alembic_version``): its columns are checked against the baseline, then 0001 (every
  statement ``IF NOT EXISTS``, as release 0 itself ran at each start) and every later
  migration run, in one transaction;
- an older revision: the migrations after it, in one transaction;
- a revision this code does not know (a newer posfleet wrote it): :class:`StoreError` naming
  both revisions and the fix; nothing is touched.

Why these tools: SQLAlchemy Core (not its ORM) states the schema once and compiles it for
each engine, and its inspector is what the tests compare the engines with; Alembic is the
migration tool written for it (numbered scripts, a version table, batch mode for SQLite's
limited ALTER TABLE, autogenerate to diff the MetaData against a real database); psycopg 3
is the maintained PostgreSQL driver both run on. All three are widely used, maintained and
typed; the SQL posfleet writes stays plain DB-API (``collector.store.db``).
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Identity, create_engine, inspect
from sqlalchemy import engine as sa_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateIndex, CreateTable

from collector.store.db import (
    WRITE_LOCK_KEY,
    Connection,
    PgConnection,
    StoreError,
    connect,
    dialect,
    redact,
)
from collector.store.schema import HEAD, metadata

if TYPE_CHECKING:  # Alembic is imported only when a store needs more than a look
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
VERSION_TABLE = "alembic_version"
BASELINE = "0001"

__all__ = [
    "StoreError",
    "alembic_config",
    "autogenerate_options",
    "current_revision",
    "ensure_schema",
    "ensure_schema_at",
    "head",
]


@functools.cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    # Reading the scripts imports every migration file: once per process, never per store.
    return ScriptDirectory(str(MIGRATIONS))


def head() -> str:
    """The newest revision this code knows ("0001", "0002", ...)."""
    rev = _scripts().get_current_head()
    assert rev is not None, f"no migrations in {MIGRATIONS}"
    return rev


def _known(rev: str) -> bool:
    try:
        return _scripts().get_revision(rev) is not None
    except Exception:  # alembic raises ResolutionError / CommandError for unknown ids
        return False


def alembic_config(sa_conn: sa_engine.Connection | None = None) -> Config:
    """Alembic's configuration for the store's migrations, on ``sa_conn`` (env.py uses it)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if sa_conn is not None:
        cfg.attributes["connection"] = sa_conn
    return cfg


def autogenerate_options(dialect_name: str) -> dict[str, Any]:
    """How Alembic compares the MetaData with a database (env.py, tests/store)."""
    return {
        "target_metadata": metadata,
        # SQLite alters a table by copying it ("batch mode"); PostgreSQL alters in place.
        "render_as_batch": dialect_name == "sqlite",
        "compare_type": True,
        # A callable only for SQLite: Alembic 1.x fails calling it with PostgreSQL's
        # reflected identities, which its own comparison handles.
        "compare_server_default": _compare_server_default if dialect_name == "sqlite" else True,
    }


def _compare_server_default(
    context: MigrationContext,
    inspected_column: Any,
    metadata_column: Any,
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    if isinstance(metadata_column.server_default, Identity):
        return False  # SQLite has no identity: its INTEGER PRIMARY KEY (the rowid) is one
    return None  # Alembic's own comparison


# --------------------------------------------------------------------------- what is there
@dataclass(frozen=True, slots=True)
class _State:
    tables: frozenset[str]
    versions: tuple[str, ...]  # rows of alembic_version (none: not versioned)


Query = Callable[[str], Sequence[Any]]

_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    "postgresql": "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
}


def _read_state(query: Query, engine: str) -> _State:
    tables = frozenset(str(r[0]) for r in query(_TABLES[engine]))
    versions: tuple[str, ...] = ()
    if VERSION_TABLE in tables:
        versions = tuple(
            sorted(str(r[0]) for r in query(f"SELECT version_num FROM {VERSION_TABLE}"))
        )
    return _State(tables, versions)


def _where(conn: Connection) -> str:
    if isinstance(conn, PgConnection):
        return f"the PostgreSQL store {redact(conn.url)}"
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return f"the SQLite store at {file or ':memory:'}"
    return "the SQLite store"  # pragma: no cover - every connection has a main database


def _check_known(state: _State, where: str) -> None:
    unknown = [v for v in state.versions if not _known(v)]
    if unknown:
        raise StoreError(
            f"{where} is at schema revision {', '.join(unknown)}, newer than this posfleet "
            f"(it knows up to {head()}): a newer posfleet release wrote it. Upgrade posfleet "
            "(collector, console and notify alike) to that release or later; never point an "
            "older release at the store, and never downgrade it"
        )
    if len(state.versions) > 1:
        raise StoreError(
            f"{where} has several schema revisions ({', '.join(state.versions)}) in "
            f"{VERSION_TABLE}: it was edited by hand; restore it from a backup"
        )


# --------------------------------------------------------------------------- public
def current_revision(conn: Connection) -> str | None:
    """The store's revision, or None (empty, or written before migrations existed)."""
    state = _read_state(lambda sql: conn.execute(sql).fetchall(), dialect(conn))
    _end_read(conn)
    return state.versions[0] if state.versions else None


def ensure_schema(conn: Connection) -> None:
    """Create the store's tables, or bring the store to the newest revision (idempotent).

    Call it on a connection that is not inside a transaction, before anything else.
    """
    _ensure(conn)


def ensure_schema_at(target: str | Path) -> tuple[str | None, str]:
    """Open ``--db`` (SQLite path or ``postgresql://`` URL), migrate it, close it.

    Returns (revision before, revision after); before is None for a new or release-0 store.
    """
    conn = connect(target)
    try:
        return _ensure(conn)
    finally:
        conn.close()


def _end_read(conn: Connection) -> None:
    # psycopg opened a transaction for the catalog read: end it so the caller starts clean.
    if isinstance(conn, PgConnection):
        conn.commit()


def _ensure(conn: Connection) -> tuple[str | None, str]:
    engine = dialect(conn)
    state = _read_state(lambda sql: conn.execute(sql).fetchall(), engine)
    _end_read(conn)
    if state.versions == (HEAD,):  # schema.HEAD is head() (tests/store): no Alembic import
        return HEAD, HEAD
    target = head()
    where = _where(conn)
    _check_known(state, where)
    try:
        if not state.versions and not state.tables:
            created = _create(conn, engine)
            if created:
                return None, target
        with _sa_locked(conn) as sa_conn:
            # Re-read under the lock: another process may have done the work meanwhile.
            state = _read_state(lambda sql: sa_conn.exec_driver_sql(sql).fetchall(), engine)
            _check_known(state, where)
            before = state.versions[0] if state.versions else None
            if before == target:
                return before, target
            if not state.versions and state.tables:
                _check_release_0(sa_conn, state, where)
            from alembic import command

            with _ALEMBIC:
                command.upgrade(alembic_config(sa_conn), "head")
            sa_conn.commit()
            return before, target
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(
            f"cannot bring {where} to schema revision {target} ({type(exc).__name__}: {exc}); "
            "nothing was changed. Check that the store is writable by this user (a read-only "
            "console cannot migrate: run `posfleet-collector migrate --db ...` first)"
        ) from exc


def _create(conn: Connection, engine: str) -> bool:
    """An empty database: the newest schema in one go, stamped with the newest revision.

    Alembic's "create_all, then stamp" recipe, on the caller's DB-API connection: the DDL
    ``metadata.create_all`` emits and the row ``alembic stamp head`` writes, compiled once
    per process (compiling ~80 statements and building an Engine for every new store cost
    40 ms; tests create thousands). False: the database was not empty after all (another
    process got there first), the caller goes the general way.
    """
    _begin_locked(conn)
    try:
        state = _read_state(lambda sql: conn.execute(sql).fetchall(), engine)
        if state.versions or state.tables:
            conn.rollback()
            return False
        stamp = f"INSERT INTO {VERSION_TABLE} (version_num) VALUES ('{head()}')"
        if isinstance(conn, PgConnection):
            # One round trip (no parameters: psycopg sends the statements as one script).
            conn.raw.execute(";\n".join((*_create_ddl(engine), stamp)).encode())
        else:
            cur = conn.cursor()
            for statement in (*_create_ddl(engine), stamp):
                cur.execute(statement)
        conn.commit()
        return True
    except BaseException:
        conn.rollback()
        raise


def _begin_locked(conn: Connection) -> None:
    if isinstance(conn, PgConnection):
        conn.begin(immediate=True)  # the transaction-scoped advisory write lock
    else:
        # sqlite3 runs DDL outside any transaction unless one is open: open it, and take
        # the write lock now (waits up to busy_timeout for another writer).
        conn.execute("BEGIN IMMEDIATE")


@functools.cache
def _create_ddl(engine: str) -> tuple[str, ...]:
    """What ``metadata.create_all`` and ``stamp`` run on an empty database, as text."""
    from alembic.runtime.migration import MigrationContext

    ctx = MigrationContext.configure(dialect_name=engine, opts={"version_table": VERSION_TABLE})
    dia = ctx.dialect
    statements: list[str] = []
    for table in metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dia)).strip())
        statements.extend(
            str(CreateIndex(index).compile(dialect=dia)).strip()
            for index in sorted(table.indexes, key=lambda i: i.name or "")
        )
    # Alembic's own version table, as its stamp would create it.
    statements.append(str(CreateTable(ctx._version).compile(dialect=dia)).strip())
    return tuple(statements)


# --------------------------------------------------------------------------- release 0
# Alembic's ``op`` and ``context`` are module-wide proxies: one command at a time per process
# (stores of one process are also serialised by their write lock; this covers the rest).
_ALEMBIC = threading.RLock()


@functools.cache
def _baseline_columns() -> dict[str, frozenset[str]]:
    """Tables and columns of revision 0001, read from the migration itself (not a copy)."""
    from alembic import command

    eng = create_engine("sqlite://")
    with _ALEMBIC, eng.connect() as sa_conn:
        command.upgrade(alembic_config(sa_conn), BASELINE)
        insp = inspect(sa_conn)
        cols = {
            t: frozenset(c["name"] for c in insp.get_columns(t))
            for t in insp.get_table_names()
            if t != VERSION_TABLE
        }
    eng.dispose()
    return cols


def _check_release_0(sa_conn: sa_engine.Connection, state: _State, where: str) -> None:
    baseline = _baseline_columns()
    present = sorted(state.tables & baseline.keys())
    if "gateways" not in present or "terminals" not in present:
        raise StoreError(
            f"{where} holds tables ({', '.join(sorted(state.tables)[:8])}) but not posfleet's "
            "(no gateways/terminals): is --db / POSFLEET_DB the right database? posfleet "
            "creates its store in an empty database or file"
        )
    insp = inspect(sa_conn)
    missing = [
        f"{t}.{c}"
        for t in present
        for c in sorted(baseline[t] - {col["name"] for col in insp.get_columns(t)})
    ]
    if missing:
        raise StoreError(
            f"{where} predates the oldest schema this posfleet can upgrade (release 0): it "
            f"lacks {', '.join(missing[:10])}. Start the release that wrote it once more "
            "with its own schema, or export the inventory (posfleet-collector "
            "export-inventory) and import it into a new store"
        )


# --------------------------------------------------------------------------- lock + connection
@contextmanager
def _sa_locked(conn: Connection) -> Iterator[sa_engine.Connection]:
    """A SQLAlchemy connection over the store's own DB-API connection, holding its write lock.

    Wrapping (``creator``) rather than opening a second connection keeps the caller's
    settings (SQLite WAL and busy_timeout, PostgreSQL lock_timeout) and cannot deadlock
    against the caller. The pool never closes it: ``conn`` stays the caller's.
    """
    raw: Any = conn.raw if isinstance(conn, PgConnection) else conn
    url = "postgresql+psycopg://" if isinstance(conn, PgConnection) else "sqlite://"
    eng = create_engine(url, creator=lambda: raw, poolclass=StaticPool)
    sa_conn = eng.connect()  # first use runs SQLAlchemy's dialect probes (and a ROLLBACK)
    try:
        # Through SQLAlchemy, so that it knows a transaction is open (and Alembic uses it).
        if isinstance(conn, PgConnection):
            sa_conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
        else:
            sa_conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield sa_conn
    finally:
        if sa_conn.in_transaction():
            sa_conn.rollback()
        if isinstance(raw, sqlite3.Connection) and raw.in_transaction:
            raw.rollback()
        sa_conn.close()
