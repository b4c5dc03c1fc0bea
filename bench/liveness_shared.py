"""Detection delay at scale on PostgreSQL with several collectors on one `$share` group
(issue #14): the deployed path, end to end, on real processes.

    python -m bench.liveness_shared [--gateways 100000] [--interval 60] [--collectors 3]
    python -m bench.liveness_shared --alone --out bench/results/liveness_shared_alone.json

Starts its own Mosquitto and PostgreSQL (simulators/stack/postgres.py), enrols the gateways,
runs ``--collectors`` ``posfleet-collector run --db postgresql://… --share-group bench
--client-id …`` processes, and publishes every gateway's heartbeat at its interval over MQTT
(QoS 1, random phase; one publishing client: the broker does not check ids here). A random 1%
of the gateways stop during the second interval. This process watches the store for `down`
state changes (a poll of the new rows every 0.2 s) and notes when each became visible; the
detection delay of a stopped gateway is that moment minus its theoretical down deadline
(publish of its last heartbeat + interval + 2 x grace). Transport and commit are inside the
figure, and the poll adds up to 0.2 s: it is the delay a console reader sees, an upper bound
of the collectors' own. The state change's stored ``at`` gives a second figure.
bench/liveness_scale.py is the in-process, single-collector, SQLite counterpart; ``--alone``
runs one collector without a share group on the same path (the baseline of this harness).

Writes bench/results/liveness_shared.json.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.report import Figure, Headline, fmt, ratio, write_result
from collector.inventory import upsert_rows
from collector.liveness import LivenessConfig
from collector.process import CollectorProcess, proc_usage
from collector.store import db
from collector.store.migrate import ensure_schema
from collector.store.times import from_db
from simulators.broker import MosquittoProcess
from simulators.stack.postgres import PostgresServer
from telemetry import Heartbeat, Kind, encode, topic_for

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "liveness_shared.json"
GROUP = "bench"


def enrol(url: str, n: int) -> list[str]:
    ids = [f"gw-{i:06d}" for i in range(n)]
    conn = db.connect(url, timeout=60)
    try:
        ensure_schema(conn)
        with conn:
            upsert_rows(conn, "gateways", [{"gateway_id": g} for g in ids])
    finally:
        conn.close()
    return ids


class DownWatcher(threading.Thread):
    """Polls the store for new `down` state changes; notes when each was first visible."""

    def __init__(self, url: str, every: float = 0.2) -> None:
        super().__init__(name="down-watcher", daemon=True)
        self.url, self.every = url, every
        self.seen: dict[str, float] = {}  # gateway -> wall time first visible
        self.stored_at: dict[str, float] = {}  # gateway -> its state change's `at`
        self.stop = threading.Event()
        self.errors = 0

    def run(self) -> None:
        conn = db.connect(self.url, readonly=True, timeout=10)
        last = 0
        while not self.stop.wait(self.every):
            try:
                rows = conn.execute(
                    "SELECT id, subject_id, at FROM state_changes WHERE id > ? "
                    "AND subject_type = 'gateway' AND to_status = 'down' ORDER BY id",
                    (last,),
                ).fetchall()
                conn.rollback()
            except db.Error:
                self.errors += 1
                conn.close()
                conn = db.connect(self.url, readonly=True, timeout=10)
                continue
            now = time.time()
            for rid, gid, at in rows:
                last = max(last, int(rid))
                self.seen.setdefault(str(gid), now)
                self.stored_at.setdefault(str(gid), from_db(str(at)).timestamp())
        conn.close()


def feed(
    port: int, ids: list[str], interval: float, stopped: set[str], rng: random.Random
) -> tuple[dict[str, float], int, float]:
    """Heartbeats for 4 intervals; returns each gateway's last publish (wall), count, max lag."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-feeder")
    client.max_inflight_messages_set(2000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    phase = {g: rng.uniform(0, interval) for g in ids}
    stop_after = {g: interval + rng.uniform(0, interval) for g in stopped}
    seq = dict.fromkeys(ids, 0)
    last: dict[str, float] = {}
    schedule = [(phase[g], g) for g in ids]
    heapq.heapify(schedule)
    start = time.monotonic()
    end = start + 4 * interval
    sent, lag_max = 0, 0.0
    while schedule:
        due, gid = schedule[0]
        now = time.monotonic()
        if start + due > now:
            time.sleep(min(start + due - now, 0.01))  # the schedule: heartbeats are timed
            continue
        heapq.heappop(schedule)
        if now > end:
            break
        lag_max = max(lag_max, now - (start + due))
        if gid in stopped and due >= stop_after[gid]:
            continue  # this one went silent
        hb = Heartbeat(gw=gid, ts=datetime.now(UTC), session=1, seq=seq[gid], interval=interval)
        seq[gid] += 1
        client.publish(topic_for(gid, Kind.HEARTBEAT), encode(hb), qos=1)
        last[gid] = time.time()
        sent += 1
        heapq.heappush(schedule, (due + interval, gid))
    client.loop_stop()
    client.disconnect()
    return last, sent, lag_max


def quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    q = statistics.quantiles(values, n=100) if len(values) > 1 else [values[0]] * 99
    return {
        "p50": round(statistics.median(values), 3),
        "p99": round(q[98], 3),
        "max": round(max(values), 3),
    }


def headline(r: dict[str, Any]) -> Headline:
    d = r.get("detection_delay_past_deadline_s", {})
    return Headline(
        [
            Figure("detected ÷ stopped", ratio(r.get("detected"), r.get("stopped")), "stopped"),
            Figure(
                "false downs ÷ gateways",
                ratio(r.get("false_downs"), r.get("gateways"), 4),
                "gateways",
            ),
            Figure(
                "feeder max lag ÷ interval",
                ratio(r.get("feeder_max_lag_s"), r.get("interval_s"), 3),
                "heartbeat interval",
            ),
        ],
        [
            Figure("gateways", fmt(r.get("gateways"))),
            Figure("collectors (share group, PostgreSQL)", fmt(r.get("collectors"))),
            Figure("heartbeat interval", fmt(r.get("interval_s"), "s")),
            Figure("heartbeats per second", fmt(r.get("feed_rate_per_s"))),
            Figure("delay past deadline p50 (seen in the store)", fmt(d.get("p50"), "s")),
            Figure("delay past deadline p99 (goal ≤ 1 s)", fmt(d.get("p99"), "s")),
            Figure("delay past deadline max", fmt(d.get("max"), "s")),
            Figure("collectors' CPU, % of one core", fmt(r.get("collectors_cpu_pct_of_one_core"))),
        ],
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gateways", type=int, default=100_000)
    ap.add_argument("--interval", type=float, default=60.0)
    ap.add_argument("--collectors", type=int, default=3)
    ap.add_argument("--stopped", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--alone",
        action="store_true",
        help="one collector without a share group (its liveness in memory): the baseline",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.alone:
        args.collectors = 1
    n, interval = args.gateways, args.interval
    rng = random.Random(args.seed)
    grace = LivenessConfig().grace(interval)
    work = Path(tempfile.mkdtemp(prefix="posfleet-bench-shared-"))
    collectors: list[CollectorProcess] = []
    with (
        MosquittoProcess(workdir=work / "mosquitto") as broker,
        PostgresServer() as pg,  # its own temp dir: the server user must enter it
    ):
        url = pg.url
        t0 = time.monotonic()
        ids = enrol(url, n)
        enrol_s = time.monotonic() - t0
        for i in range(args.collectors):
            collectors.append(
                CollectorProcess(
                    url,
                    broker.port,
                    log_path=work / f"collector{i + 1}.log",
                    args=[]
                    if args.alone
                    else ["--share-group", GROUP, "--client-id", f"bench-collector-{i + 1}"],
                ).start()
            )
        watcher = DownWatcher(url)
        watcher.start()
        stopped = set(rng.sample(ids, int(n * args.stopped)))
        cpu0 = [proc_usage(c.proc.pid)[0] if c.proc else 0.0 for c in collectors]
        print(
            f"feeding {n} gateways every {interval:.0f} s to {args.collectors} collectors; "
            f"{len(stopped)} will stop",
            flush=True,
        )
        t_feed = time.monotonic()
        last, sent, lag_max = feed(broker.port, ids, interval, stopped, rng)
        # Every stopped gateway's deadline has passed within the feed; give the last a margin.
        deadline = time.monotonic() + 2 * grace + 30
        while time.monotonic() < deadline and not stopped <= set(watcher.seen):
            time.sleep(0.2)  # polled: the watcher thread reads the store
        wall = time.monotonic() - t_feed
        cpu = sum(
            proc_usage(c.proc.pid)[0] - c0 for c, c0 in zip(collectors, cpu0, strict=True) if c.proc
        )
        alive = [c.alive() for c in collectors]
        watcher.stop.set()
        watcher.join(10)
        for c in collectors:
            c.stop()

    seen = watcher.seen
    delays = sorted(seen[g] - (last[g] + interval + 2 * grace) for g in stopped if g in seen)
    stored = sorted(
        watcher.stored_at[g] - (last[g] + interval + 2 * grace) for g in stopped if g in seen
    )
    false_downs = sorted(set(seen) - stopped)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores",
        "loadavg_end": list(os.getloadavg()),
        # The code measured, when it is not this checkout's commit (e.g. two branches merged
        # for a trial): POSFLEET_BENCH_CODE="share14@23e4dba + ha14@abc1234".
        "code": os.environ.get("POSFLEET_BENCH_CODE"),
        "db": "postgresql",
        "collectors": args.collectors,
        "share_group": not args.alone,
        "gateways": n,
        "interval_s": interval,
        "grace_s": grace,
        "enrol_s": round(enrol_s, 1),
        "heartbeats_fed": sent,
        "feed_rate_per_s": round(sent / (4 * interval), 1),
        "feeder_max_lag_s": round(lag_max, 3),
        "stopped": len(stopped),
        "detected": sum(1 for g in stopped if g in seen),
        "missed": sum(1 for g in stopped if g not in seen),
        "false_downs": len(false_downs),
        "collectors_alive_at_end": alive,
        "watcher_errors": watcher.errors,
        "detection_delay_past_deadline_s": quantiles(delays),
        "stored_at_past_deadline_s": quantiles(stored),
        "collectors_cpu_pct_of_one_core": round(100 * cpu / wall, 1),
        "goals": {"p99_past_deadline_s": 1.0},
    }
    write_result(args.out, result, headline)
    d = result["detection_delay_past_deadline_s"]
    print(
        f"{n} gateways, {args.collectors} collectors on PostgreSQL: {len(stopped)} stopped, "
        f"detected {result['detected']}, false {len(false_downs)}; delay past deadline p50 "
        f"{d['p50']} s, p99 {d['p99']} s, max {d['max']} s (goal p99 <= 1 s)"
    )


if __name__ == "__main__":
    main()
