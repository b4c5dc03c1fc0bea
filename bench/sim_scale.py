"""10,000 live gateways from one process on one selector loop, against a real Mosquitto.

    .venv/bin/python bench/sim_scale.py [--gateways 10000] [--heartbeat 30] [--seconds 60]

Reports connect time, the sustained publish rate with every publish acknowledged (QoS 1),
publish errors (paho returns them as codes, all counted), the simulator's CPU share and RSS,
and the broker's. With ``--collector`` a collector runs in a separate process on the same
broker and the report adds how many gateways it saw online and its CPU and RSS.
Writes bench/results/sim_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench.report import Figure, Headline, fmt, get, ratio, write_result
from collector.process import CollectorProcess, free_port
from simulators.broker import MosquittoProcess
from simulators.fleetmodel import generate
from simulators.gateways import Fleet

ROOT = Path(__file__).resolve().parent.parent

RESULTS = ROOT / "bench" / "results" / "sim_scale.json"


def _online(metrics_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return 0
    total = 0
    for line in text.splitlines():
        if line.startswith("posfleet_gateways{") and 'status="online"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def detection(fleet: Fleet, db: Path, n: int) -> dict[str, object]:
    """Kill n gateways and hang n others in the live fleet; time until the collector's store
    shows each `down`: for kills from the kill (will + 2 s hold), for hangs past the deadline."""
    import random
    import sqlite3

    rng = random.Random(7)
    ids = rng.sample(sorted(fleet.gateways), 2 * n)
    killed, hung = ids[:n], ids[n:]
    t_kill = time.monotonic()
    for gid in killed:
        fleet.kill(gid)
    for gid in hung:
        fleet.hang(gid)
    last_beat = {gid: fleet.gateways[gid].last_beat for gid in hung}
    seen: dict[str, float] = {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    marks = ",".join("?" * len(ids))
    deadline = time.monotonic() + 300
    while len(seen) < len(ids) and time.monotonic() < deadline:
        fleet.run_once(0.05)
        now = time.monotonic()
        for (gid,) in conn.execute(
            f"SELECT gateway_id FROM gateways WHERE status='down' AND gateway_id IN ({marks})", ids
        ):
            seen.setdefault(gid, now)
    conn.close()
    interval = next(iter(fleet.gateways.values())).interval
    grace = min(max(0.25 * interval, 1.0), 30.0)  # the collector's default grace rule

    def stats(xs: list[float]) -> dict[str, float | None]:
        xs = sorted(xs)
        if not xs:
            return {"p50": None, "p99": None, "max": None}
        return {"p50": round(xs[len(xs) // 2], 3), "p99": round(xs[int(0.99 * (len(xs) - 1))], 3),
                "max": round(xs[-1], 3)}  # fmt: skip

    return {
        "killed": n,
        "killed_detected": sum(1 for g in killed if g in seen),
        "kill_to_down_s": stats([seen[g] - t_kill for g in killed if g in seen]),
        "hung": n,
        "hung_detected": sum(1 for g in hung if g in seen),
        "hang_down_past_deadline_s": stats(
            [seen[g] - (last_beat[g] + interval + 2 * grace) for g in hung if g in seen]
        ),
        "poll_resolution_s": 0.05,
    }


def headline(r: dict[str, Any]) -> Headline:
    """The figures docs/benchmarks.md shows for this result (ratios first)."""
    det = r.get("detection_at_scale", {})
    return Headline(
        [
            Figure(
                "collector saw online ÷ gateways",
                ratio(r.get("collector_online_seen"), r.get("gateways")),
                "gateways simulated",
            ),
            Figure(
                "killed detected ÷ killed",
                ratio(det.get("killed_detected"), det.get("killed")),
                "gateways killed",
            ),
            Figure(
                "hung detected ÷ hung",
                ratio(det.get("hung_detected"), det.get("hung")),
                "gateways hung",
            ),
        ],
        [
            Figure(
                "gateways (+ PIN pads)", f"{fmt(r.get('gateways'))} (+ {fmt(r.get('terminals'))})"
            ),
            Figure("connect all", fmt(r.get("connect_all_s"), "s")),
            Figure(
                "publish rate, every publish acknowledged",
                fmt(r.get("publish_rate_per_s"), "msg/s"),
            ),
            Figure("publish errors", fmt(r.get("publish_errors"))),
            Figure(
                "simulator CPU / RSS",
                f"{fmt(r.get('simulator_cpu_pct_of_one_core'), '%')} of a core / {fmt(r.get('simulator_rss_mb'), 'MB')}",
            ),
            Figure(
                "collector CPU / RSS",
                f"{fmt(r.get('collector_cpu_pct_of_one_core'), '%')} of a core / {fmt(r.get('collector_rss_mb'), 'MB')}",
            ),
            Figure(
                "Mosquitto CPU / RSS",
                f"{fmt(r.get('mosquitto_cpu_pct_of_one_core'), '%')} of a core / {fmt(r.get('mosquitto_rss_mb'), 'MB')}",
            ),
            Figure("killed → down, p50", fmt(get(det, "kill_to_down_s.p50"), "s")),
            Figure(
                "hung → down past deadline, max",
                fmt(get(det, "hang_down_past_deadline_s.max"), "s"),
            ),
        ],
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateways", type=int, default=10_000)
    ap.add_argument("--heartbeat", type=float, default=30.0)
    ap.add_argument("--seconds", type=float, default=60.0, help="steady-state measurement")
    ap.add_argument("--collector", action="store_true", help="also run a collector process")
    ap.add_argument("--faults", type=int, default=50, help="gateways killed, and as many hung")
    args = ap.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    model = generate(args.gateways, seed=1)
    me = psutil.Process()
    with tempfile.TemporaryDirectory() as tmp, MosquittoProcess(workdir=Path(tmp) / "mq") as broker:
        mq = psutil.Process(broker.proc.pid)  # type: ignore[union-attr]
        coll = None
        metrics_port = free_port()
        if args.collector:
            inv = Path(tmp) / "inv"
            model.export_inventory(inv)
            coll = CollectorProcess(
                Path(tmp) / "c.sqlite",
                broker.port,
                inventory=inv,
                log_path=Path(tmp) / "collector.log",
                metrics_port=metrics_port,
            ).start(timeout=60)
        fleet = Fleet(model.gateways, "127.0.0.1", broker.port, interval=args.heartbeat,
                      keepalive=60)  # fmt: skip
        t0 = time.monotonic()
        fleet.connect_all()
        while sum(1 for g in fleet.gateways.values() if g.client and g.client.is_connected()) < (
            args.gateways
        ):
            fleet.run_once(0.05)
            if time.monotonic() - t0 > 600:
                raise SystemExit("not all gateways connected within 600 s")
        connect_s = time.monotonic() - t0
        # Steady state: heartbeats (and the terminals' heartbeats) at their interval.
        for _ in range(int(args.heartbeat / 0.05) + 1):  # one interval to spread the phases
            fleet.run_once(0.05)
        cpu0, mq_cpu0 = me.cpu_times(), mq.cpu_times()
        pub0, t1 = fleet.counters.published, time.monotonic()
        while time.monotonic() - t1 < args.seconds:
            fleet.run_once(0.05)
        elapsed = time.monotonic() - t1
        cpu1, mq_cpu1 = me.cpu_times(), mq.cpu_times()
        published = fleet.counters.published - pub0
        result: dict[str, object] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{os.cpu_count()} cores",
            "gateways": args.gateways,
            "terminals": sum(len(g.terminals) for g in model.gateways),
            "heartbeat_s": args.heartbeat,
            "connect_all_s": round(connect_s, 1),
            "steady_seconds": round(elapsed, 1),
            "publish_rate_per_s": round(published / elapsed, 1),
            "publish_errors": fleet.counters.publish_errors,
            "simulator_cpu_pct_of_one_core": round(
                100 * ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / elapsed, 1
            ),
            "simulator_rss_mb": round(me.memory_info().rss / 2**20, 1),
            "mosquitto_cpu_pct_of_one_core": round(
                100 * ((mq_cpu1.user - mq_cpu0.user) + (mq_cpu1.system - mq_cpu0.system)) / elapsed,
                1,
            ),
            "mosquitto_rss_mb": round(mq.memory_info().rss / 2**20, 1),
            "open_files_limit": hard,
        }
        if coll is not None:
            assert coll.proc is not None
            cp = psutil.Process(coll.proc.pid)
            c0 = cp.cpu_times()
            t2 = time.monotonic()
            for _ in range(int(10 / 0.05)):
                fleet.run_once(0.05)
            c1 = cp.cpu_times()
            result["collector_online_seen"] = _online(metrics_port)
            result["collector_cpu_pct_of_one_core"] = round(
                100 * ((c1.user - c0.user) + (c1.system - c0.system)) / (time.monotonic() - t2), 1
            )
            result["collector_rss_mb"] = round(cp.memory_info().rss / 2**20, 1)
            result["detection_at_scale"] = detection(fleet, Path(tmp) / "c.sqlite", args.faults)
            coll.stop()
        fleet.close()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    write_result(RESULTS, result, headline)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
