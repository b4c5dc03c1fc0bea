"""Transaction aggregates in the store: windows, batch closes and the bounded totals.

One ``INSERT ... ON CONFLICT DO NOTHING`` per aggregate inside the batch's transaction (never a commit per
row): its row count says whether the window is new, and only a new window adds to
``txn_totals``, so an at-least-once replay is stored and counted once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from collector.store.db import Connection
from collector.store.times import to_db
from telemetry.models import Transactions

OUTCOMES = ("approved", "declined", "reversed", "timed_out", "error")
CLASSES = (
    "approved",
    "cardholder_decline",
    "issuer_unavailable",
    "format_or_terminal_error",
    "other",
)
OTHER_ACQUIRER = "other"
NO_ACQUIRER = "unknown"  # label for aggregates that name no acquirer
# The first this many acquirers seen keep their own label; later ones count as "other", so
# the counters stay bounded and never move between label sets (a counter must only rise).
ACQUIRERS_MAX = 20


@dataclass(frozen=True, slots=True)
class TxnAggregate:
    gateway_id: str
    terminal_id: str  # '' when the gateway is the payment device
    received_at: datetime
    message: Transactions


_INSERT = (
    "INSERT INTO txn_aggregates (gateway_id, terminal_id, window_start, window_end, "
    "received_at, historical, approved, declined, reversed, timed_out, error, rc_approved, "
    "rc_cardholder_decline, rc_issuer_unavailable, rc_format_or_terminal_error, rc_other, "
    "approved_amount, refunded_amount, currency, last_txn_at, acquirer) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)
_TOTAL = (
    "INSERT INTO txn_totals (dim, key, region_id, acquirer, n) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (dim, key, region_id, acquirer) DO UPDATE SET n = txn_totals.n + excluded.n"
)


def _regions(conn: Connection, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(terminal, gateway) -> the terminal's region, else its gateway's, else ''."""
    terminals = sorted({t for t, _ in pairs if t})
    gateways = sorted({g for _, g in pairs})
    t_region: dict[str, str] = {}
    g_region: dict[str, str] = {}
    for table, key, ids, into in (
        ("terminals", "terminal_id", terminals, t_region),
        ("gateways", "gateway_id", gateways, g_region),
    ):
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            for ident, region in conn.execute(
                f"SELECT {key}, region_id FROM {table} WHERE {key} IN ({marks})", chunk
            ):
                into[str(ident)] = str(region or "")
    return {(t, g): t_region.get(t) or g_region.get(g) or "" for t, g in pairs}


class _AcquirerLabels:
    """The label each acquirer counts under in ``txn_totals``: its own for the first
    ``limit`` acquirers the store has seen, ``other`` for later ones. Looked up once per
    acquirer per batch; acquirers first seen in this batch count toward the limit."""

    def __init__(self, conn: Connection, limit: int) -> None:
        self.conn, self.limit = conn, limit
        self.known: dict[str, str] = {}
        self.named: int | None = None  # named acquirers in the store before this batch
        self.new = 0  # ... and first named in this batch

    def __call__(self, acquirer: str | None) -> str:
        if not acquirer:
            return NO_ACQUIRER
        label = self.known.get(acquirer)
        if label is not None:
            return label
        if self.conn.execute(
            "SELECT 1 FROM txn_totals WHERE acquirer = ? LIMIT 1", (acquirer,)
        ).fetchone():
            label = acquirer
        else:
            if self.named is None:
                self.named = int(
                    self.conn.execute(
                        "SELECT count(DISTINCT acquirer) FROM txn_totals "
                        "WHERE acquirer NOT IN (?, ?)",
                        (OTHER_ACQUIRER, NO_ACQUIRER),
                    ).fetchone()[0]
                )
            if self.named + self.new < self.limit:
                label = acquirer
                self.new += 1
            else:
                label = OTHER_ACQUIRER
        self.known[acquirer] = label
        return label


def write_transactions(
    conn: Connection, rows: Sequence[TxnAggregate], acquirers_max: int = ACQUIRERS_MAX
) -> int:
    """Store ``rows`` in the caller's transaction; return how many windows were new.

    The totals of the batch's new windows are summed here by (outcome or class, region,
    acquirer) and written once at the end, counts of zero skipped: a window costs its own row,
    and the whole batch a few upserts per region and acquirer, not ten per window."""
    new = 0
    labels = _AcquirerLabels(conn, acquirers_max)
    totals: dict[tuple[str, str, str, str, str], int] = {}
    for r in rows:
        m = r.message
        o, c = m.outcomes, m.responses
        cur = conn.execute(
            _INSERT,
            (
                r.gateway_id,
                r.terminal_id,
                to_db(m.since),
                to_db(m.until),
                to_db(r.received_at),
                int(m.historical),
                *(getattr(o, k) for k in OUTCOMES),
                *(getattr(c, k) for k in CLASSES),
                m.approved_amount,
                m.refunded_amount,
                m.currency or "",
                to_db(m.last_txn_at) if m.last_txn_at else None,
                m.acquirer or "",
            ),
        )
        if m.batch is not None:
            b = m.batch
            conn.execute(
                "INSERT INTO txn_batches (gateway_id, terminal_id, batch_id, count, "
                "amount, currency, closed_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (
                    r.gateway_id,
                    r.terminal_id,
                    b.id,
                    b.count,
                    b.amount,
                    b.currency,
                    to_db(b.closed_at),
                    to_db(r.received_at),
                ),
            )
        if cur.rowcount != 1:
            continue  # a replayed window: already stored and counted
        new += 1
        acquirer = labels(m.acquirer)
        for dim, part, keys in (("outcome", o, OUTCOMES), ("class", c, CLASSES)):
            for k in keys:
                n = getattr(part, k)
                if n > 0:
                    key = (dim, k, r.terminal_id, r.gateway_id, acquirer)
                    totals[key] = totals.get(key, 0) + n
    if totals:
        region = _regions(conn, {(tid, gid) for _, _, tid, gid, _ in totals})
        summed: dict[tuple[str, str, str, str], int] = {}
        for (dim, k, tid, gid, acq), n in totals.items():
            key4 = (dim, k, region[(tid, gid)], acq)
            summed[key4] = summed.get(key4, 0) + n
        conn.executemany(_TOTAL, [(*key4, n) for key4, n in sorted(summed.items())])
    return new


def prune_transactions(conn: Connection, before: str) -> int:
    """Delete windows and batches received before ``before`` (the totals stay)."""
    n = conn.execute("DELETE FROM txn_aggregates WHERE received_at < ?", (before,)).rowcount
    return n + conn.execute("DELETE FROM txn_batches WHERE received_at < ?", (before,)).rowcount
