"""What shared liveness costs (issue #14): one collector's processing path on PostgreSQL,
alone (the in-process tracker) and in a share group (liveness rows locked, loaded and
written back in every batch, deadlines claimed from the store).

    python -m bench.shared_liveness [--gateways 2000] [--per-gateway 25] [--rounds 3]

In-process, no broker: the same pre-encoded heartbeats are handed to ``Processor.process``
in batches of ``batch_max`` (5,000), the modes interleaved round by round on fresh
databases of one PostgreSQL server this script starts. Rate = messages / time spent in
``process``; rows written per message from ``pg_stat_database`` (inserted + updated +
deleted, stats flushed first). No alert engine: the figure is liveness and the store only.
Writes bench/results/shared_liveness.json.
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.report import Figure, Headline, write_result
from collector.ingest import LinkEvent, Received
from collector.inventory import upsert_rows
from collector.liveness import LivenessConfig, LivenessTracker
from collector.metrics import CollectorMetrics
from collector.processor import Processor
from collector.store import db
from collector.store.shared import SharedLiveness, SharedSettings
from collector.store.store import Store
from simulators.stack.postgres import PostgresServer
from telemetry import Heartbeat, Kind, encode, topic_for

ROOT = Path(__file__).resolve().parent.parent


def _messages(gateways: int, per: int) -> list[Received]:
    now = datetime.now(UTC)
    out = []
    for seq in range(per):
        for g in range(gateways):
            gw = f"gw-{g:06d}"
            hb = Heartbeat(gw=gw, ts=now, session=1, seq=seq, interval=60)
            out.append(Received(topic_for(gw, Kind.HEARTBEAT), encode(hb), now, time.monotonic()))
    return out


def _rows_written(url: str) -> int:
    """Rows inserted, updated and deleted in the database so far, as the statistics say
    once every backend that wrote has exited (a backend flushes its counts as it exits)."""
    conn = db.connect(url)
    try:
        last = -1
        while True:
            row = conn.execute(
                "SELECT tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
                "WHERE datname = current_database()"
            ).fetchone()
            conn.commit()
            if int(row[0]) == last:
                return last
            last = int(row[0])
            time.sleep(0.5)  # a benchmark waiting for the statistics collector, not a test
    finally:
        conn.close()


def one_round(url: str, mode: str, gateways: int, messages: list[Received]) -> dict[str, Any]:
    store = Store(url)
    with store.conn:
        upsert_rows(store.conn, "sites", [{"site_id": "S1", "region_id": "north"}])
        upsert_rows(
            store.conn,
            "gateways",
            [
                {"gateway_id": f"gw-{g:06d}", "site_id": "S1", "region_id": "north"}
                for g in range(gateways)
            ],
        )
    shared = None
    if mode == "shared":
        shared = SharedLiveness(LivenessConfig(), SharedSettings("bench-member"))
        with store.transaction() as conn:
            shared.seed(conn)
    p = Processor(
        store,
        LivenessTracker(),
        CollectorMetrics(CollectorRegistry()),
        queue.SimpleQueue(),
        shared=shared,
    )
    p.process([LinkEvent(True, datetime.now(UTC), time.monotonic())])
    store.close()  # its backend's statistics are flushed as it exits
    before = _rows_written(url)
    store = p.store = Store(url)
    batch = p.settings.batch_max
    spent = 0.0
    for i in range(0, len(messages), batch):
        chunk = messages[i : i + batch]
        t0 = time.perf_counter()
        p.process(chunk)
        spent += time.perf_counter() - t0
    online = store.status_counts().get("online", 0)
    store.close()
    rows = _rows_written(url) - before
    return {
        "mode": mode,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "messages": len(messages),
        "seconds": round(spent, 3),
        "msg_per_s": round(len(messages) / spent, 1),
        "rows_written_per_msg": round(rows / len(messages), 3),
        "gateways_online": online,
    }


def headline(result: dict[str, Any]) -> Headline:
    s = result["summary"]
    return Headline(
        ratios=[
            Figure(
                "shared / alone, msg/s (median of the rounds' ratios)",
                f"{s['ratio_median_of_rounds']:.2f}",
                "one collector alone on PostgreSQL",
            )
        ],
        figures=[
            Figure("alone msg/s", f"{s['alone_msg_per_s']:.0f}"),
            Figure("shared msg/s", f"{s['shared_msg_per_s']:.0f}"),
            Figure("alone rows written/msg", f"{s['alone_rows_per_msg']:.3f}"),
            Figure("shared rows written/msg", f"{s['shared_rows_per_msg']:.3f}"),
        ],
    )


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateways", type=int, default=2000)
    ap.add_argument("--per-gateway", type=int, default=25)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/shared_liveness.json")
    args = ap.parse_args(argv)
    runs: list[dict[str, Any]] = []
    with PostgresServer() as server:
        for r in range(args.rounds):
            for mode in ("alone", "shared") if r % 2 == 0 else ("shared", "alone"):
                url = server.create_database(f"bench_{mode}_{r}")
                # Received now: a receipt minutes old would be past its deadline already.
                messages = _messages(args.gateways, args.per_gateway)
                run = one_round(url, mode, args.gateways, messages)
                print(run, flush=True)
                runs.append(run)
                server.drop_database(f"bench_{mode}_{r}")

    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in runs if r["mode"] == mode)

    summary = {
        "alone_msg_per_s": med("alone", "msg_per_s"),
        "shared_msg_per_s": med("shared", "msg_per_s"),
        "alone_rows_per_msg": med("alone", "rows_written_per_msg"),
        "shared_rows_per_msg": med("shared", "rows_written_per_msg"),
    }
    summary["ratio"] = summary["shared_msg_per_s"] / summary["alone_msg_per_s"]
    # Each round's pair ran back to back: their ratio is less disturbed by the machine's load.
    pairs = [
        next(r for r in runs[i : i + 2] if r["mode"] == "shared")["msg_per_s"]
        / next(r for r in runs[i : i + 2] if r["mode"] == "alone")["msg_per_s"]
        for i in range(0, len(runs), 2)
    ]
    summary["ratio_per_round"] = [round(x, 3) for x in pairs]
    summary["ratio_median_of_rounds"] = statistics.median(pairs)
    result = {
        "bench": "shared_liveness",
        "gateways": args.gateways,
        "per_gateway": args.per_gateway,
        "rounds": args.rounds,
        "runs": runs,
        "summary": summary,
    }
    write_result(args.out, result, headline)
    print(summary)


if __name__ == "__main__":
    main()
