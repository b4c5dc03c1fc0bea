"""A batch's writes on each backend: the same rows, and on PostgreSQL a statement per table
for the whole batch (the shared store's write lock is held once per batch, not once per
gateway: bench/liveness_shared.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from collector.inventory import upsert_rows
from collector.model import DetectedBy, Liveness, SubjectType, Transition
from collector.store import db
from collector.store.store import Batch, Store, SubjectUpdate

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ON, LATE, DOWN, UNKNOWN = Liveness.ONLINE, Liveness.LATE, Liveness.DOWN, Liveness.UNKNOWN
GW, TERM = SubjectType.GATEWAY, SubjectType.TERMINAL


def _t(stype: SubjectType, sid: str, a: Liveness, b: Liveness, s: int) -> Transition:
    by = DetectedBy.DEADLINE if b in (LATE, DOWN) else DetectedBy.HEARTBEAT
    return Transition(stype, sid, a, b, T0 + timedelta(seconds=s), by)


def _store(url: str) -> Store:
    store = Store(url)
    with store.conn:
        upsert_rows(store.conn, "gateways", [{"gateway_id": f"gw-{i}"} for i in range(1, 4)])
        upsert_rows(store.conn, "terminals", [{"terminal_id": "t-1", "gateway_id": "gw-1"}])
    return store


def test_a_batch_of_transitions_is_guarded_and_written_in_order_on_each_backend(
    store_url: str,
) -> None:
    store = _store(store_url)
    batch = Batch(
        transitions=[
            _t(GW, "gw-1", UNKNOWN, ON, 1),
            _t(GW, "gw-2", UNKNOWN, ON, 2),
            _t(TERM, "t-1", UNKNOWN, ON, 3),
            _t(GW, "gw-1", ON, LATE, 4),  # gw-1 again: judged after its birth
            _t(GW, "gw-3", ON, LATE, 5),  # gw-3 is unknown: the guard refuses it
            _t(GW, "gw-1", LATE, DOWN, 6),
            _t(GW, "gw-2", ON, LATE, 7),
        ]
    )
    with store.transaction() as conn:
        written = store.write(conn, batch)
    expected = [t for t in batch.transitions if t.subject_id != "gw-3"]
    assert written.applied == expected
    assert written.lost == [batch.transitions[4]]
    rows = store.conn.execute(
        "SELECT subject_type, subject_id, from_status, to_status, at, reason "
        "FROM state_changes ORDER BY id"
    ).fetchall()
    assert [tuple(r) for r in rows] == [
        (
            t.subject_type.value,
            t.subject_id,
            t.from_status.value,
            t.to_status.value,
            (T0 + timedelta(seconds=s)).isoformat(timespec="microseconds"),
            t.detected_by.value,
        )
        for t, s in zip(expected, [1, 2, 3, 4, 6, 7], strict=True)
    ]
    status = dict(store.conn.execute("SELECT gateway_id, status FROM gateways").fetchall())
    assert status == {"gw-1": "down", "gw-2": "late", "gw-3": "unknown"}
    row = store.conn.execute("SELECT status, status_reason FROM terminals").fetchone()
    assert tuple(row) == ("online", "heartbeat")
    incidents = store.conn.execute(
        "SELECT subject_id, started_at, fault_category FROM incidents"
    ).fetchall()
    assert [tuple(r) for r in incidents] == [
        ("gw-1", (T0 + timedelta(seconds=6)).isoformat(timespec="microseconds"), "software")
    ]
    store.close()


class _Counting(db.PgConnection):
    """The store's connection, counting the statements sent (executemany: one per row)."""

    def __init__(self, inner: db.PgConnection) -> None:
        super().__init__(inner.raw, inner.url)
        self.sent = 0

    def execute(self, sql: str, params: Any = None) -> db.PgCursor:
        self.sent += 1
        return super().execute(sql, params)

    def executemany(self, sql: str, seq: Any) -> db.PgCursor:
        rows = list(seq)
        self.sent += len(rows)
        return super().executemany(sql, rows)


def test_a_birth_per_gateway_is_a_few_statements_for_the_whole_batch_on_postgresql(
    pg_url: str,
) -> None:
    """A fleet's first minute: every heartbeat is a birth (unknown -> online)."""
    n = 300
    store = Store(pg_url)
    ids = [f"gw-{i:04d}" for i in range(n)]
    with store.conn:
        upsert_rows(store.conn, "gateways", [{"gateway_id": g} for g in ids])
    batch = Batch(
        gateways={g: SubjectUpdate(last_seen_at=T0, session=1, interval=60.0) for g in ids},
        transitions=[_t(GW, g, UNKNOWN, ON, 1) for g in ids],
    )
    assert isinstance(store.conn, db.PgConnection)
    conn = _Counting(store.conn)
    with conn:
        written = store.write(conn, batch)
    assert len(written.applied) == n
    assert conn.sent <= 5, conn.sent  # was 3 per gateway: 900
    rows = store.conn.execute(
        "SELECT count(*) FROM gateways WHERE status = 'online' AND last_seen_at = ? "
        "AND session = 1 AND heartbeat_interval = 60",
        (T0.isoformat(timespec="microseconds"),),
    ).fetchone()
    assert rows[0] == n
    (changes,) = store.conn.execute("SELECT count(*) FROM state_changes").fetchone()
    assert changes == n
    store.close()
