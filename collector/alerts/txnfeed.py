"""The transaction windows the silence and spike folds read: one read of the store for both.

Both folds walk ``txn_aggregates`` past a cursor of their own (``meta``) with the same join
(the window's device, its store and the store's zone). On the alert listener's tick the
silence fold reads and keeps the rows here, and the spike fold, in the same transaction,
takes the part past its own cursor and reads from the store only what lies outside them
(after a restart or an upgrade, until the two cursors meet): a window is read once, not
twice. The feed lives for one tick, so a read that is rolled back is never reused.

The kept rows are exactly what a second read would return only while ids are handed out in
commit order: on SQLite (one writer at a time), not on PostgreSQL, where another collector's
transaction can commit a lower id in between; there each fold reads the store itself.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from collector import places
from collector.store.db import Connection, dialect

# A terminal listed without a store or region of its own (terminals.csv naming only the
# terminal and its gateway: the columns hold '', not NULL) is where its gateway is, as the
# alert engine's topology has it (collector/places.py). SQL for that place, with ``t`` the
# terminal's row and ``g`` its gateway's:
SITE = places.joined("site_id")
REGION = places.joined("region_id")
# ... and the zone its hours are counted in, with ``s`` that store's row: the store's, else
# the deployment's POSFLEET_DEFAULT_TZ (written to ``meta`` by the collector), as the
# reconciliation has it; UTC only when neither is known.
ZONE = (
    "COALESCE(NULLIF(s.tz, ''), "
    "NULLIF((SELECT m.value FROM meta m WHERE m.key = 'default_tz'), ''), 'UTC')"
)

# (id, terminal_id, gateway_id, window_start, window_end, attempted, last_txn_at (at most the
#  window's received_at), tz, historical, site_id, issuer_unavailable, timed_out, reversed)
Row = tuple[Any, ...]

_SELECT = (
    "SELECT a.id, a.terminal_id, a.gateway_id, a.window_start, a.window_end, "
    "a.approved + a.declined + a.reversed + a.timed_out + a.error, "
    # No sale is later than its report's receipt: a device clock that jumped ahead once (a
    # last_txn_at in 2100) would otherwise stay the latest sale and mask every silence.
    "CASE WHEN a.last_txn_at > a.received_at THEN a.received_at ELSE a.last_txn_at END, "
    f"{ZONE}, a.historical, COALESCE({SITE}, ''), "
    "a.rc_issuer_unavailable, a.timed_out, a.reversed FROM txn_aggregates a "
    "LEFT JOIN terminals t ON t.terminal_id = a.terminal_id AND a.terminal_id != '' "
    "LEFT JOIN gateways g ON g.gateway_id = a.gateway_id "
    f"LEFT JOIN sites s ON s.site_id = {SITE} "
    "WHERE a.id > ? ORDER BY a.id LIMIT ?"
)


def read_windows(conn: Connection, after: int, limit: int) -> list[Row]:
    """Up to ``limit`` windows stored after id ``after``, in id order."""
    return list(conn.execute(_SELECT, (after, limit)).fetchall())


class WindowFeed:
    """The windows of the last reads, ``(after, last]`` with none missing, until taken."""

    def __init__(self) -> None:
        self.after: int | None = None
        self.rows: list[Row] = []
        self.to_end = False  # the last read returned every window there was
        # window id -> (seconds it spans, [(hour of week, hours in it)]) in its store's zone,
        # cut by the silence fold for the spike fold (an id's window and place do not change
        # within the tick's transaction)
        self.split: dict[int, tuple[float, list[tuple[int, float]]]] = {}

    @property
    def last(self) -> int | None:
        return None if self.after is None else (self.rows[-1][0] if self.rows else self.after)

    def read(self, conn: Connection, after: int, limit: int) -> list[Row]:
        """Read from the store (the first fold) and keep what was read."""
        rows = read_windows(conn, after, limit)
        if dialect(conn) != "sqlite":
            return rows
        if self.after is not None and self.last == after:
            self.rows.extend(rows)  # follows on from the rows kept: still none missing
        else:  # a first read, or a cursor rolled back: start again from here
            self.after, self.rows = after, list(rows)
        self.to_end = len(rows) < limit
        return rows

    def take(self, conn: Connection, after: int, limit: int) -> list[Row]:
        """Up to ``limit`` windows after id ``after`` (the second fold): the kept rows when
        they cover ``after``, the rest read from the store."""
        rows: list[Row] = []
        covered = self.after is not None and self.after <= after and dialect(conn) == "sqlite"
        if covered:
            # What lies at or before ``after`` is folded for good; the rest stays, in case
            # this fold is rolled back and its cursor with it.
            cut = bisect_right(self.rows, after, key=lambda r: int(r[0]))
            self.after, self.rows = after, self.rows[cut:]
            rows = self.rows[:limit]
            if len(rows) < limit and self.to_end:
                return rows  # nothing more in this transaction: no second read
        if len(rows) < limit:
            rows += read_windows(conn, rows[-1][0] if rows else after, limit - len(rows))
        return rows
