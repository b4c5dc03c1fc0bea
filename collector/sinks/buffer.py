"""Bounded on-disk buffer of line-protocol points (SQLite), oldest first.

Used by the sink's writer thread only (one connection, one thread). Bounds: ``max_bytes``
of line protocol (the oldest points go first when it is full) and ``max_age_s`` (points
older than that are dropped: an InfluxDB outage of weeks should not replay stale data
forever). Both return how many points they dropped so the caller can count them.
Points survive a collector restart: the next writer drains them first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    id INTEGER PRIMARY KEY,
    enqueued_at REAL NOT NULL,   -- wall-clock Unix seconds: ages must survive restarts
    line TEXT NOT NULL
);
"""


class PointBuffer:
    def __init__(self, path: Path, max_bytes: int, max_age_s: float) -> None:
        if max_bytes <= 0 or max_age_s <= 0:
            raise ValueError("buffer max_bytes and max_age_s must be positive")
        self.path = path
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # A lost tail after a power cut costs a few seconds of telemetry, not alerting.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        row = self._conn.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(line)), 0) FROM points")
        self.count, self.bytes = (int(v) for v in row.fetchone())

    def append(self, lines: Sequence[str], now: float) -> int:
        """Store ``lines``; return how many old points were dropped to stay under max_bytes."""
        if not lines:
            return 0
        with self._conn:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT INTO points (enqueued_at, line) VALUES (?, ?)",
                [(now, line) for line in lines],
            )
        self.count += len(lines)
        self.bytes += sum(len(line) for line in lines)
        return self._trim_to_bytes()

    def _trim_to_bytes(self) -> int:
        dropped = 0
        while self.bytes > self.max_bytes and self.count:
            excess, freed, cut = self.bytes - self.max_bytes, 0, 0
            for row_id, size in self._conn.execute(
                "SELECT id, LENGTH(line) FROM points ORDER BY id LIMIT 1000"
            ):
                freed, cut = freed + int(size), int(row_id)
                if freed >= excess:
                    break
            dropped += self._delete_through(cut)
        return dropped

    def expire(self, now: float) -> int:
        """Drop points buffered more than max_age_s ago; return how many."""
        cutoff = now - self.max_age_s
        row = self._conn.execute(
            "SELECT MAX(id) FROM points WHERE enqueued_at < ?", (cutoff,)
        ).fetchone()
        return 0 if row[0] is None else self._delete_through(int(row[0]))

    def peek(self, limit: int) -> list[tuple[int, str]]:
        return [
            (int(i), str(line))
            for i, line in self._conn.execute(
                "SELECT id, line FROM points ORDER BY id LIMIT ?", (limit,)
            )
        ]

    def delete_through(self, last_id: int) -> int:
        """Remove every point up to ``last_id`` (after it was written or given up)."""
        return self._delete_through(last_id)

    def _delete_through(self, last_id: int) -> int:
        with self._conn:
            self._conn.execute("BEGIN")
            n, size = self._conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(line)), 0) FROM points WHERE id <= ?",
                (last_id,),
            ).fetchone()
            self._conn.execute("DELETE FROM points WHERE id <= ?", (last_id,))
        self.count -= int(n)
        self.bytes -= int(size)
        return int(n)

    def close(self) -> None:
        self._conn.close()
