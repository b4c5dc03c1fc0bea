"""Delivery records where the console's audit shows them: ``audit_log`` rows in the posfleet
store, written with ``collector.actions.record_audit`` (one definition of that row).

The spool is the relay's own truth; the audit row is the people-facing record. A store that
is locked or missing must not stop a page, so a failed audit write is logged and counted
and the delivery goes on.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from collector.actions import record_audit
from notify.store import STORE_ERRORS, StoreLink

if TYPE_CHECKING:
    import sqlite3  # the collector's readers are typed sqlite3 until its port (issue #14)

ACTOR = "posfleet-notify"
log = logging.getLogger(__name__)


class AuditLog:
    def __init__(self, db: str | Path | None) -> None:
        self._store = StoreLink(db, readonly=False) if db is not None else None
        self._lock = threading.Lock()
        self.failures = 0

    def record(self, action: str, subject: str, now: datetime, details: dict[str, Any]) -> bool:
        if self._store is None:
            return False
        store = self._store
        with self._lock:
            try:
                store.run(
                    lambda conn: record_audit(
                        cast("sqlite3.Connection", conn), ACTOR, action, subject, now, details
                    )
                )
                return True
            except STORE_ERRORS as exc:
                self.failures += 1
                log.warning("audit row %s %s not written to %s: %s", action, subject, store, exc)
                return False

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
