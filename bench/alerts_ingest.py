"""Cost of the alert listener on the ingest hot path (real SQLite store, 100k gateways).

Feeds heartbeats and network reports for every gateway through ``on_messages`` in batches
of 500 (as the processing loop does) and reports microseconds per message, plus the
startup load time of ``build_listener``.

    .venv/bin/python bench/alerts_ingest.py [--gateways 100000]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import Figure, Headline, fmt, ratio, write_result
from collector.alerts.config import AlertSettings
from collector.alerts.listener import build_listener
from collector.model import DetectedBy, Liveness, SubjectType, Transition
from collector.store.migrate import ensure_schema
from telemetry.codec import Decoded
from telemetry.models import Heartbeat, Network
from telemetry.topics import Kind, TopicRef

RESULTS = Path(__file__).resolve().parent / "results" / "alerts_ingest.json"


def headline(r: dict[str, Any]) -> Headline:
    """The figures docs/benchmarks.md shows for this result (ratios first)."""
    return Headline(
        [
            Figure(
                "tick with active alerts ÷ 1 s",
                ratio(r.get("tick_active_ms"), 1000, 4),
                "the per-second tick period",
            ),
        ],
        [
            Figure("gateways / messages", f"{fmt(r.get('gateways'))} / {fmt(r.get('messages'))}"),
            Figure("on_messages", fmt(r.get("on_messages_us_per_message"), "µs/message")),
            Figure("startup load (build_listener)", fmt(r.get("load_s"), "s")),
            Figure("tick, no active alerts", fmt(r.get("tick_idle_ms"), "ms")),
            Figure(
                f"outage of {fmt(r.get('outage_gateways'))} gateways through on_transitions",
                fmt(r.get("outage_ms"), "ms"),
            ),
            Figure(
                f"tick with {fmt(r.get('firing'))} firing alerts",
                fmt(r.get("tick_active_ms"), "ms"),
            ),
        ],
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateways", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    n = args.gateways
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "bench.sqlite")
        ensure_schema(conn)
        with conn:
            conn.executemany(
                "INSERT INTO gateways (gateway_id, site_id, region_id, model, status) "
                "VALUES (?, ?, 'r1', 'R1', 'online')",
                [(f"gw{i}", f"s{i // 5}") for i in range(n)],
            )
        t = time.perf_counter()
        listener = build_listener(conn, AlertSettings(), now=now)
        load_s = time.perf_counter() - t

        msgs: list[tuple[Decoded, datetime]] = []
        for i in range(n):
            gw = f"gw{i}"
            hb = Heartbeat(gw=gw, ts=now, session=1, seq=1, interval=30)
            msgs.append((Decoded(TopicRef(gw, Kind.HEARTBEAT), hb), now))
            if i % 3 == 0:
                net = Network(gw=gw, ts=now, latency_ms=80.0, loss_pct=0.0, rssi_dbm=-70.0)
                msgs.append((Decoded(TopicRef(gw, Kind.NETWORK), net), now))
        t = time.perf_counter()
        for start in range(0, len(msgs), 500):
            with conn:
                listener.on_messages(conn, msgs[start : start + 500], now)
        per_msg_us = (time.perf_counter() - t) / len(msgs) * 1e6
        t = time.perf_counter()
        ticks = 50
        for k in range(ticks):
            with conn:
                listener.tick(conn, now + timedelta(seconds=k))
        tick_ms = (time.perf_counter() - t) / ticks * 1000

        # 1% of the fleet goes down (wills in batches of 100), then 120 s of ticks so the
        # alerts fire: the cost of writing an outage storm through the listener.
        down = [f"gw{i}" for i in range(0, n, 100)]
        at = now + timedelta(seconds=ticks)
        t = time.perf_counter()
        for start in range(0, len(down), 100):
            batch = [
                Transition(SubjectType.GATEWAY, gw, Liveness.ONLINE, Liveness.DOWN, at,
                           DetectedBy.WILL)
                for gw in down[start : start + 100]
            ]  # fmt: skip
            with conn:
                listener.on_transitions(conn, batch, at)
        storm_ms = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        for k in range(1, 121):
            with conn:
                listener.tick(conn, at + timedelta(seconds=k))
        storm_tick_ms = (time.perf_counter() - t) / 120 * 1000
        (firing,) = conn.execute("SELECT count(*) FROM alerts WHERE state = 'firing'").fetchone()
        conn.close()
    print(f"gateways={n} messages={len(msgs)}")
    print(f"build_listener load: {load_s:.2f} s")
    print(f"on_messages: {per_msg_us:.1f} us per message")
    print(f"tick (no active alerts, polls included): {tick_ms:.2f} ms")
    print(f"outage of {len(down)} gateways through on_transitions: {storm_ms:.0f} ms in total")
    print(f"tick with {len(down)} active alerts: {storm_tick_ms:.2f} ms; firing={firing}")
    result = {
        "gateways": n,
        "messages": len(msgs),
        "load_s": round(load_s, 3),
        "on_messages_us_per_message": round(per_msg_us, 2),
        "tick_idle_ms": round(tick_ms, 3),
        "outage_gateways": len(down),
        "outage_ms": round(storm_ms, 1),
        "tick_active_ms": round(storm_tick_ms, 3),
        "firing": firing,
    }
    write_result(args.out, result, headline)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
