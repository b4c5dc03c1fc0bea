"""Retention against a real store, on each engine (``store_url``)."""

from __future__ import annotations

import json
import random
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from collector.store import db
from collector.store.migrate import ensure_schema
from collector.store.retention import (
    RetentionPolicy,
    apply_retention,
    hour_bucket,
    metric_values,
)
from collector.store.times import to_db

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
POLICY = RetentionPolicy(raw_keep=timedelta(days=1), rollup_keep=timedelta(days=3), chunk_rows=7)


@pytest.fixture
def conn(store_url: str) -> Iterator[db.Connection]:
    c = db.connect(store_url)
    ensure_schema(c)
    yield c
    c.close()


def _insert(conn: db.Connection, gw: str, at: datetime, payload: dict[str, object]) -> None:
    with conn:
        conn.execute(
            "INSERT INTO telemetry (gateway_id, kind, received_at, device_ts, payload)"
            " VALUES (?, 'heartbeat', ?, ?, ?)",
            (gw, to_db(at), to_db(at), json.dumps(payload)),
        )


def _fill(conn: db.Connection, rng: random.Random) -> list[tuple[str, str, str]]:
    """Rows every 10 minutes for 4 days, for 3 gateways; returns (gw, received_at, payload)."""
    rows: list[tuple[str, str, str]] = []
    for minutes in range(0, 4 * 24 * 60, 10):
        at = NOW - timedelta(minutes=minutes)
        for gw in ("gw-a", "gw-b", "gw-c"):
            payload: dict[str, object] = {
                "v": 1,
                "gw": gw,
                "seq": minutes,
                "load1": round(rng.uniform(0, 4), 3),
                "mem_used_pct": rng.randint(10, 90),
                "dns_ok": rng.random() < 0.9,
            }
            rows.append((gw, to_db(at), json.dumps(payload)))
    with conn:  # one transaction: thousands of commits would cost seconds of fsync
        conn.executemany(
            "INSERT INTO telemetry (gateway_id, kind, received_at, device_ts, payload)"
            " VALUES (?, 'heartbeat', ?, ?, ?)",
            [(gw, at, at, payload) for gw, at, payload in rows],
        )
    return rows


def _expected_rollups(
    rows: list[tuple[str, str, str]], raw_before: str, rollup_before: str
) -> dict[tuple[str, str, str], tuple[int, float, float, float]]:
    acc: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for gw, received_at, payload in rows:
        if received_at >= raw_before:
            continue
        bucket = hour_bucket(received_at)
        if bucket < rollup_before:
            continue
        for metric, value in metric_values(json.loads(payload)).items():
            acc[(gw, metric, bucket)].append(value)
    return {k: (len(v), min(v), sum(v), max(v)) for k, v in acc.items()}


def _rollups(
    conn: db.Connection,
) -> dict[tuple[str, str, str], tuple[int, float, float, float]]:
    return {
        (gw, metric, bucket): (n, lo, total, hi)
        for gw, metric, bucket, n, lo, total, hi in conn.execute(
            "SELECT gateway_id, metric, bucket_start, n, min, sum, max FROM telemetry_rollup"
        )
    }


def test_old_rows_become_hourly_rollups_equal_to_the_rows_they_replace(
    conn: db.Connection,
) -> None:
    rows = _fill(conn, random.Random(8))
    report = apply_retention(conn, NOW, POLICY)
    raw_before = "2026-11-21T09:00:00.000000+00:00"
    rollup_before = to_db(NOW - POLICY.rollup_keep)
    old = [r for r in rows if r[1] < raw_before]
    assert report.raw_rows_folded == len(old)
    kept = [r[0] for r in conn.execute("SELECT MIN(received_at) FROM telemetry")]
    assert kept == [min(r[1] for r in rows if r[1] >= raw_before)]
    assert conn.execute("SELECT COUNT(*) FROM telemetry").fetchone()[0] == len(rows) - len(old)
    want = _expected_rollups(rows, raw_before, rollup_before)
    got = _rollups(conn)
    assert got.keys() == want.keys()
    for key, (n, lo, total, hi) in want.items():
        assert got[key][0] == n
        assert got[key][1:] == pytest.approx((lo, total, hi))
    assert {k[1] for k in got} == {"load1", "mem_used_pct", "dns_ok"}
    assert report.rollup_rows_deleted > 0


def test_running_again_changes_nothing_and_later_runs_merge_into_the_same_hour(
    conn: db.Connection,
) -> None:
    _fill(conn, random.Random(3))
    apply_retention(conn, NOW, POLICY)
    before = _rollups(conn)
    again = apply_retention(conn, NOW, POLICY)
    assert again.raw_rows_folded == 0
    assert _rollups(conn) == before
    # Ten minutes later the raw window has not crossed an hour: nothing new folds.
    assert apply_retention(conn, NOW + timedelta(minutes=10), POLICY).raw_rows_folded == 0
    # One hour later exactly one more hour of the 3 gateways (6 rows each) folds.
    later = apply_retention(conn, NOW + timedelta(hours=1), POLICY)
    assert later.raw_rows_folded == 18


def test_a_failure_mid_fold_leaves_rows_and_rollups_untouched(
    conn: db.Connection,
) -> None:
    _fill(conn, random.Random(5))
    raw_count = conn.execute("SELECT COUNT(*) FROM telemetry").fetchone()[0]
    failure: type[Exception]
    if db.dialect(conn) == "sqlite":
        conn.execute(
            "CREATE TRIGGER boom BEFORE DELETE ON telemetry BEGIN SELECT RAISE(ABORT, 'disk'); END"
        )
        failure = sqlite3.IntegrityError
    else:
        import psycopg

        conn.execute(
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER boom BEFORE DELETE ON telemetry FOR EACH ROW EXECUTE FUNCTION boom()"
        )
        conn.commit()
        failure = psycopg.errors.RaiseException
    with pytest.raises(failure, match="disk"):
        apply_retention(conn, NOW, POLICY)
    assert conn.execute("SELECT COUNT(*) FROM telemetry").fetchone()[0] == raw_count
    assert conn.execute("SELECT COUNT(*) FROM telemetry_rollup").fetchone()[0] == 0


def test_retention_refuses_to_run_inside_the_callers_transaction(
    conn: db.Connection,
) -> None:
    _insert(conn, "gw-a", NOW - timedelta(days=2), {"load1": 1.0})
    conn.execute("UPDATE telemetry SET kind = kind")
    assert conn.in_transaction
    with pytest.raises(RuntimeError, match="between transactions"):
        apply_retention(conn, NOW, POLICY)
    conn.rollback()
