"""Fuzz drill: 100,000 hostile and valid messages through decoding and processing; 0 crashes.

    .venv/bin/python bench/fuzz_ingest.py [--cases 100000] [--seed 13] [--batch 50]

Issue 13: one message with a 2^70 session stopped the collector. This drives the real
processing path (``Processor.process``: decode, liveness, SQLite batch writes in a real file,
the alert engine as listener) with a seeded generator of its own, different from the
hypothesis strategies the test suite uses (tests/collector/test_ingest_properties.py):
valid traffic from 40 gateways and their terminals (sessions, replays, wills, graceful
offlines, transaction windows with batch closes and replays), enrolled in the inventory
first as an operator does (``collector.inventory.upsert_rows``, each terminal behind its own
gateway) except a few gateways and stray terminals kept out on purpose (``unregistered``),
and terminals reported by another gateway than their own (``wrong_gateway``); the same
messages with integers and floats at and past their limits, NaN and
Infinity, wrong types, missing and extra fields, odd timestamps, deep nesting, unicode and
escapes, duplicate keys, truncated and corrupted bytes, random bytes, oversized payloads,
wrong and odd topics, retained flags, broker disconnects and time passing; for
``transactions``, counts and amounts at and past their limits, booleans and numeric strings
as counts, card-number-like values (digits grouped by spaces or dashes, Luhn-valid 16 digits,
as numbers, full-width, in keys, lists, nested objects and repeated keys) and nested junk.

Counted: crashes (an exception escaping ``process``), ``internal`` rejections, loop and
listener errors (each a bug the isolation caught), and, every 5,000 messages and at the end,
inconsistencies (the tracker against the store, each subject's chain of state changes,
open incidents against what is down, SQLite's integrity check, a stored transaction window
or batch of a terminal on another gateway than its own, anything stored that looks like a
card number). Exits 1 unless all are 0 and every kind generated was accepted at least once
(a fuzzer whose valid traffic is all rejected proves only the rejection paths).
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
from collector.inventory import upsert_rows
from collector.liveness import LivenessTracker
from collector.metrics import CollectorMetrics
from collector.model import SubjectType
from collector.processor import Processor
from collector.store.sqlite import SqliteStore
from telemetry.cards import card_field
from telemetry.clock import FakeClock
from telemetry.models import MAX_AMOUNT, MAX_TXN_COUNT

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "fuzz_ingest.json"
GATEWAYS = [f"gw-{i:03d}" for i in range(40)]
TERMINALS = {gw: [f"{gw}-t{j}" for j in range(i % 3)] for i, gw in enumerate(GATEWAYS)}
HOSTILE = set(GATEWAYS[-8:])  # their sessions get extreme values too
# Not in the inventory (their traffic is ``unregistered``); all the others are enrolled, each
# terminal behind its own gateway, before the first message.
UNENROLLED = {gw for i, gw in enumerate(GATEWAYS) if i % 10 == 7}
KINDS = ["status", "heartbeat", "network", "firmware", "hardware", "event", "transactions"]
OUTCOMES = ["approved", "declined", "reversed", "timed_out", "error"]
CLASSES = ["approved", "cardholder_decline", "issuer_unavailable", "format_or_terminal_error"]
TXN_FIELDS = ["since", "until", "outcomes", "responses", "approved_amount", "refunded_amount"]
TXN_FIELDS += ["currency", "last_txn_at", "acquirer", "batch"]
# What a card number looks like in a payload: the Visa and UnionPay test numbers grouped as
# printed, bare, with no-break spaces, en dashes, full-width digits, as a number.
PAN = "4111111111111111"
CARD_LIKE: list[Any] = [
    PAN, "4111 1111 1111 1111", "4111-1111-1111-1111", "6212345678901232", "6212 3456 7890 1232",
    "4111\u00a01111\u00a01111\u00a01111", "4111\u20131111\u20131111\u20131111",
    "\uff14\uff11\uff11\uff11" + "\uff11" * 12, "card 4111111111111111 ok", "379354508162306",
    4111111111111111, 4111111111111111.0, 6212345678901232,
]  # fmt: skip
INT_FIELDS = {
    "status": ["session"],
    "heartbeat": ["session", "seq"],
    "hardware": ["battery_cycles", "receipts_printed", "error_count"],
    "transactions": ["approved_amount", "refunded_amount"],
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
        self.window: Counter[str] = Counter()  # transaction windows sent, per device
        self.first_since: dict[str, int] = {}  # where each device's windows start
        self.kinds: Counter[str] = Counter()  # valid messages generated, by kind

    def valid(self, ts: int) -> tuple[str, dict[str, Any], bool]:
        r = self.rng
        gw = r.choice(GATEWAYS)
        kind = r.choices(KINDS, weights=[2, 6, 1, 1, 1, 1, 2])[0]
        terminal = r.choice(TERMINALS[gw]) if TERMINALS[gw] and r.random() < 0.3 else None
        if kind == "transactions" and r.random() < 0.7:
            terminal = r.choice(TERMINALS[gw] or [None])  # else the gateway is the POS
        if kind != "status" and r.random() < 0.02:
            # A PIN pad the inventory does not know (unregistered), or another gateway's
            # terminal reported here (wrong_gateway).
            terminal = r.choice([f"{gw}-t9", *TERMINALS[r.choice(GATEWAYS)], "gw-000-t9"])
        if kind == "status":
            terminal = None
        self.kinds[kind] += 1
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
        elif kind == "transactions":
            body |= self._window(key, body["ts"])
        else:
            body |= {"type": r.choice(["tamper", "queue_dropped"]), "data": {"n": r.randint(0, 9)}}
        prefix = f"posfleet/v1/{gw}/" + (f"terminal/{terminal}/" if terminal else "")
        return prefix + kind, body, False

    def _window(self, key: str, ts: int) -> dict[str, Any]:
        """A valid 20-minute transactions window of ``key``; sometimes the previous one sent
        again (the agent's at-least-once replay: accepted, stored once)."""
        r = self.rng
        if not self.window[key] or r.random() > 0.05:
            self.window[key] += 1
        n = self.window[key]
        since = self.first_since.setdefault(key, ts - 86400) + 1200 * n
        out: dict[str, Any] = {"since": since, "until": since + 1200}
        outcomes = {k: r.choice([0, 0, 1, 3, 40, 183]) for k in r.sample(OUTCOMES, r.randint(0, 5))}
        if outcomes:
            out["outcomes"] = outcomes
            out["responses"] = {k: r.randint(0, 200) for k in r.sample(CLASSES, r.randint(1, 4))}
        if r.random() < 0.8:
            out |= {
                "approved_amount": r.randint(0, 5_000_000),
                "currency": r.choice(["CNY", "HKD"]),
            }
            if r.random() < 0.2:
                out["refunded_amount"] = r.randint(0, 100_000)
        if r.random() < 0.7:
            out["last_txn_at"] = since + r.randint(0, 1200)
        if r.random() < 0.7:
            out["acquirer"] = r.choice(["unionpay-sh", "lakala", "ums.gd"])
        if r.random() < 0.1:  # a batch close (an id of 16 digits that fails Luhn is an id)
            batch_id = r.choice([f"B{n:06d}", "2026112200000017", f"{key}.b{n}"])
            out["batch"] = {"id": batch_id, "count": r.randint(0, 5000)}
            out["batch"] |= {"amount": r.randint(0, 10**9), "currency": "CNY"}
            out["batch"]["closed_at"] = since + 1100
        return out

    def _hostile_window(self, body: dict[str, Any]) -> str | None:
        """A transactions body made hostile in place; or the raw JSON when it needs a
        literal ``json.dumps`` cannot write (a repeated key)."""
        r = self.rng
        how = r.randint(0, 9)
        part = r.choice(["outcomes", "responses"])
        if how == 0:  # counts and amounts at and past their limits
            limits = [MAX_TXN_COUNT, MAX_TXN_COUNT + 1, -1, 2**53, 10**30, 1.5, 5.0, 1e6, 1e400]
            body.setdefault(part, {})[r.choice(OUTCOMES)] = r.choice(limits[:-1])
            name = r.choice(["approved_amount", "refunded_amount"])
            body[name] = r.choice([MAX_AMOUNT, MAX_AMOUNT + 1, -1, 10**12, 2**63, 1e12, 0.5])
            if "batch" in body and r.random() < 0.5:
                body["batch"][r.choice(["count", "amount"])] = r.choice(
                    [MAX_TXN_COUNT + 1, MAX_AMOUNT + 1, -5, 2**64]
                )
        elif how == 1:  # wrong types: booleans, numeric strings, null, containers
            wrong: Any = r.choice([True, False, "5", "2500", "1e3", None, [], {}, [1], "CNY"])
            where = r.choice(["count", "amount", "currency", "acquirer", "time", "batch"])
            if where == "count":
                body.setdefault(part, {})[r.choice(OUTCOMES)] = wrong
            elif where == "amount":
                body[r.choice(["approved_amount", "refunded_amount"])] = wrong
            elif where == "time":
                body[r.choice(["since", "until", "last_txn_at"])] = wrong
            elif where == "batch" and "batch" in body:
                body["batch"][r.choice(["id", "count", "amount", "currency", "closed_at"])] = wrong
            else:
                body[where] = wrong
        elif how in (2, 3):  # something that looks like a card number, somewhere
            pan = r.choice(CARD_LIKE)
            spot = r.randint(0, 7)
            if spot == 0:
                body["acquirer"] = pan
            elif spot == 1:
                body["batch"] = {"id": pan, "count": 1, "amount": 100, "currency": "CNY"}
                body["batch"]["closed_at"] = body.get("since", 0)
            elif spot == 2:
                body["last_declined"] = {"pan": pan, "rc": "51"}
            elif spot == 3:
                body.setdefault(part, {})[str(pan)] = 1  # as a key
            elif spot == 4:
                body["refs"] = ["ok", [pan]]
            elif spot == 5:
                body["last_txn_at"] = str(pan)  # a time as text is checked like any string
            elif spot == 6:
                body["approved_amount"] = pan
            else:  # the same key twice: the parse keeps the last, the check sees both
                text = json.dumps({k: v for k, v in body.items() if k != "acquirer"})
                return text[:-1] + f', "acquirer": {json.dumps(pan)}, "acquirer": "lakala"}}'
        elif how == 4:  # nested junk
            junk: Any = r.choice([[1, 2], "approved", {"a": {"b": {"c": [None]}}}, 7, None])
            body[r.choice(["outcomes", "responses", "batch", "extra"])] = junk
            if r.random() < 0.5 and isinstance(body.get(part, {}), dict):
                body.setdefault(part, {})["nested"] = {"deep": [[[]]]}
        elif how == 5:  # a window that ends before it starts, is years long or oddly dated
            since = body.get("since", 0)
            body |= r.choice(
                [
                    {"until": since - 1},
                    {"until": since + 10 * 86400},
                    {"since": since * 1000, "until": (since + 1200) * 1000},
                    {"since": "2026-11-22T10:00:00Z", "until": "2026-11-22T10:20:00+08:00"},
                    {"last_txn_at": 253402300800},
                    {"since": -1},
                ]
            )
        elif how == 6:  # currency and acquirer that break their rules
            body["currency"] = r.choice(["cny", "CN", "CNYY", "", "\u00e9\u00e9\u00e9", "156"])
            body["acquirer"] = r.choice(["", " ", "a" * 65, "union pay", "\u94f6\u8054"])
        elif how == 7:  # a batch missing keys, or with extras
            body["batch"] = r.choice([{}, {"id": "B1"}, {"id": "B1", "count": 1, "amount": 1}])
        elif how == 8:  # the gateway in the payload is not the topic's
            body["gw"] = r.choice([g for g in GATEWAYS if g != body["gw"]])
        else:  # an unknown additive field: ignored (accepted when nothing else is wrong)
            body[r.choice(["tips_amount", "shift", "x"])] = r.choice([1, "a", {"k": [1]}])
        return None

    def message(self, ts: int) -> tuple[str, bytes, bool, str]:
        """(topic, payload, retained, what was done to it)."""
        r = self.rng
        topic, body, retained = self.valid(ts)
        kind = topic.rsplit("/", 1)[1]
        what = r.choices(
            ["valid", "int", "number", "type", "field", "ts", "string", "bytes", "topic", "json"],
            weights=[30, 14, 10, 8, 8, 8, 6, 6, 4, 6],
        )[0]
        raw: str | bytes | None = None
        if kind == "transactions" and what != "valid" and r.random() < 0.6:
            what = "money"
            raw = self._hostile_window(body)
        elif what == "int" and kind in INT_FIELDS:
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
            names = ["gw", "terminal", "boot_id", "os", "type", "message", "iface"]
            name = r.choice(names + (["acquirer", "currency"] if kind == "transactions" else []))
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


def enrol(store: SqliteStore) -> None:
    """The inventory an operator imports: every gateway but ``UNENROLLED``, each terminal
    behind its own gateway."""
    with store.conn:
        upsert_rows(store.conn, "regions", [{"region_id": "east"}])
        upsert_rows(
            store.conn, "sites", [{"site_id": "S1", "region_id": "east", "tz": "Asia/Shanghai"}]
        )
        gateways = [g for g in GATEWAYS if g not in UNENROLLED]
        upsert_rows(
            store.conn,
            "gateways",
            [{"gateway_id": g, "site_id": "S1", "region_id": "east"} for g in gateways],
        )
        upsert_rows(
            store.conn,
            "terminals",
            [{"terminal_id": t, "gateway_id": g} for g in gateways for t in TERMINALS[g]],
        )


def _first(subject_type: str) -> str:
    """A subject's status before its first state change: a site has no stored status (it is
    down while all its gateways are), its first change is online -> down."""
    return "online" if subject_type == "site" else "unknown"


def inconsistencies(p: Processor) -> list[str]:
    """What the store and the tracker disagree on (empty when all is well)."""
    conn = p.store.conn
    out: list[str] = []
    # Money stored for a terminal behind another gateway than its own (wrong_gateway), or
    # for an id the inventory does not hold (unregistered).
    for table in ("txn_aggregates", "txn_batches"):
        (stray,) = conn.execute(
            f"SELECT count(*) FROM {table} x WHERE NOT EXISTS (SELECT 1 FROM gateways g "
            "WHERE g.gateway_id = x.gateway_id AND g.registered = 1) OR (x.terminal_id != '' "
            "AND NOT EXISTS (SELECT 1 FROM terminals t WHERE t.terminal_id = x.terminal_id "
            "AND t.gateway_id = x.gateway_id AND t.registered = 1))"
        ).fetchone()
        if stray:
            out.append(f"{stray} {table} rows of a device not enrolled behind that gateway")
    # Nothing that looks like a card number is ever stored (telemetry.cards).
    for table, cols in (
        ("txn_aggregates", "acquirer, currency, window_start, window_end, last_txn_at"),
        ("txn_batches", "batch_id, currency, closed_at"),
    ):
        for row in conn.execute(f"SELECT {cols} FROM {table}"):
            if card_field(list(row)) is not None:
                out.append(f"{table}: a stored value looks like a card number")
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
        if last.get((stype, sid), _first(stype)) != frm:
            out.append(f"state change chain broken for {stype} {sid}")
        last[(stype, sid)] = to
    for (stype, sid), status in stored.items():
        if last.get((stype.value, sid), "unknown") != status:
            out.append(f"{stype.value} {sid} stored {status}, last change says otherwise")
    incidents = set(
        conn.execute("SELECT subject_type, subject_id FROM incidents WHERE ended_at IS NULL")
    )
    down = {(t.value, sid) for (t, sid), status in stored.items() if status == "down"}
    down |= {key for key, status in last.items() if key[0] == "site" and status == "down"}
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
    enrol(store)  # before the processor, which loads the enrolled ids
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
    stored = {
        table: store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("txn_aggregates", "txn_batches")
    }
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
        # Every kind the generator sent valid messages of must have been accepted at least
        # once, else the drill only proved the rejection paths (enrolment, issue 13).
        "valid_generated_by_kind": dict(sorted(gen.kinds.items())),
        "kinds_never_accepted": sorted(k for k in gen.kinds if not accepted.get(k)),
        "txn_windows_stored": stored["txn_aggregates"],
        "txn_batches_stored": stored["txn_batches"],
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
            Figure(
                "accepted by kind",
                ", ".join(f"{k} {v:,}" for k, v in (r.get("accepted_by_kind") or {}).items())
                or "—",
            ),
            Figure(
                "transaction windows / batches stored",
                f"{fmt(r.get('txn_windows_stored'))} / {fmt(r.get('txn_batches_stored'))}",
            ),
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
            "kinds_never_accepted",
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
