"""The store's ``meta`` table: one text value per key (fold cursors, the default zone)."""

from __future__ import annotations

from collector.store.db import Connection

# The counter of the inventory imports that moved terminals to another gateway
# (terminals.moved_seq; collector/inventory.py bumps it, collector/enrolment.py reads it).
TERMINAL_MOVES = "terminal_moves"


def get_meta(conn: Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(conn: Connection, key: str, value: str) -> None:
    """In the caller's transaction."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
