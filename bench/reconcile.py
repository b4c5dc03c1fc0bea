"""A 100,000-terminal settlement file reconciled against the terminals' batches.

Fills a real SQLite store with one closed batch per terminal for one business day, written
by the collector's own transaction writer (``collector.store.transactions``), then imports
an acquirer's settlement CSV for that day with ``collector.reconcile.import_settlement``
(parse, store the settled figures, match, open cases, audit: one transaction) and times it.

Ceiling, same run, same file, same store: read the CSV with the csv module and insert its
rows into a bare table in one transaction (the I/O any reconciler has to do at least). The
ratio is ceiling time / reconcile time (1.0 would mean reconciling costs nothing beyond
reading and storing the file).

    .venv/bin/python -m bench.reconcile [--terminals 100000]

Writes bench/results/reconcile.json.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import Figure, Headline, fmt, get, write_result
from collector.actions import Actor, Role
from collector.inventory import upsert_rows
from collector.reconcile import import_settlement
from collector.store.sqlite import SqliteStore
from collector.store.transactions import TxnAggregate, write_transactions
from telemetry.models import BatchClose, Transactions

RESULTS = Path(__file__).parent / "results" / "reconcile.json"
DAY = datetime(2026, 11, 23, tzinfo=UTC)
HEADER = ["merchant", "terminal", "batch", "business_date", "count", "amount", "currency"]


def _seconds(v: Any) -> str:
    """Hundredths kept: 2.003 s is "2.00 s" (the report's fmt would say "2 s")."""
    return fmt(v, "s") if not isinstance(v, int | float) else f"{v:.2f} s"


def headline(r: dict[str, Any]) -> Headline:
    return Headline(
        ratios=[
            Figure(
                "reconcile vs bare read+insert of the same file",
                fmt(get(r, "ratio_vs_ceiling")),
                "csv read + one-transaction insert, same run",
            )
        ],
        figures=[
            Figure("terminals (rows in the file)", fmt(get(r, "terminals"))),
            Figure("reconcile, whole file", _seconds(get(r, "reconcile_s"))),
            Figure("goal", "≤ 10 s"),
            Figure("cases opened", fmt(get(r, "cases_opened"))),
        ],
    )


def _fill(store: SqliteStore, n: int, rng: random.Random) -> list[tuple[str, int, int]]:
    """n terminals (50 per gateway, 5 per site), each with one batch closed on DAY (Shanghai)."""
    gateways = [f"gw-{i // 50:05d}" for i in range(0, n, 50)]
    with store.transaction() as conn:
        upsert_rows(conn, "regions", [{"region_id": "east"}])
        upsert_rows(
            conn,
            "sites",
            [
                {"site_id": f"s-{i:05d}", "region_id": "east", "tz": "Asia/Shanghai"}
                for i in range(len(gateways))
            ],
        )
        upsert_rows(
            conn,
            "gateways",
            [
                {"gateway_id": g, "site_id": f"s-{i:05d}", "region_id": "east"}
                for i, g in enumerate(gateways)
            ],
        )
        upsert_rows(
            conn,
            "terminals",
            [
                {
                    "terminal_id": f"t-{i:06d}",
                    "gateway_id": gateways[i // 50],
                    "site_id": f"s-{i // 50:05d}",
                    "region_id": "east",
                }
                for i in range(n)
            ],
        )
    batches = []
    rows = []
    closed = DAY + timedelta(hours=14)  # 22:00 in Shanghai
    for i in range(n):
        count, amount = rng.randint(1, 400), rng.randint(100, 5_000_000)
        batches.append((f"t-{i:06d}", count, amount))
        ids = [f"B{i:07d}"]
        if i % 200 == 7:  # a second batch that day, which the acquirer will not settle
            ids.append(f"B{i:07d}b")
        for bid in ids:
            msg = Transactions(
                gw=gateways[i // 50],
                ts=closed,
                since=closed - timedelta(minutes=20),
                until=closed,
                batch=BatchClose(
                    id=bid, count=count, amount=amount, currency="CNY", closed_at=closed
                ),
            )
            rows.append(TxnAggregate(gateways[i // 50], f"t-{i:06d}", closed, msg))
    with store.transaction() as conn:
        write_transactions(conn, rows)
    return batches


def _file(batches: list[tuple[str, int, int]], rng: random.Random) -> tuple[bytes, int]:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(HEADER)
    differ = 0
    for i, (tid, count, amount) in enumerate(batches):
        if i % 200 == 7:  # its second batch is not in the file: missing in settlement
            differ += 1
        if rng.random() < 0.01:  # settled short (a duplicated refund, an operator's mistake)
            differ += 1
            amount -= rng.randint(1, min(amount, 50_000))
        w.writerow(
            [
                f"M-{i // 5:06d}",
                tid,
                f"B{i:07d}",
                DAY.date().isoformat(),
                count,
                f"{amount / 100:.2f}",
                "CNY",
            ]
        )
    for j in range(len(batches) // 500):  # settled, but no terminal reported the batch
        differ += 1
        w.writerow(
            [f"M-X{j:05d}", f"t-x{j:05d}", f"BX{j:05d}", DAY.date().isoformat(), 1, "1.00", "CNY"]
        )
    return out.getvalue().encode(), differ


def _ceiling(store: SqliteStore, data: bytes) -> float:
    started = time.perf_counter()
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    next(reader)
    rows = list(reader)
    with store.transaction() as conn:
        conn.execute(
            "CREATE TABLE ceiling (merchant TEXT, terminal TEXT, batch TEXT, day TEXT, n INTEGER, "
            "amount TEXT, currency TEXT)"
        )
        conn.executemany("INSERT INTO ceiling VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--terminals", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=16)
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "store.db")
        batches = _fill(store, args.terminals, rng)
        data, differ = _file(batches, rng)
        ceiling_s = _ceiling(store, data)
        started = time.perf_counter()
        result = import_settlement(
            store.conn,
            data,
            name="settlement-2026-11-23.csv",
            actor=Actor("bench", Role.OPERATOR),
            now=DAY + timedelta(days=1, hours=1),
        )
        reconcile_s = time.perf_counter() - started
        opened = sum(result.opened.values())
        store.close()
    if opened != differ:
        raise SystemExit(f"reconcile opened {opened} cases, the file has {differ} differences")
    out = {
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "terminals": args.terminals,
        "file_bytes": len(data),
        "rows": result.rows,
        "differences_in_file": differ,
        "cases_opened": opened,
        "cases_by_kind": result.opened,
        "reconcile_s": round(reconcile_s, 3),
        "ceiling_s": round(ceiling_s, 3),
        "ratio_vs_ceiling": round(ceiling_s / reconcile_s, 3),
        "rows_per_s": round(result.rows / reconcile_s),
        "elapsed_s": round(time.monotonic() - began, 1),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_result(RESULTS, out, headline)
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
