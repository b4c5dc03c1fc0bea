"""Bytes per gateway per day in the local SQLite store: raw telemetry vs hourly rollups.

Fills a real SQLite file (the store's schema) with a simulated fleet at the agent's default
publishing rates, measures table+index bytes with ``dbstat``, folds the rows with
``collector.store.retention`` and measures the rollups. Writes
``bench/results/store_size.json``.

    .venv/bin/python bench/store_size.py [--gateways 40] [--days 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import Figure, Headline, fmt, get, ratio, write_result
from collector.store.migrate import ensure_schema
from collector.store.retention import RetentionPolicy, apply_retention
from collector.store.times import to_db
from telemetry.codec import encode
from telemetry.models import Hardware, Heartbeat, Network

RESULTS = Path(__file__).parent / "results" / "store_size.json"

# Seconds between messages of each kind (agent defaults, docs/agent.md): a heartbeat
# every 120 s; network and hardware are published on change or at the latest hourly, here
# assumed every 15 minutes (a chatty site); firmware once a day is negligible.
PERIODS = {"heartbeat": 120, "network": 900, "hardware": 900}


def _payload(kind: str, gw: str, at: datetime, n: int) -> bytes:
    if kind == "heartbeat":
        return encode(
            Heartbeat(
                gw=gw,
                ts=at,
                session=3,
                seq=n,
                interval=120,
                uptime_s=86_400 + n * 120,
                load1=0.31 + (n % 7) / 10,
                mem_used_pct=41.5,
                disk_used_pct=63.2,
            )
        )
    if kind == "network":
        return encode(
            Network(
                gw=gw,
                ts=at,
                link="cellular",
                rsrp_dbm=-97,
                latency_ms=80 + n % 30,
                loss_pct=0.0,
                dns_ok=True,
                dns_ms=21.0,
            )
        )
    return encode(
        Hardware(
            gw=gw,
            ts=at,
            terminal=f"{gw}-t1",
            battery_pct=80 - n % 50,
            temperature_c=38.5,
            storage_used_pct=52.0,
            printer="ok",
            receipts_printed=n * 3,
            error_count=n // 40,
        )
    )


def _bytes(conn: sqlite3.Connection, *names: str) -> int:
    marks = ",".join("?" * len(names))
    row = conn.execute(
        f"SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN ({marks})", names
    ).fetchone()
    return int(row[0])


def headline(r: dict[str, Any]) -> Headline:
    """The figures docs/benchmarks.md shows for this result (ratios first)."""
    return Headline(
        [
            Figure(
                "hourly rollup bytes ÷ raw bytes, per gateway-day",
                ratio(
                    r.get("rollup_bytes_per_gateway_per_day"),
                    r.get("raw_bytes_per_gateway_per_day"),
                    3,
                ),
                "raw telemetry of the same fleet",
            )
        ],
        [
            Figure("raw", fmt(r.get("raw_bytes_per_gateway_per_day"), "B/gateway/day")),
            Figure(
                "hourly rollups", fmt(r.get("rollup_bytes_per_gateway_per_day"), "B/gateway/day")
            ),
            Figure(
                "steady state, 10,000 gateways (policy below)",
                fmt(r.get("steady_state_mb_for_10000_gateways"), "MB"),
            ),
            Figure(
                "policy",
                f"raw {fmt(get(r, 'policy.raw_keep_days'), 'd')}, rollups {fmt(get(r, 'policy.rollup_keep_days'), 'd')}",
            ),
            Figure("fold rate", fmt(r.get("fold_rows_per_s"), "rows/s")),
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gateways", type=int, default=40)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--raw-keep-days", type=float, default=3)
    parser.add_argument("--rollup-keep-days", type=float, default=90)
    args = parser.parse_args()

    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=args.days)
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "store.sqlite")
        ensure_schema(conn)
        began = time.monotonic()
        rows = []
        for kind, period in PERIODS.items():
            for g in range(args.gateways):
                gw = f"gw-{g:05d}"
                terminal = f"{gw}-t1" if kind == "hardware" else ""
                for n in range(int(args.days * 86_400 / period)):
                    at = start + timedelta(seconds=n * period + g)
                    rows.append(
                        (
                            gw,
                            terminal,
                            kind,
                            to_db(at),
                            to_db(at),
                            _payload(kind, gw, at, n).decode(),
                        )
                    )
        with conn:
            conn.executemany(
                "INSERT INTO telemetry (gateway_id, terminal_id, kind, received_at, device_ts,"
                " payload) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        gw_days = args.gateways * args.days
        raw = _bytes(conn, "telemetry", "telemetry_subject", "telemetry_received")
        fold_started = time.monotonic()
        # Fold everything: raw window 1 hour, measured "now" just after the last row.
        report = apply_retention(
            conn,
            end + timedelta(hours=1),
            RetentionPolicy(raw_keep=timedelta(hours=1), rollup_keep=timedelta(days=3650)),
        )
        fold_s = time.monotonic() - fold_started
        conn.execute("VACUUM")
        rollup = _bytes(conn, "telemetry_rollup", "telemetry_rollup_bucket")
        rollup_rows = conn.execute("SELECT COUNT(*) FROM telemetry_rollup").fetchone()[0]
        conn.close()

    raw_per_day = raw / gw_days
    rollup_per_day = rollup / gw_days
    steady = raw_per_day * args.raw_keep_days + rollup_per_day * args.rollup_keep_days
    result = {
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "gateways": args.gateways,
        "days": args.days,
        "messages_per_gateway_per_day": {k: 86_400 // p for k, p in PERIODS.items()},
        "raw_rows": len(rows),
        "raw_bytes_per_gateway_per_day": round(raw_per_day),
        "rollup_rows": rollup_rows,
        "rollup_bytes_per_gateway_per_day": round(rollup_per_day),
        "fold_rows_per_s": round(report.raw_rows_folded / fold_s),
        "policy": {"raw_keep_days": args.raw_keep_days, "rollup_keep_days": args.rollup_keep_days},
        "steady_state_bytes_per_gateway": round(steady),
        "steady_state_mb_for_10000_gateways": round(steady * 10_000 / 1e6, 1),
        "without_retention_mb_per_year_for_10000_gateways": round(
            raw_per_day * 365 * 10_000 / 1e6, 1
        ),
        "elapsed_s": round(time.monotonic() - began, 1),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    write_result(RESULTS, result, headline)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
