"""Transaction aggregates in the store: windows, batch closes and the bounded totals.

The batch's windows in one ``executemany`` of ``INSERT ... ON CONFLICT DO NOTHING`` inside
the batch's transaction (never a commit per row); its row count says whether every window
was new, else each is inserted again on its own behind a savepoint. Only a new window adds to
``txn_totals``, so an at-least-once replay is stored and counted once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import add
from typing import cast

from collector.store.db import Connection
from collector.store.times import DbTimes
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


# In a window's row (_INSERT's order): its ten counts, outcomes then response classes.
_COUNTS = slice(6, 16)
_DIM_KEYS = [("outcome", k) for k in OUTCOMES] + [("class", k) for k in CLASSES]


def _window_row(r: TxnAggregate, text: Callable[[datetime], str]) -> tuple[object, ...]:
    m = r.message
    o, c = m.outcomes, m.responses
    return (
        r.gateway_id,
        r.terminal_id,
        text(m.since),
        text(m.until),
        text(r.received_at),
        int(m.historical),
        o.approved,
        o.declined,
        o.reversed,
        o.timed_out,
        o.error,
        c.approved,
        c.cardholder_decline,
        c.issuer_unavailable,
        c.format_or_terminal_error,
        c.other,
        m.approved_amount,
        m.refunded_amount,
        m.currency or "",
        text(m.last_txn_at) if m.last_txn_at else None,
        m.acquirer or "",
    )


def _insert_windows(conn: Connection, params: list[tuple[object, ...]]) -> list[bool]:
    """Insert the windows; for each, whether it was new.

    One ``executemany`` for the batch: when it inserted as many rows as it was given (the
    usual case, a replay is rare), every window was new. Otherwise it is rolled back to a
    savepoint and the windows are inserted one at a time, each row count saying which one
    was already stored (or repeated within the batch)."""
    # An error propagates as is: the caller's transaction, savepoint and all, is rolled back.
    conn.execute("SAVEPOINT txn_windows")
    if conn.executemany(_INSERT, params).rowcount == len(params):
        fresh = [True] * len(params)
    else:
        conn.execute("ROLLBACK TO SAVEPOINT txn_windows")
        fresh = [conn.execute(_INSERT, p).rowcount == 1 for p in params]
    conn.execute("RELEASE SAVEPOINT txn_windows")
    return fresh


def write_transactions(
    conn: Connection,
    rows: Sequence[TxnAggregate],
    acquirers_max: int = ACQUIRERS_MAX,
    *,
    text: Callable[[datetime], str] | None = None,
) -> int:
    """Store ``rows`` in the caller's transaction; return how many windows were new.

    The totals of the batch's new windows are summed here by (outcome or class, region,
    acquirer) and written once at the end, counts of zero skipped: a window costs its part
    of one ``executemany``, and the whole batch a few upserts per region and acquirer, not
    ten per window."""
    if not rows:
        return 0
    text = text or DbTimes()  # the store's time text, converted once per distinct time
    params = [_window_row(r, text) for r in rows]
    is_new = _insert_windows(conn, params)
    batches = [
        (
            r.gateway_id,
            r.terminal_id,
            b.id,
            b.count,
            b.amount,
            b.currency,
            text(b.closed_at),
            text(r.received_at),
        )
        for r in rows
        if (b := r.message.batch) is not None
    ]
    if batches:
        conn.executemany(
            "INSERT INTO txn_batches (gateway_id, terminal_id, batch_id, count, "
            "amount, currency, closed_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            batches,
        )
    fresh = [(r, p) for r, p, is_fresh in zip(rows, params, is_new, strict=True) if is_fresh]
    if not fresh:
        return 0  # replayed windows only: already stored and counted
    labels = _AcquirerLabels(conn, acquirers_max)
    region = _regions(conn, {(r.terminal_id, r.gateway_id) for r, _ in fresh})
    # The ten counts of the new windows, summed per (region, acquirer label).
    by_place: dict[tuple[str, str], list[int]] = {}
    for r, p in fresh:
        key = (region[(r.terminal_id, r.gateway_id)], labels(r.message.acquirer))
        counts = cast("tuple[int, ...]", p[_COUNTS])
        acc = by_place.get(key)
        by_place[key] = list(counts) if acc is None else list(map(add, acc, counts))
    totals = sorted(  # in key order: concurrent writers (PostgreSQL) lock rows alike
        (dim, k, where, acq, n)
        for (where, acq), sums in by_place.items()
        for (dim, k), n in zip(_DIM_KEYS, sums, strict=True)
        if n > 0  # counts of zero skipped
    )
    if totals:
        conn.executemany(_TOTAL, totals)
    return len(fresh)


def prune_transactions(conn: Connection, before: str) -> int:
    """Delete windows and batches received before ``before`` (the totals stay)."""
    n = conn.execute("DELETE FROM txn_aggregates WHERE received_at < ?", (before,)).rowcount
    return n + conn.execute("DELETE FROM txn_batches WHERE received_at < ?", (before,)).rowcount
