"""Collector ingest rate against a bare paho subscriber on the same broker, same run;
and the detection delay past the deadline for a hung gateway.

Both subscribers drain the same backlog of QoS 1 heartbeats that Mosquitto queued for their
persistent session while they were away, so the publisher's speed is out of the picture.

    .venv/bin/python bench/ingest.py [--gateways 1000] [--per-gateway 50]

Writes bench/results/ingest.json. Ratio = collector rate / bare subscriber rate (the median
of ``--rounds`` interleaved rounds; every round's ratio is kept), where the
collector validates, decides liveness, runs the alert engine and commits every message to
SQLite; the bare subscriber only counts.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.report import Figure, Headline, fmt, get, write_result
from collector.config import load_config
from collector.inventory import upsert_rows
from collector.service import Collector
from collector.store.sqlite import SqliteStore
from simulators.broker import MosquittoProcess
from simulators.stack.single_gateway import TestGateway

ROOT = Path(__file__).resolve().parent.parent

RESULTS = ROOT / "bench" / "results" / "ingest.json"


def publish(port: int, gateways: int, per: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "_publisher.py"), str(port), str(gateways), str(per)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    if proc.stdout.readline().strip() != b"ready":
        raise SystemExit("publisher failed to start")
    return proc


def go(proc: subprocess.Popen[bytes]) -> float:
    assert proc.stdin is not None
    t0 = time.monotonic()
    proc.stdin.write(b"go\n")
    proc.stdin.flush()
    return t0


def enrol(db: Path, ids: list[str]) -> None:
    """Only gateways in the inventory are tracked (collector/enrolment.py)."""
    store = SqliteStore(db)
    with store.conn:
        upsert_rows(store.conn, "gateways", [{"gateway_id": g} for g in ids])
    store.close()


def _backlog(port: int, gateways: int, per: int) -> None:
    """Publish the burst while the subscriber is away: the broker queues it for its session."""
    pub = publish(port, gateways, per)
    go(pub)
    if pub.wait(300) != 0:
        raise SystemExit("publisher failed")


def forget(port: int, client_id: str) -> None:
    """End a persistent session: left alone it would queue every later round's backlog."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    c.connect("127.0.0.1", port)
    c.loop_start()
    _wait(c.is_connected)
    c.disconnect()
    c.loop_stop()


def bare_rate(port: int, gateways: int, per: int) -> dict[str, float]:
    """Ceiling: a paho subscriber that only counts, draining the same queued backlog."""
    total = gateways * per
    count = 0
    last = 0.0
    done = threading.Event()
    subscribed = threading.Event()

    first = 0.0

    def on_message(_c: object, _u: object, _m: object) -> None:
        nonlocal count, last, first
        count += 1
        last = time.monotonic()
        if count == 1:
            first = last
        if count >= total:
            done.set()

    def client() -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare", clean_session=False)
        c.on_message = on_message
        c.on_subscribe = lambda *a: subscribed.set()
        return c

    c = client()
    c.connect("127.0.0.1", port)
    c.subscribe("posfleet/v1/#", qos=1)
    c.loop_start()
    subscribed.wait(10)
    c.disconnect()
    c.loop_stop()
    _backlog(port, gateways, per)
    c = client()
    c.connect("127.0.0.1", port)
    c.loop_start()
    ok = done.wait(300)
    c.disconnect()
    c.loop_stop()
    forget(port, "bench-bare")
    if not ok:
        raise SystemExit(f"bare subscriber saw only {count}/{total}")
    # Both rates run from the first message received to the last one handled.
    return {"messages": total, "seconds": last - first, "rate": total / (last - first)}


def collector_rate(port: int, db: Path, gateways: int, per: int) -> dict[str, float]:
    """The collector draining the same backlog: validation, liveness, alerts, SQLite commits."""
    total = gateways * per
    enrol(db, [f"gw-{g:05d}" for g in range(gateways)])  # bench/_publisher.py's ids
    settings = load_config(
        db=db, broker_port=port, metrics_host="127.0.0.1", metrics_port=0, client_id="bench-coll"
    )
    col = Collector(settings).start()  # creates the persistent session, then goes away
    _wait(lambda: col.processor.connected)
    col.stop()
    _backlog(port, gateways, per)
    t0 = time.monotonic()
    col = Collector(settings).start()
    get = col.registry.get_sample_value
    while (get("posfleet_collector_messages_total", {"kind": "heartbeat"}) or 0) < total:
        if time.monotonic() - t0 > 600:
            raise SystemExit("collector did not ingest the backlog in 600 s")
        time.sleep(0.005)
    done = time.monotonic()
    elapsed = done - t0
    first = col.processor.first_message_mono or t0
    lat_sum = get("posfleet_collector_ingest_latency_seconds_sum") or 0.0
    lat_n = get("posfleet_collector_ingest_latency_seconds_count") or 1.0
    col.stop()
    forget(port, "bench-coll")
    return {
        "messages": total,
        "seconds_from_start": elapsed,
        "seconds": done - first,
        "rate": total / (done - first),
        "mean_ingest_latency_s": lat_sum / lat_n,
    }


def _wait(cond: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.01)


def detection_delay(port: int, db: Path, trials: int = 5) -> dict[str, object]:
    """Hung gateways (connection alive, heartbeats stop): down seen vs the theoretical deadline."""
    enrol(db, [f"gw-hang-{i}" for i in range(trials)])
    settings = load_config(
        db=db, broker_port=port, metrics_host="127.0.0.1", metrics_port=0, client_id="bench-det"
    )
    col = Collector(settings).start()
    interval = 1.0
    grace = col.tracker.config.grace(interval)
    delays = []
    for i in range(trials):
        gw = TestGateway(f"gw-hang-{i}", port, interval=interval).connect()
        conn = sqlite3.connect(db)
        try:
            while conn.execute(
                "SELECT status FROM gateways WHERE gateway_id=?", (gw.gateway_id,)
            ).fetchone() != ("online",):
                time.sleep(0.01)
            time.sleep(2 * interval)  # let a few heartbeats through (bench, not a test)
            gw.hang()
            while True:
                row = conn.execute(
                    "SELECT status, last_seen_at FROM gateways WHERE gateway_id=?",
                    (gw.gateway_id,),
                ).fetchone()
                if row[0] == "down":
                    seen = datetime.now(UTC)
                    break
                time.sleep(0.002)
            expected = datetime.fromisoformat(row[1]) + timedelta(seconds=interval + 2 * grace)
            delays.append((seen - expected).total_seconds())
        finally:
            conn.close()
            gw.close()
    col.stop()
    return {
        "interval_s": interval,
        "grace_s": grace,
        "delays_past_deadline_s": [round(d, 4) for d in delays],
        "max_s": round(max(delays), 4),
    }


def headline(r: dict[str, Any]) -> Headline:
    """The figures docs/benchmarks.md shows for this result (ratios first)."""
    return Headline(
        [
            Figure(
                "collector msg/s ÷ bare paho subscriber msg/s",
                fmt(r.get("ratio_collector_over_bare")),
                "bare subscriber, same broker, same backlog (goal ≥ 0.6)",
            )
        ],
        [
            Figure("collector", fmt(get(r, "collector.rate"), "msg/s", 2)),
            Figure("bare paho subscriber", fmt(get(r, "bare_paho_subscriber.rate"), "msg/s", 2)),
            Figure("messages", fmt(get(r, "collector.messages"))),
            Figure("mean ingest latency", fmt(get(r, "collector.mean_ingest_latency_s"), "s")),
            Figure(
                "hung gateway: down past its deadline, max",
                fmt(get(r, "hung_gateway_detection.max_s"), "s"),
            ),
        ],
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateways", type=int, default=2000)
    ap.add_argument("--per-gateway", type=int, default=25)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved bare/collector rounds")
    args = ap.parse_args()
    rounds = []
    with tempfile.TemporaryDirectory() as tmp, MosquittoProcess(workdir=Path(tmp) / "mq") as broker:
        # Interleaved rounds, the median ratio: one sample of each is at the mercy of
        # whatever else the machine does for those few seconds.
        for i in range(args.rounds):
            bare = bare_rate(broker.port, args.gateways, args.per_gateway)
            coll = collector_rate(
                broker.port, Path(tmp) / f"ingest-{i}.sqlite", args.gateways, args.per_gateway
            )
            rounds.append((bare, coll, coll["rate"] / bare["rate"]))
            print(
                f"round {i + 1}: bare {bare['rate']:.0f} msg/s, collector {coll['rate']:.0f} "
                f"msg/s, ratio {rounds[-1][2]:.3f}",
                flush=True,
            )
        det = detection_delay(broker.port, Path(tmp) / "detect.sqlite")
    bare, coll, ratio = sorted(rounds, key=lambda r: r[2])[len(rounds) // 2]
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores",
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "bare_paho_subscriber": bare,
        "collector": coll,
        "ratio_collector_over_bare": round(ratio, 3),
        "ratios_all_rounds": [round(r[2], 3) for r in rounds],
        "hung_gateway_detection": det,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    write_result(RESULTS, result, headline)
    print(
        f"ingest: collector {coll['rate']:.0f} msg/s vs bare paho {bare['rate']:.0f} msg/s "
        f"-> ratio {result['ratio_collector_over_bare']} (goal >= 0.6); "
        f"hung-gateway detection past deadline max {det['max_s']} s"
    )


if __name__ == "__main__":
    main()
