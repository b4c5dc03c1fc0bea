"""Bounded local telemetry history: raw rows for a while, hourly rollups for longer.

The store keeps recent raw ``telemetry`` rows for the dashboard and folds older ones into
``telemetry_rollup`` (count, min, sum, max per gateway, terminal, kind, metric and UTC
hour), so its size grows with the fleet, not with time. Long-term detail belongs in
InfluxDB (``collector.sinks``).

Buckets use ``received_at`` (collector time): device clocks can be wrong, and a
back-filled message lands in the hour it reached us. Rows are folded and deleted in one
transaction per chunk, so a crash never counts a row twice nor loses it; a chunk is small
so the processing thread that calls :func:`apply_retention` between batches is not held
for long.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from collector.store import db
from collector.store.times import to_db
from collector.store.transactions import prune_transactions

# Identity, sequence numbers and configuration echoes are not measurements: never rolled up.
EXCLUDED_METRICS: frozenset[str] = frozenset({"v", "session", "seq", "interval"})


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    raw_keep: timedelta = timedelta(days=3)
    rollup_keep: timedelta = timedelta(days=90)
    chunk_rows: int = 20_000

    def __post_init__(self) -> None:
        if self.raw_keep <= timedelta(0):
            raise ValueError("raw_keep must be positive")
        if self.rollup_keep < self.raw_keep:
            raise ValueError("rollup_keep must be at least raw_keep")
        if self.chunk_rows < 1:
            raise ValueError("chunk_rows must be >= 1")


@dataclass(frozen=True, slots=True)
class Cutoffs:
    raw_before: str
    rollup_before: str


@dataclass(frozen=True, slots=True)
class RetentionReport:
    raw_rows_folded: int
    rollup_rows_deleted: int
    txn_rows_deleted: int = 0  # transaction windows and batches past rollup_keep


def hour_bucket(received_at: str) -> str:
    """The UTC hour a stored time falls in, in the same text form."""
    return received_at[:13] + ":00:00.000000+00:00"


def cutoffs(now: datetime, policy: RetentionPolicy) -> Cutoffs:
    """Raw rows received before ``raw_before`` are folded.

    The raw cutoff is rounded down to an hour so that an hour's bucket is folded from all
    its rows at once; rollup buckets older than ``rollup_before`` are deleted.
    """
    raw = (now - policy.raw_keep).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return Cutoffs(raw_before=to_db(raw), rollup_before=to_db(now - policy.rollup_keep))


def metric_values(payload: dict[str, object]) -> dict[str, float]:
    """The top-level numeric (and boolean, as 0/1) values a rollup keeps from a message.

    Mirrors the SQL in :data:`_FOLD_SQL` (json_each types integer, real, true, false;
    jsonb_typeof number, boolean on PostgreSQL);
    used by tests and the benchmark to check that SQL.
    """
    out: dict[str, float] = {}
    for key, value in payload.items():
        if key in EXCLUDED_METRICS:
            continue
        if isinstance(value, bool):
            out[key] = 1.0 if value else 0.0
        elif isinstance(value, int | float):
            out[key] = float(value)
    return out


_EXCLUDED_SQL = ", ".join(f"'{name}'" for name in sorted(EXCLUDED_METRICS))

_FOLD_SQL = f"""
INSERT INTO telemetry_rollup
    (gateway_id, terminal_id, kind, metric, bucket_start, n, min, sum, max)
SELECT t.gateway_id, t.terminal_id, t.kind, j.key,
       substr(t.received_at, 1, 13) || ':00:00.000000+00:00',
       COUNT(*), MIN(j.value), SUM(j.value), MAX(j.value)
FROM telemetry AS t, json_each(t.payload) AS j
WHERE t.received_at < :bound
  AND j.type IN ('integer', 'real', 'true', 'false')
  AND j.key NOT IN ({_EXCLUDED_SQL})
GROUP BY 1, 2, 3, 4, 5
ON CONFLICT (gateway_id, terminal_id, kind, metric, bucket_start) DO UPDATE SET
    n = n + excluded.n,
    min = MIN(min, excluded.min),
    sum = sum + excluded.sum,
    max = MAX(max, excluded.max)
"""


# PostgreSQL: the same fold with jsonb_each and LEAST/GREATEST (2-argument MIN/MAX are SQLite's).
_FOLD_SQL_PG = f"""
INSERT INTO telemetry_rollup
    (gateway_id, terminal_id, kind, metric, bucket_start, n, min, sum, max)
SELECT t.gateway_id, t.terminal_id, t.kind, j.key,
       substr(t.received_at, 1, 13) || ':00:00.000000+00:00',
       COUNT(*), MIN(v.value), SUM(v.value), MAX(v.value)
FROM telemetry AS t
CROSS JOIN LATERAL jsonb_each(t.payload::jsonb) AS j
CROSS JOIN LATERAL (SELECT CASE jsonb_typeof(j.value)
    WHEN 'number' THEN (j.value #>> '{{}}')::double precision
    ELSE CASE WHEN j.value = 'true'::jsonb THEN 1.0 ELSE 0.0 END END AS value) AS v
WHERE t.received_at < :bound
  AND jsonb_typeof(j.value) IN ('number', 'boolean')
  AND j.key NOT IN ({_EXCLUDED_SQL})
GROUP BY 1, 2, 3, 4, 5
ON CONFLICT (gateway_id, terminal_id, kind, metric, bucket_start) DO UPDATE SET
    n = telemetry_rollup.n + excluded.n,
    min = LEAST(telemetry_rollup.min, excluded.min),
    sum = telemetry_rollup.sum + excluded.sum,
    max = GREATEST(telemetry_rollup.max, excluded.max)
"""
_FOLD: dict[db.Dialect, str] = {"sqlite": _FOLD_SQL, "postgresql": _FOLD_SQL_PG}


def _chunk_bound(conn: db.Connection, raw_before: str, chunk_rows: int) -> str | None:
    """An exclusive received_at bound covering about ``chunk_rows`` old rows; None if none."""
    first = conn.execute(
        "SELECT MIN(received_at) FROM telemetry WHERE received_at < ?", (raw_before,)
    ).fetchone()[0]
    if first is None:
        return None
    row = conn.execute(
        "SELECT received_at FROM telemetry WHERE received_at < ?"
        " ORDER BY received_at LIMIT 1 OFFSET ?",
        (raw_before, chunk_rows),
    ).fetchone()
    # Fewer rows than a chunk, or a chunk of identical times: take everything old.
    if row is None or row[0] == first:
        return raw_before
    return str(row[0])


@contextmanager
def _atomic(conn: db.Connection) -> Iterator[None]:
    if db.dialect(conn) == "postgresql":
        # psycopg opens a transaction with the first statement (the chunk's reads too) and
        # a savepoint does not end it: one commit per chunk, as SQLite's RELEASE does. A
        # transaction that has written (it has a transaction id) is the caller's: refused.
        if conn.execute("SELECT pg_current_xact_id_if_assigned()").fetchone()[0] is not None:
            raise RuntimeError("apply_retention must run between transactions, not inside one")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        return
    # A savepoint is atomic whatever the connection's isolation_level (autocommit or not).
    if conn.in_transaction:
        raise RuntimeError("apply_retention must run between transactions, not inside one")
    conn.execute("SAVEPOINT retention")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK TO retention")
        conn.execute("RELEASE retention")
        raise
    conn.execute("RELEASE retention")


def apply_retention(
    conn: db.Connection, now: datetime, policy: RetentionPolicy, max_chunks: int = 1_000
) -> RetentionReport:
    """Fold raw rows older than the raw window into rollups and prune old rollups.

    Between transactions: inside one that has written is refused (on PostgreSQL, where a
    read opens one, a transaction that has only read is ended with the first chunk).
    """
    cut = cutoffs(now, policy)
    fold = _FOLD[db.dialect(conn)]
    folded = 0
    for _ in range(max_chunks):
        bound = _chunk_bound(conn, cut.raw_before, policy.chunk_rows)
        if bound is None:
            break
        with _atomic(conn):
            conn.execute(fold, {"bound": bound})
            folded += conn.execute("DELETE FROM telemetry WHERE received_at < ?", (bound,)).rowcount
    with _atomic(conn):
        pruned = conn.execute(
            "DELETE FROM telemetry_rollup WHERE bucket_start < ?", (cut.rollup_before,)
        ).rowcount
        # Transaction aggregates are already small (one row per terminal per window): kept
        # as long as the rollups, for reconciliation and the detectors' baselines.
        txn = prune_transactions(conn, cut.rollup_before)
    return RetentionReport(raw_rows_folded=folded, rollup_rows_deleted=pruned, txn_rows_deleted=txn)
