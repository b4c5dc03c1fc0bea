"""Store-and-forward: a durable SQLite queue of messages the broker has not acknowledged.

Rules (documented in docs/agent.md):
- bounded by ``max_messages`` and ``max_age_s``; when full, the *oldest* rows go first;
- every drop is counted by cause in the ``counters`` table (durable across restarts) and
  reported once the agent is back online (an ``event`` of type ``queue_dropped``);
- a row is deleted only when the broker's PUBACK for it arrives; a row handed to the MQTT
  client is not handed again in the same process (paho re-sends it itself after a
  reconnect), so delivery is once and in order; after a crash, unacknowledged rows are
  sent again (at least once; the collector drops duplicates).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL          -- device wall time, Unix seconds (for the age bound)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    topic: str
    payload: bytes


class Outbox:
    def __init__(self, path: Path, *, max_messages: int, max_age_s: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One connection shared by the paho thread (acks) and the agent thread (puts),
        # serialised by a lock so their transactions never interleave.
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a power cut may lose the last few rows, never corrupt the file; FULL
        # would fsync on every heartbeat and wear the gateway's flash.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.max_messages = max_messages
        self.max_age_s = max_age_s
        self._handed: set[int] = set()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def put(self, topic: str, payload: bytes, created: float) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO outbox(topic, payload, created) VALUES (?, ?, ?)",
                (topic, payload, created),
            )
            self._enforce(created)

    def expire(self, now: float) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._enforce(now)

    def _enforce(self, now: float) -> None:
        cur = self._db.execute("DELETE FROM outbox WHERE created < ?", (now - self.max_age_s,))
        self._count("dropped_age", cur.rowcount)
        excess = len(self) - self.max_messages
        if excess > 0:
            cur = self._db.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)",
                (excess,),
            )
            self._count("dropped_full", cur.rowcount)

    def _count(self, name: str, n: int) -> None:
        if n > 0:
            self._db.execute(
                "INSERT INTO counters(name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (name, n),
            )

    def next_batch(self, limit: int) -> list[Row]:
        """Oldest rows not yet handed to the MQTT client in this process."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload FROM outbox ORDER BY id LIMIT ?",
                (limit + len(self._handed),),
            ).fetchall()
            fresh = [Row(int(i), str(t), bytes(p)) for i, t, p in rows if i not in self._handed]
            return fresh[:limit]

    def handed(self, row_id: int) -> None:
        with self._lock:
            self._handed.add(row_id)

    def release_all(self) -> None:
        """Forget hand-offs (the MQTT client lost its own copies)."""
        with self._lock:
            self._handed.clear()

    def ack(self, row_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
            self._handed.discard(row_id)

    def in_flight(self) -> int:
        with self._lock:
            return len(self._handed)

    def drops(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT name, value FROM counters").fetchall()
            return {str(n): int(v) for n, v in rows}

    def take_drops(self) -> dict[str, int]:
        """Read and reset the drop counters (when they are about to be reported)."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            rows = self._db.execute("SELECT name, value FROM counters").fetchall()
            self._db.execute("DELETE FROM counters")
            return {str(n): int(v) for n, v in rows}
