"""Delivery records where the console's audit shows them: ``audit_log`` rows in the posfleet
store, written with ``collector.actions.record_audit`` (one definition of that row).

The spool is the relay's own truth; the audit row is the people-facing record. A store that
is locked or missing must not stop a page, so a failed audit write is logged and counted
and the delivery goes on.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from collector.actions import record_audit

ACTOR = "posfleet-notify"
log = logging.getLogger(__name__)


class AuditLog:
    def __init__(self, db: Path | None) -> None:
        self._db = db
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self.failures = 0

    def record(self, action: str, subject: str, now: datetime, details: dict[str, Any]) -> bool:
        if self._db is None:
            return False
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = sqlite3.connect(self._db, timeout=5.0, check_same_thread=False)
                record_audit(self._conn, ACTOR, action, subject, now, details)
                return True
            except sqlite3.Error as exc:
                self.failures += 1
                log.warning("audit row %s %s not written to %s: %s", action, subject, self._db, exc)
                return False

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
