"""Liveness at scale: 100,000 gateways fed in-process at their heartbeat rate, 1% stopped.

    .venv/bin/python bench/liveness_scale.py [--gateways 100000] [--interval 30]

The real processing path runs on its own thread (decode, liveness heap, SQLite batch writes,
the alert engine), with the system clock, fed by a thread that publishes each gateway's
heartbeats at its interval (no MQTT: this isolates the collector's own scheduling). A random
1% of gateways stop beating during the second interval. For each of them, the detection
delay is the moment its `down` transition was processed minus its theoretical down deadline
(receipt of its last heartbeat + interval + 2 x grace). Memory: the liveness tracker's own
allocations per gateway (tracemalloc) and the whole process's RSS growth per gateway.
Writes bench/results/liveness_scale.json.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import sqlite3
import statistics
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from prometheus_client import CollectorRegistry

from bench.report import Figure, Headline, fmt, ratio, write_result
from collector.alerts.config import AlertSettings
from collector.alerts.listener import build_listener
from collector.ingest import Item, LinkEvent, Received
from collector.inventory import upsert_rows
from collector.liveness import LivenessConfig, LivenessTracker
from collector.metrics import CollectorMetrics
from collector.model import Liveness, Transition
from collector.processor import Processor
from collector.store.sqlite import SqliteStore
from telemetry import Heartbeat, Kind, encode, topic_for
from telemetry.models import LinkState

ROOT = Path(__file__).resolve().parent.parent

RESULTS = ROOT / "bench" / "results" / "liveness_scale.json"


class DownRecorder:
    """A listener that notes when each `down` was processed (monotonic)."""

    def __init__(self) -> None:
        self.down_at: dict[str, float] = {}

    def on_messages(
        self, conn: sqlite3.Connection, messages: Sequence[object], now: datetime
    ) -> None:
        pass

    def on_transitions(
        self, conn: sqlite3.Connection, transitions: Sequence[Transition], now: datetime
    ) -> None:
        mono = time.monotonic()
        for t in transitions:
            if t.to_status is Liveness.DOWN:
                self.down_at.setdefault(t.subject_id, mono)

    def tick(self, conn: sqlite3.Connection, now: datetime) -> None:
        pass


def tracker_bytes_per_gateway(n: int) -> float:
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    t = LivenessTracker()
    now, mono = datetime.now(UTC), time.monotonic()
    t.resume_all(now, mono)
    for i in range(n):
        gid = f"gw-{i:06d}"
        t.observe_status(gid, None, LinkState.ONLINE, 1, None, now, mono)
        t.observe_heartbeat(gid, None, 1, 0, 60.0, now, mono)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    size = sum(s.size_diff for s in after.compare_to(before, "filename"))
    del t
    return size / n


def headline(r: dict[str, Any]) -> Headline:
    """The figures docs/benchmarks.md shows for this result (ratios first)."""
    d = r.get("detection_delay_past_deadline_s", {})
    return Headline(
        [
            Figure(
                "detected ÷ stopped", ratio(r.get("detected"), r.get("stopped")), "gateways stopped"
            ),
            Figure(
                "false downs ÷ gateways",
                ratio(r.get("false_downs"), r.get("gateways"), 4),
                "gateways",
            ),
            Figure(
                "feeder max lag ÷ interval",
                ratio(r.get("feeder_max_lag_s"), r.get("interval_s"), 3),
                "heartbeat interval (how far the feed fell behind)",
            ),
        ],
        [
            Figure("gateways", fmt(r.get("gateways"))),
            Figure("heartbeat interval", fmt(r.get("interval_s"), "s")),
            Figure("delay past deadline p50", fmt(d.get("p50"), "s")),
            Figure("delay past deadline p99 (goal ≤ 1 s)", fmt(d.get("p99"), "s")),
            Figure("delay past deadline max", fmt(d.get("max"), "s")),
            Figure(
                "liveness tracker per gateway",
                fmt(r.get("liveness_tracker_bytes_per_gateway"), "B"),
            ),
            Figure(
                "process RSS per gateway (goal ≤ 2 KB)",
                fmt(r.get("process_rss_bytes_per_gateway"), "B"),
            ),
        ],
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateways", type=int, default=100_000)
    ap.add_argument("--interval", type=float, default=30.0)
    ap.add_argument("--stopped", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    n, interval = args.gateways, args.interval
    rng = random.Random(args.seed)
    tracker_bpg = tracker_bytes_per_gateway(n)

    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    tmp = tempfile.mkdtemp(prefix="posfleet-bench-")
    store = SqliteStore(Path(tmp) / "scale.sqlite")
    ids = [f"gw-{i:06d}" for i in range(n)]
    with store.conn:  # only gateways in the inventory are tracked (collector/enrolment.py)
        upsert_rows(store.conn, "gateways", [{"gateway_id": g} for g in ids])
    cfg = LivenessConfig()
    grace = cfg.grace(interval)
    with store.transaction() as conn:
        alerts = build_listener(conn, AlertSettings(), now=datetime.now(UTC))
    recorder = DownRecorder()
    inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()
    processor = Processor(
        store, LivenessTracker(cfg), CollectorMetrics(CollectorRegistry()), inbox,
        listeners=[alerts, recorder],
    )  # fmt: skip
    stop = threading.Event()
    worker = threading.Thread(target=processor.run, args=(stop,), daemon=True)
    worker.start()
    inbox.put(LinkEvent(True, datetime.now(UTC), time.monotonic()))

    stopped = set(rng.sample(ids, int(n * args.stopped)))
    # Each gateway beats at a random phase; the stopped ones stop at a random moment
    # during the second interval.
    phase = {g: rng.uniform(0, interval) for g in ids}
    stop_after = {g: interval + rng.uniform(0, interval) for g in stopped}
    last_beat: dict[str, float] = {}
    seq = dict.fromkeys(ids, 0)
    start = time.monotonic()
    schedule = sorted((phase[g], g) for g in ids)
    import heapq

    heapq.heapify(schedule)
    # Feed long enough that every stopped gateway is judged while the others still beat.
    end_feed = start + 4 * interval
    lag_max = 0.0
    sent = 0
    print(f"feeding {n} gateways every {interval:.0f} s; {len(stopped)} will stop", flush=True)
    while schedule:
        due, gid = schedule[0]
        now_m = time.monotonic()
        if start + due > now_m:
            time.sleep(min(start + due - now_m, 0.01))
            continue
        heapq.heappop(schedule)
        if now_m > end_feed:
            break
        lag_max = max(lag_max, now_m - (start + due))
        if gid in stopped and due >= stop_after[gid]:
            continue  # this one went silent
        hb = Heartbeat(gw=gid, ts=datetime.now(UTC), session=1, seq=seq[gid], interval=interval)
        seq[gid] += 1
        inbox.put(Received(topic_for(gid, Kind.HEARTBEAT), encode(hb), datetime.now(UTC), now_m))
        last_beat[gid] = now_m
        sent += 1
        heapq.heappush(schedule, (due + interval, gid))
    # Let every stopped gateway's deadline pass and be processed.
    wait_until = time.monotonic() + interval + 2 * grace + 5
    while time.monotonic() < wait_until and len(recorder.down_at) < len(stopped):
        time.sleep(0.2)
    rss1 = proc.memory_info().rss
    stop.set()
    worker.join(10)
    store.close()

    delays = sorted(
        recorder.down_at[g] - (last_beat[g] + interval + 2 * grace)
        for g in stopped
        if g in recorder.down_at
    )
    false_downs = sorted(set(recorder.down_at) - stopped)
    q = statistics.quantiles(delays, n=100) if len(delays) > 1 else [0.0] * 99
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores",
        "gateways": n,
        "interval_s": interval,
        "grace_s": grace,
        "heartbeats_fed": sent,
        "feed_rate_per_s": round(sent / (4 * interval), 1),
        "feeder_max_lag_s": round(lag_max, 4),
        "stopped": len(stopped),
        "detected": len(delays),
        "missed": len(stopped) - len(delays),
        "false_downs": len(false_downs),
        "detection_delay_past_deadline_s": {
            "p50": round(statistics.median(delays), 4) if delays else None,
            "p99": round(q[98], 4),
            "max": round(delays[-1], 4) if delays else None,
        },
        "liveness_tracker_bytes_per_gateway": round(tracker_bpg, 1),
        "process_rss_bytes_per_gateway": round((rss1 - rss0) / n, 1),
        "goals": {"p99_past_deadline_s": 1.0, "bytes_per_gateway": 2048},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    write_result(RESULTS, result, headline)
    d = result["detection_delay_past_deadline_s"]
    print(
        f"{n} gateways, {len(stopped)} stopped: detected {len(delays)}, missed "
        f"{result['missed']}, false {len(false_downs)}; delay past deadline p50 {d['p50']} s, "
        f"p99 {d['p99']} s, max {d['max']} s (goal p99 <= 1 s); tracker {tracker_bpg:.0f} B/gateway, "
        f"process RSS {result['process_rss_bytes_per_gateway']:.0f} B/gateway (goal <= 2048)"
    )


if __name__ == "__main__":
    main()
