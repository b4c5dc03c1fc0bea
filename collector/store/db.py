"""One store, two engines: SQLite (the embedded default) and PostgreSQL (shared by many).

Every part of posfleet talks to the store through DB-API connections with the calls of
Python's ``sqlite3`` (``execute``/``executemany``/``fetchone``/``fetchall``, ``?``
placeholders, ``with conn:`` commits or rolls back, ``row_factory = sqlite3.Row`` for rows
read by name). For SQLite the connection *is* a ``sqlite3.Connection``: the embedded store
keeps its speed and its behaviour byte for byte. For PostgreSQL, :class:`PgConnection`
wraps a psycopg 3 connection with the same calls, so the SQL is written once:

- placeholders: ``?`` and ``:name`` become psycopg's ``%s`` / ``%(name)s`` (outside string
  literals; a literal ``%`` is doubled), translated once per statement text and cached;
- rows: tuples, or :class:`Row` (index, name, ``keys()``) when ``row_factory`` is set;
- values: ``bool`` parameters are written as 0/1 (the schema's flags are integers on both
  engines) and ``numeric`` results (``SUM``/``AVG`` of integers) are read as ``float``,
  as SQLite returns them, never ``Decimal``;
- transactions: psycopg opens one implicitly, as ``sqlite3`` does; ``BEGIN IMMEDIATE``
  (SQLite: take the write lock now) becomes a transaction-scoped advisory lock, so
  writers that relied on SQLite's single writer keep that guarantee.

What is not portable is written portably at the call site (``INSERT ... ON CONFLICT DO
NOTHING``, ``RETURNING id``, ``COALESCE``; no ``strftime``/``julianday``/2-argument
``MAX``); ``dialect(conn)`` tells the two apart where a statement must differ (``PRAGMA``).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import psycopg

Dialect = Literal["sqlite", "postgresql"]
Params = Sequence[Any] | Mapping[str, Any]

# The one advisory lock key behind ``BEGIN IMMEDIATE`` on PostgreSQL ("posfleet" in ASCII).
WRITE_LOCK_KEY = 0x706F73666C656574


class StoreError(RuntimeError):
    """The store cannot be opened or written; the message names the setting to fix."""


def is_postgres(target: str | Path) -> bool:
    """``--db`` / ``POSFLEET_DB`` names a PostgreSQL database (else an SQLite file path)."""
    return str(target).startswith(("postgresql://", "postgres://"))


def redact(target: str | Path) -> str:
    """``target`` for logs and errors: a password in a URL is never shown."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", str(target))


# --------------------------------------------------------------------------- SQL text
_TOKENS = re.compile(
    r"""
    (?P<str>'(?:[^']|'')*')            # a string literal: copied as is
  | (?P<ident>"(?:[^"]|"")*")          # a quoted identifier
  | (?P<cast>::)                       # a PostgreSQL cast, not a parameter
  | (?P<named>:(?P<name>[A-Za-z_]\w*))  # :name
  | (?P<qmark>\?)                      # ?
  | (?P<pct>%)                         # a literal percent sign
    """,
    re.VERBOSE,
)


@lru_cache(maxsize=4096)
def to_pyformat(sql: str) -> str:
    """``sql`` written for ``sqlite3`` (``?`` / ``:name``) in psycopg's placeholder style."""

    def sub(m: re.Match[str]) -> str:
        if m.group("named"):
            return f"%({m.group('name')})s"
        if m.group("qmark"):
            return "%s"
        if m.group("pct"):
            return "%%"
        # psycopg reads every % as a placeholder, inside string literals too ('esc%').
        return m.group(0).replace("%", "%%")

    return _TOKENS.sub(sub, sql)


_BEGIN = re.compile(
    r"^\s*BEGIN(\s+(DEFERRED|IMMEDIATE|EXCLUSIVE))?(\s+TRANSACTION)?\s*;?\s*$", re.I
)


# --------------------------------------------------------------------------- rows
class Row(tuple[Any, ...]):
    """A result row read by position or by (case-insensitive) column name, as ``sqlite3.Row``."""

    __slots__ = ()
    _index: dict[str, int] = {}
    _names: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._index[key.lower()])
            except KeyError:
                raise IndexError(f"no such column: {key}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_class(names: Sequence[str]) -> type[Row]:
    index = {n.lower(): i for i, n in reversed(list(enumerate(names)))}
    return type("Row", (Row,), {"__slots__": (), "_index": index, "_names": tuple(names)})


# --------------------------------------------------------------------------- PostgreSQL
def _adapt(params: Params | None) -> Params | None:
    if params is None:
        return None
    if isinstance(params, Mapping):
        return {k: int(v) if v is True or v is False else v for k, v in params.items()}
    return [int(v) if v is True or v is False else v for v in params]


class PgCursor:
    """The ``sqlite3.Cursor`` calls posfleet uses, on a psycopg cursor."""

    def __init__(self, conn: PgConnection) -> None:
        self._conn = conn
        self._cur = conn.raw.cursor()
        if conn.row_factory is not None:
            self._cur.row_factory = _named_rows

    def execute(self, sql: str, params: Params | None = None) -> PgCursor:
        if _BEGIN.match(sql):
            self._conn.begin(immediate="IMMEDIATE" in sql.upper() or "EXCLUSIVE" in sql.upper())
            return self
        if sql.lstrip()[:6].upper() == "PRAGMA":
            raise StoreError(f"PRAGMA is SQLite only (on PostgreSQL): {sql.strip()[:60]}")
        args = _adapt(params)
        if args:
            self._cur.execute(to_pyformat(sql), args)
        else:  # no parameters: psycopg sends the text as is (a literal % stays single)
            self._cur.execute(sql.encode())
        return self

    def executemany(self, sql: str, seq: Iterable[Params]) -> PgCursor:
        self._cur.executemany(to_pyformat(sql), [_adapt(p) for p in seq])  # type: ignore[misc]
        return self

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall() if self._cur.description else []

    def fetchmany(self, size: int = 1) -> list[Any]:
        return self._cur.fetchmany(size) if self._cur.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def description(self) -> Any:
        return self._cur.description

    @property
    def lastrowid(self) -> int | None:
        raise StoreError("lastrowid is SQLite only: use INSERT ... RETURNING id")

    def close(self) -> None:
        self._cur.close()


def _named_rows(cursor: Any) -> Any:
    if cursor.description is None:
        return lambda values: values
    cls = _row_class([d.name for d in cursor.description])
    return cls


class PgConnection:
    """A psycopg 3 connection with the ``sqlite3.Connection`` calls posfleet uses."""

    dialect: Dialect = "postgresql"

    def __init__(self, raw: psycopg.Connection[Any], url: str) -> None:
        self.raw = raw
        self.url = url
        self.row_factory: Any = None

    # sqlite3 shortcuts
    def execute(self, sql: str, params: Params | None = None) -> PgCursor:
        return PgCursor(self).execute(sql, params)

    def executemany(self, sql: str, seq: Iterable[Params]) -> PgCursor:
        return PgCursor(self).executemany(sql, seq)

    def executescript(self, script: str) -> PgCursor:
        cur = PgCursor(self)
        cur._cur.execute(script.encode())  # several statements, no parameters
        self.commit()
        return cur

    def cursor(self) -> PgCursor:
        return PgCursor(self)

    def begin(self, *, immediate: bool = False) -> None:
        """``BEGIN``: psycopg opened the transaction already; IMMEDIATE takes the write lock."""
        if immediate:
            self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))

    @property
    def in_transaction(self) -> bool:
        from psycopg import pq

        return self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    def commit(self) -> None:
        self.raw.commit()

    def rollback(self) -> None:
        self.raw.rollback()

    def close(self) -> None:
        self.raw.close()

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # As sqlite3: commit on success, roll back on error; the connection stays open.
        if exc_type is None:
            self.commit()
        else:
            self.rollback()


Connection = sqlite3.Connection | PgConnection


def dialect(conn: Connection) -> Dialect:
    return "postgresql" if isinstance(conn, PgConnection) else "sqlite"


def _pg_connect(url: str, *, readonly: bool, timeout: float) -> PgConnection:
    import psycopg
    from psycopg.types.numeric import FloatLoader

    options = "-c default_transaction_read_only=on" if readonly else None
    try:
        raw = psycopg.connect(
            url,
            connect_timeout=max(1, int(timeout)),
            options=options,
            application_name="posfleet",
        )
    except psycopg.Error as exc:
        raise StoreError(
            f"cannot connect to the PostgreSQL store {redact(url)} ({exc}): check --db / "
            "POSFLEET_DB (postgresql://USER@HOST:PORT/DB) and that the server accepts you"
        ) from exc
    raw.adapters.register_loader("numeric", FloatLoader)
    if not readonly:
        # A statement that waits for a lock longer than the timeout fails instead of hanging.
        raw.execute(f"SET lock_timeout = '{int(timeout * 1000)}ms'")
        raw.commit()
    return PgConnection(raw, url)


def connect(target: str | Path, *, readonly: bool = False, timeout: float = 10.0) -> Connection:
    """Open the store named by ``--db``: an SQLite file path or a ``postgresql://`` URL."""
    if is_postgres(target):
        return _pg_connect(str(target), readonly=readonly, timeout=timeout)
    try:
        if readonly:
            conn = sqlite3.connect(
                f"file:{target}?mode=ro", uri=True, timeout=timeout, check_same_thread=False
            )
        else:
            conn = sqlite3.connect(target, timeout=timeout, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error as exc:
        raise StoreError(
            f"cannot open the SQLite store at {target} ({exc}): set POSFLEET_DB / --db to a "
            "writable file path (or a postgresql:// URL)"
        ) from exc
    conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    return conn


def _error_types(name: str) -> tuple[type[Exception], ...]:
    types: list[type[Exception]] = [getattr(sqlite3, name)]
    try:
        import psycopg

        types.append(getattr(psycopg, name))
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    return tuple(types)


# ``except db.IntegrityError:`` catches the error of either engine.
Error = _error_types("Error")
IntegrityError = _error_types("IntegrityError")
OperationalError = _error_types("OperationalError")
DatabaseError = _error_types("DatabaseError")
DataError = _error_types("DataError")  # PostgreSQL: a value its column cannot hold


def _busy_types() -> tuple[type[Exception], ...]:
    try:
        from psycopg import errors
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return ()
    return (errors.LockNotAvailable, errors.SerializationFailure, errors.DeadlockDetected)


# PostgreSQL is up but another transaction is in the way (``lock_timeout`` spent waiting for
# the write lock, a serialization failure, a deadlock): the transaction was rolled back and
# the same work may simply be tried again. Subclasses of ``OperationalError``, which also
# covers a lost connection (a server really down): catch this one first.
BusyError = _busy_types()
