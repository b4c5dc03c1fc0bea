"""Fuzz drill: 100,000 hostile and valid messages through decoding and processing; 0 crashes.

    .venv/bin/python bench/fuzz_ingest.py [--cases 100000] [--seed 13] [--batch 50]

Issue 13: one message with a 2^70 session stopped the collector. This drives the real
processing path (``Processor.process``: decode, liveness, SQLite batch writes in a real file,
the alert engine as listener) with a seeded generator of its own, different from the
hypothesis strategies the test suite uses (tests/collector/test_ingest_properties.py):
valid traffic from 40 gateways and their terminals (sessions, replays, wills, graceful
offlines), the same messages with integers and floats at and past their limits, NaN and
Infinity, wrong types, missing and extra fields, odd timestamps, deep nesting, unicode and
escapes, duplicate keys, truncated and corrupted bytes, random bytes, oversized payloads,
wrong and odd topics, retained flags, broker disconnects and time passing.

Counted: crashes (an exception escaping ``process``), ``internal`` rejections, loop and
listener errors (each a bug the isolation caught), and, every 5,000 messages and at the end,
inconsistencies (the tracker against the store, each subject's chain of state changes,
open incidents against what is down, SQLite's integrity check). Exits 1 unless all are 0.
Writes bench/results/fuzz_ingest.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.report import Figure, Headline, fmt, ratio, write_result
from collector.alerts.config import AlertSettings
from collector.alerts.listener import build_listener
from collector.ingest import Item, LinkEvent, Received
from collector.liveness import LivenessTracker
from collector.metrics import CollectorMetrics
from collector.model import SubjectType
from collector.processor import Processor
from collector.store.sqlite import SqliteStore
from telemetry.clock import FakeClock

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "fuzz_ingest.json"
GATEWAYS = [f"gw-{i:03d}" for i in range(40)]
TERMINALS = {gw: [f"{gw}-t{j}" for j in range(i % 3)] for i, gw in enumerate(GATEWAYS)}
HOSTILE = set(GATEWAYS[-8:])  # their sessions get extreme values too
KINDS = ["status", "heartbeat", "network", "firmware", "hardware", "event"]
INT_FIELDS = {
    "status": ["session"],
    "heartbeat": ["session", "seq"],
    "hardware": ["battery_cycles", "receipts_printed", "error_count"],
}
NUMBER_FIELDS = {
    "heartbeat": ["interval", "uptime_s", "load1", "mem_used_pct", "disk_used_pct"],
    "network": ["rssi_dbm", "rsrp_dbm", "wifi_signal_dbm", "latency_ms", "loss_pct", "dns_ms"],
    "hardware": ["battery_pct", "battery_health_pct", "temperature_c", "storage_used_pct"],
}
EDGE_INTS = [
    0, -1, 1, 2**31, 2**32, 2**53 - 1, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64,
    2**70, 1180591620717411303424, 10**30, -(2**63), -(2**63) - 1, 10**4000,
]  # fmt: skip
EDGE_NUMBER_LITERALS = [
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e308", "-1e308", "5e-324", "-0",
    "0.0", "1E2", "86400", "86400.0001", "100.0000001", "-60.5", "01", "1.", ".5", "+1",
]  # fmt: skip
ODD_TS = [
    "0", "-1", "1e12", "1795339200000", "1795339200.5", "253402300800", "2e10", "1e400",
    '"2026-11-30T12:00:00"', '"2026-11-30T12:00:00Z"', '"2026-11-30T23:59:60Z"',
    '"0001-01-01T00:00:00+23:59"', '"9999-12-31T23:59:59-23:59"', '"2262-01-01T00:00:00Z"',
    '"2261-12-31T23:59:59.999999Z"', '"1969-12-31T23:59:59Z"', '"2026-02-30T00:00:00Z"',
    '"yesterday"', '""', "null", "true", "[]", "{}",
]  # fmt: skip
ODD_TOPICS = [
    "", "posfleet", "posfleet/v1", "posfleet/v1/", "posfleet/v1/gw-000/", "posfleet/v2/gw-000/status",
    "posfleet/v1/+/status", "posfleet/v1/#", "posfleet/v1/gw-000/terminal//heartbeat",
    "posfleet/v1/gw 000/status", "posfleet/v1/gw-000/status/x", "posfleet/v1/\u00e9t\u00e9/status",
    "posfleet/v1/" + "g" * 70 + "/status", "posfleet/v1/gw-000/terminal/t/x/heartbeat",
    "posfleet/v1/gw-000\x00/status", "posfleet/v1/gw-000/\ud800",
]  # fmt: skip
ODD_STRINGS = [
    "", "\x00", "\\u0000", "\\ud800", "\\udfff\\ud800", "\\uD83D\\uDE00", "\u202e", "\ufeff",
    "x" * 129, "y" * 5000, "\u00e9" * 200, "'; DROP TABLE gateways; --", "%s%n", "\\",
]  # fmt: skip


class Generator:
    """Seeded messages: valid traffic with state (sessions, sequence numbers), then mutated."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.session = dict.fromkeys(GATEWAYS, 1)
        self.seq: Counter[str] = Counter()

    def valid(self, ts: int) -> tuple[str, dict[str, Any], bool]:
        r = self.rng
        gw = r.choice(GATEWAYS)
        kind = r.choices(KINDS, weights=[2, 6, 1, 1, 1, 1])[0]
        terminal = r.choice(TERMINALS[gw]) if TERMINALS[gw] and r.random() < 0.3 else None
        if kind == "status":
            terminal = None
        body: dict[str, Any] = {"v": 1, "gw": gw, "ts": ts + r.randint(-300, 300)}
        if terminal:
            body["terminal"] = terminal
        key = terminal or gw
        if kind == "status":
            if r.random() < 0.2:
                self.session[gw] += 1  # a reconnect
            state = r.choice(["online", "online", "offline"])
            session = self.session[gw] - (r.random() < 0.1)  # sometimes an older session
            body |= {"state": state, "session": session}
            if state == "offline":
                body["reason"] = r.choice(["connection_lost", "upgrade", "reboot", "shutdown"])
            return f"posfleet/v1/{gw}/status", body, r.random() < 0.7
        if kind == "heartbeat":
            self.seq[key] += 1
            seq = self.seq[key] - (r.randint(0, 3) if r.random() < 0.1 else 0)  # replays
            body |= {"session": self.session[gw], "seq": seq, "interval": r.choice([5, 30, 120])}
            if r.random() < 0.3:
                body |= {"uptime_s": r.uniform(0, 1e6), "load1": r.uniform(0, 4)}
                body |= {"mem_used_pct": r.uniform(0, 100), "boot_id": "b-1"}
            body["historical"] = r.random() < 0.05
        elif kind == "network":
            body |= {"link": r.choice(["wifi", "cellular", "ethernet"])}
            body |= {"latency_ms": r.uniform(0, 900), "loss_pct": r.choice([0, 0, 2, 50])}
            body |= {"rssi_dbm": r.uniform(-120, -40), "addresses": ["10.0.0.1"]}
        elif kind == "firmware":
            body |= {"os": "Debian 12", "terminal_fw": r.choice(["1.0", "1.1", "2.0"])}
            body |= {"model": r.choice(["A920", "P400"])}
        elif kind == "hardware":
            body |= {"battery_pct": r.randint(0, 100), "printer": r.choice(["ok", "paper_out"])}
            body |= {"temperature_c": r.uniform(20, 90), "receipts_printed": r.randint(0, 10**6)}
            body |= {"battery_health_pct": r.randint(50, 100), "error_count": r.randint(0, 5)}
        else:
            body |= {"type": r.choice(["tamper", "queue_dropped"]), "data": {"n": r.randint(0, 9)}}
        prefix = f"posfleet/v1/{gw}/" + (f"terminal/{terminal}/" if terminal else "")
        return prefix + kind, body, False

    def message(self, ts: int) -> tuple[str, bytes, bool, str]:
        """(topic, payload, retained, what was done to it)."""
        r = self.rng
        topic, body, retained = self.valid(ts)
        kind = topic.rsplit("/", 1)[1]
        what = r.choices(
            ["valid", "int", "number", "type", "field", "ts", "string", "bytes", "topic", "json"],
            weights=[30, 14, 10, 8, 8, 8, 6, 6, 4, 6],
        )[0]
        raw = None
        if what == "int" and kind in INT_FIELDS:
            names = INT_FIELDS[kind]
            if body["gw"] not in HOSTILE:  # a valid huge session pins a gateway (stale_session
                names = [n for n in names if n != "session"]  # ever after): only on some
            if names:
                body[r.choice(names)] = r.choice(EDGE_INTS)
        elif what == "number" and kind in NUMBER_FIELDS:
            name = r.choice(NUMBER_FIELDS[kind])
            raw = _with_raw(body, name, r.choice(EDGE_NUMBER_LITERALS))
        elif what == "type":
            name = r.choice([*body, *INT_FIELDS.get(kind, ["x"])])
            body[name] = r.choice(
                ["1", [], {}, None, True, [1, 2], {"a": 1}, 1.5, "online", 2**70, -1]
            )
        elif what == "field":
            if r.random() < 0.5 and body:
                body.pop(r.choice(list(body)))
            else:
                body[r.choice(["extra", "v2", "", "gw ", "\u00e9"])] = r.choice([1, "x", [], {}])
        elif what == "ts":
            raw = _with_raw(body, "ts", r.choice(ODD_TS))
        elif what == "string":
            name = r.choice(["gw", "terminal", "boot_id", "os", "type", "message", "iface"])
            raw = _with_raw(body, name, '"' + r.choice(ODD_STRINGS) + '"')
        elif what == "bytes":
            raw = self._bytes(json.dumps(body).encode())
        elif what == "topic":
            topic = r.choice([*ODD_TOPICS, topic.replace("gw-", "gw-x"), topic.upper()])
        elif what == "json":
            raw = r.choice(
                [
                    "[" * 5000 + "]" * 5000,
                    '{"a":' * 3000 + "1" + "}" * 3000,
                    json.dumps(body)[:-1] + ', "v": 2}',  # a duplicate key, the last wins
                    "\ufeff" + json.dumps(body),
                    " \n\t" + json.dumps(body) + " \n",
                    json.dumps(body) + "garbage",
                    json.dumps([body]),
                    json.dumps(json.dumps(body)),
                    "null",
                    "1e400",
                    json.dumps(body) + " " * 20_000,  # oversized
                ]
            ).encode()
        if raw is None:
            raw = json.dumps(body, allow_nan=True).encode()
        return topic, raw if isinstance(raw, bytes) else raw.encode(), retained, what

    def _bytes(self, raw: bytes) -> bytes:
        r = self.rng
        how = r.randint(0, 4)
        if how == 0:
            return raw[: r.randint(0, len(raw))]
        if how == 1:
            i = r.randrange(len(raw))
            return raw[:i] + bytes([r.randrange(256)]) + raw[i + 1 :]
        if how == 2:
            return bytes(r.randrange(256) for _ in range(r.randint(0, 64)))
        if how == 3:
            return raw.replace(b'"', b"'")
        return raw.decode().encode("utf-16")


def _with_raw(body: dict[str, Any], name: str, literal: str) -> str:
    """``body`` as JSON with ``name`` set to ``literal`` verbatim (NaN, 1e400, escapes...)."""
    body = {k: v for k, v in body.items() if k != name}
    text = json.dumps(body, allow_nan=True)
    return text[:-1] + (", " if body else "") + json.dumps(name) + ": " + literal + "}"


def inconsistencies(p: Processor) -> list[str]:
    """What the store and the tracker disagree on (empty when all is well)."""
    conn = p.store.conn
    out: list[str] = []
    if conn.execute("PRAGMA integrity_check").fetchone() != ("ok",):
        out.append("integrity_check")
    stored = {
        (SubjectType(t), sid): status
        for t, sid, status in conn.execute(
            "SELECT 'gateway', gateway_id, status FROM gateways "
            "UNION ALL SELECT 'terminal', terminal_id, status FROM terminals"
        )
    }
    for key, state in p.tracker.items():
        if stored.get(key, "unknown") != state.status.value:
            out.append(f"tracker {key}: {state.status.value}, store: {stored.get(key)}")
    last: dict[tuple[str, str], str] = {}
    for stype, sid, frm, to in conn.execute(
        "SELECT subject_type, subject_id, from_status, to_status FROM state_changes ORDER BY id"
    ):
        if last.get((stype, sid), "unknown") != frm:
            out.append(f"state change chain broken for {stype} {sid}")
        last[(stype, sid)] = to
    for (stype, sid), status in stored.items():
        if last.get((stype.value, sid), "unknown") != status:
            out.append(f"{stype.value} {sid} stored {status}, last change says otherwise")
    incidents = set(
        conn.execute("SELECT subject_type, subject_id FROM incidents WHERE ended_at IS NULL")
    )
    down = {(t.value, sid) for (t, sid), status in stored.items() if status == "down"}
    if incidents != down:
        out.append(f"open incidents {sorted(incidents ^ down)[:5]} differ from what is down")
    return out


def _samples(registry: CollectorRegistry, name: str, label: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == name and s.value:
                out[s.labels.get(label, "")] = int(s.value)
    return out


def _value(registry: CollectorRegistry, name: str) -> int:
    return int(registry.get_sample_value(name) or 0)


def run(cases: int, seed: int, batch: int, db: Path) -> dict[str, Any]:
    gen = Generator(seed)
    clock = FakeClock()
    registry = CollectorRegistry()
    store = SqliteStore(db)
    with store.transaction() as conn:
        listener = build_listener(conn, AlertSettings(), now=clock.now(), monotonic=clock.monotonic)
    p = Processor(
        store,
        LivenessTracker(),
        CollectorMetrics(registry),
        queue.SimpleQueue(),
        listeners=[listener],
        clock=clock,
    )
    p.process([LinkEvent(True, clock.now(), clock.monotonic())])
    crashes: list[str] = []
    problems: list[str] = []
    mutations: Counter[str] = Counter()
    sent = checks = 0
    next_check = 5000
    t0 = time.perf_counter()
    while sent < cases:
        items: list[Item] = []
        ts = int(clock.now().timestamp())
        for _ in range(min(gen.rng.randint(1, 2 * batch), cases - sent)):
            topic, raw, retained, what = gen.message(ts)
            mutations[what] += 1
            items.append(Received(topic, raw, clock.now(), clock.monotonic(), retained))
        sent += len(items)
        if gen.rng.random() < 0.01:  # the broker link drops and comes back
            items.insert(gen.rng.randrange(len(items) + 1), LinkEvent(False, clock.now(), 0.0))
            items.append(LinkEvent(True, clock.now(), clock.monotonic()))
        try:
            p.process(items)
        except Exception:
            crashes.append(traceback.format_exc(limit=6))
        clock.advance(gen.rng.choice([0.5, 1, 2, 5, 10, 40]))
        if sent >= next_check or sent >= cases:
            next_check += 5000
            checks += 1
            problems += inconsistencies(p)
    seconds = time.perf_counter() - t0
    accepted = _samples(registry, "posfleet_collector_messages_total", "kind")
    rejected = _samples(registry, "posfleet_collector_rejected_total", "reason")
    counted = sum(accepted.values()) + sum(rejected.values())
    store.close()
    return {
        "cases": sent,
        "seed": seed,
        "crashes": len(crashes),
        "internal_rejections": rejected.get("internal", 0),
        "loop_errors": _value(registry, "posfleet_collector_loop_errors_total"),
        "listener_errors": _value(registry, "posfleet_collector_listener_errors_total"),
        "inconsistencies": len(problems),
        "consistency_checks": checks,
        "uncounted_messages": sent - counted,
        "accepted": sum(accepted.values()),
        "accepted_by_kind": dict(sorted(accepted.items())),
        "rejected": sum(rejected.values()),
        "rejected_by_reason": dict(sorted(rejected.items())),
        "generated_by_mutation": dict(sorted(mutations.items())),
        "seconds": round(seconds, 1),
        "messages_per_s": round(sent / seconds) if seconds else None,
        "first_crashes": crashes[:3],
        "first_inconsistencies": problems[:10],
    }


def headline(r: dict[str, Any]) -> Headline:
    """The figures docs/benchmarks.md shows for this result (ratios first)."""
    reasons = sorted((r.get("rejected_by_reason") or {}).items(), key=lambda kv: -kv[1])
    return Headline(
        [
            Figure("crashes ÷ messages", ratio(r.get("crashes"), r.get("cases"), 4), "messages"),
            Figure(
                "counted (accepted + rejected) ÷ sent",
                ratio((r.get("accepted") or 0) + (r.get("rejected") or 0) or None, r.get("cases")),
                "messages sent",
            ),
        ],
        [
            Figure("messages (seed)", f"{fmt(r.get('cases'))} ({r.get('seed')})"),
            Figure("crashes", fmt(r.get("crashes"))),
            Figure(
                "internal rejections / loop errors / listener errors",
                f"{fmt(r.get('internal_rejections'))} / {fmt(r.get('loop_errors'))} / "
                f"{fmt(r.get('listener_errors'))}",
            ),
            Figure(
                "inconsistencies (checks)",
                f"{fmt(r.get('inconsistencies'))} ({fmt(r.get('consistency_checks'))})",
            ),
            Figure("accepted / rejected", f"{fmt(r.get('accepted'))} / {fmt(r.get('rejected'))}"),
            Figure("rejected by reason", ", ".join(f"{k} {v:,}" for k, v in reasons) or "—"),
            Figure("rate", fmt(r.get("messages_per_s"), "msg/s")),
        ],
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--batch", type=int, default=50, help="mean messages per batch")
    args = ap.parse_args()
    # Rejections log at WARNING (rate-limited, by the fake clock): only errors here.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.cases, args.seed, args.batch, Path(tmp) / "fuzz.sqlite")
    ok = not any(
        result[k]
        for k in (
            "crashes",
            "internal_rejections",
            "loop_errors",
            "listener_errors",
            "inconsistencies",
            "uncounted_messages",
        )
    )
    result["ok"] = ok
    write_result(RESULTS, result, headline)
    summary = {k: v for k, v in result.items() if not k.startswith("first_")}
    json.dump(summary, sys.stdout, indent=2)
    print()
    for text in result["first_crashes"]:
        print(text, file=sys.stderr)
    for text in result["first_inconsistencies"]:
        print(text, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
