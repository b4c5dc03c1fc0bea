"""The relay's connection to the posfleet store (either engine, ``collector.store.db``).

The relay keeps one connection per use (site names, on-call schedules, audit rows, acks) for
its lifetime, so two things matter that a script would not notice: a PostgreSQL session
must not sit idle inside a transaction between pages (it would hold back vacuum and block
the schema migrations of the next upgrade), and a connection the server dropped (restart,
failover) must be replaced, not reused for every page after it. ``StoreLink.run`` does both:
each use ends its transaction, and an error closes the connection so the next use opens a
new one. The relay's own spool (``notify.spool``) is a local SQLite file and is not this.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from collector.store import db

T = TypeVar("T")

# What a store that cannot be opened or read raises, on either engine.
STORE_ERRORS: tuple[type[Exception], ...] = (db.StoreError, *db.Error)
# A schedule the store holds but ``collector.oncall`` cannot read is no reason to stop a page.
SCHEDULE_ERRORS: tuple[type[Exception], ...] = (*STORE_ERRORS, ValueError)


class StoreLink:
    def __init__(self, target: str | Path, *, readonly: bool, timeout: float = 5.0) -> None:
        self.target = target
        self._readonly = readonly
        self._timeout = timeout
        self._conn: db.Connection | None = None
        self._lost = False  # the last error found the connection closed under it

    def run(self, use: Callable[[db.Connection], T]) -> T:
        """``use(conn)``; its transaction is ended (committed when it returns, as the
        ``collector.actions`` writes expect to be already), the connection dropped on a
        store error so that the next call reconnects. A read that finds its connection
        gone (server restarted, session killed) is tried once more on a new one; a write is
        not: whether it reached the store is then unknown, and the caller counts it."""
        try:
            return self._run(use)
        except STORE_ERRORS:
            if not self._readonly or not self._lost:
                raise
        return self._run(use)

    def _run(self, use: Callable[[db.Connection], T]) -> T:
        self._lost = False
        try:
            if self._conn is None:
                self._conn = db.connect(self.target, readonly=self._readonly, timeout=self._timeout)
            result = use(self._conn)
            if self._conn.in_transaction:
                self._conn.commit()
            return result
        except STORE_ERRORS:
            # Only a PostgreSQL session can be lost under us (an SQLite file is local).
            self._lost = isinstance(self._conn, db.PgConnection) and self._conn.closed
            self.close()
            raise
        except BaseException:
            if self._conn is not None:
                with contextlib.suppress(*STORE_ERRORS):
                    self._conn.rollback()
            raise

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def __str__(self) -> str:
        return db.redact(self.target)
