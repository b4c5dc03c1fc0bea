"""Property: whatever bytes arrive on whatever topic, decoding and processing never raise,
every message is accepted or rejected with a reason, and the store stays consistent with
itself and with the liveness tracker (issue 13).

Hostile payloads (huge and negative integers, NaN/Infinity, odd timestamps, wrong types,
unicode, truncated and corrupted JSON, random bytes) mixed with valid messages, in batches,
through the real Processor with the real alert engine as listener, on a real SQLite file.
bench/fuzz_ingest.py runs the same checks on 100,000 messages from its own generator.
"""

from __future__ import annotations

import json
import queue
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from collector.alerts.config import AlertSettings
from collector.alerts.listener import build_listener
from collector.ingest import Item, LinkEvent, Received
from collector.liveness import LivenessTracker
from collector.metrics import CollectorMetrics
from collector.model import SubjectType
from collector.processor import Processor
from collector.store.sqlite import SqliteStore
from telemetry import FakeClock

GATEWAYS = ["gw-a", "gw-b"]
TERMINALS = ["t-1", "t-2"]
KINDS = ["status", "heartbeat", "network", "firmware", "hardware", "event"]
FIELDS = {
    "status": ["state", "session", "reason"],
    "heartbeat": ["session", "seq", "interval", "uptime_s", "load1", "mem_used_pct", "boot_id"],
    "network": ["link", "rssi_dbm", "latency_ms", "loss_pct", "dns_ok", "addresses"],
    "firmware": ["model", "os", "terminal_fw", "payment_app"],
    "hardware": [
        "battery_pct",
        "battery_cycles",
        "receipts_printed",
        "error_count",
        "temperature_c",
        "printer",
        "battery_health_pct",
    ],
    "event": ["type", "severity", "message", "data"],
}
INT_FIELDS = {
    "status": ["session"],
    "heartbeat": ["session", "seq"],
    "hardware": ["battery_cycles", "receipts_printed", "error_count"],
    "network": [],
    "firmware": [],
    "event": [],
}
ENUMS = ["online", "offline", "connection_lost", "upgrade", "shutdown", "wifi", "ok", "error"]

NAN = float("nan")
INF = float("inf")

EDGE_INTS = [0, -1, 2**53 - 1, 2**53, 2**63 - 1, 2**63, 2**64, 2**70, 10**30, -(2**63) - 1]
ints = st.one_of(
    st.integers(-3, 40),  # plausible sessions and sequence numbers: collisions, replays
    st.integers(-(2**70), 2**70),
    st.sampled_from(EDGE_INTS),
)
EDGE_FLOATS = [0.0, -0.0, 1e-320, 1e308, -1e308, 120.0, 86400.0, 86400.5, NAN, INF, -INF]
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(EDGE_FLOATS))
scalars = st.one_of(
    ints,
    floats,
    st.booleans(),
    st.none(),
    st.text(max_size=40),
    st.sampled_from(ENUMS),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
timestamps = st.one_of(
    st.integers(-(2**40), 2**50),
    floats,
    st.sampled_from(
        [
            "2026-11-30T12:00:00Z",
            "2026-11-30T12:00:00",  # naive
            "0001-01-01T00:00:00+23:59",
            "9999-12-31T23:59:59-23:59",
            "2262-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "not a time",
        ]
    ),
    st.text(max_size=30),
)


@st.composite
def message(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    """A valid message with a few hostile changes (a value, a type, a missing or extra
    field), or its bytes truncated or corrupted, or plain garbage."""
    topic, raw, retained = draw(valid_message(any_kind=True))
    shape = draw(st.integers(0, 9))
    if shape == 0:  # garbage bytes
        return draw(st.sampled_from([topic, "posfleet/v1/gw-a/x", "a/b"])), draw(st.binary()), False
    body: dict[str, Any] = json.loads(raw)
    kind = topic.rsplit("/", 1)[1]
    common = ["v", "gw", "ts", "terminal", "historical", "errors"]
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(FIELDS[kind]) | st.sampled_from(common))
        change = draw(st.integers(0, 9))
        if change == 0:
            body.pop(name, None)
        elif change == 1:
            body[draw(st.text(max_size=10))] = draw(values)  # an unknown extra field
        elif change in (2, 3) and INT_FIELDS[kind]:  # an integer at or past its limits
            body[draw(st.sampled_from(INT_FIELDS[kind]))] = draw(st.sampled_from(EDGE_INTS))
        elif change == 4:  # a float at or past its limits
            body[draw(st.sampled_from(FIELDS[kind]))] = draw(st.sampled_from(EDGE_FLOATS))
        elif name == "ts":
            body[name] = draw(timestamps)
        elif name in ("gw", "terminal"):
            body[name] = draw(st.sampled_from(["gw-a", "gw-b", "t-1", "t-other", 7, ""]))
        else:
            body[name] = draw(st.one_of(st.sampled_from(EDGE_INTS), ints, floats, values))
    raw = json.dumps(body, allow_nan=True).encode()  # NaN / Infinity literals on purpose
    if shape == 1:  # truncated
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif shape == 2 and raw:  # one byte changed
        i = draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([draw(st.integers(0, 255))]) + raw[i + 1 :]
    return topic, raw, retained


@st.composite
def valid_message(draw: st.DrawFn, any_kind: bool = False) -> tuple[str, bytes, bool]:
    """Sensible traffic, so that liveness, incidents and alerts actually move."""
    gw = draw(st.sampled_from(GATEWAYS))
    session = draw(st.integers(0, 4))
    kinds = ["status", "heartbeat", "heartbeat", "hardware"] + (KINDS if any_kind else [])
    kind = draw(st.sampled_from(kinds))
    ts = 1795339200 + draw(st.integers(-100, 100))
    if kind == "status":
        state = draw(st.sampled_from(["online", "offline"]))
        body: dict[str, Any] = {"v": 1, "gw": gw, "ts": ts, "state": state, "session": session}
        if state == "offline":
            body["reason"] = draw(st.sampled_from(["connection_lost", "upgrade", "shutdown"]))
        return f"posfleet/v1/{gw}/status", json.dumps(body).encode(), draw(st.booleans())
    terminal = draw(st.none() | st.sampled_from(TERMINALS))
    body = {"v": 1, "gw": gw, "ts": ts}
    if terminal:
        body["terminal"] = terminal
    body |= {
        "heartbeat": {"session": session, "seq": draw(st.integers(0, 6)), "interval": 30},
        "hardware": {"battery_pct": draw(st.integers(0, 100)), "printer": "ok"},
        "network": {"link": "wifi", "latency_ms": draw(st.floats(0, 900)), "loss_pct": 0},
        "firmware": {"os": "Debian 12", "terminal_fw": "1.0"},
        "event": {"type": "tamper", "data": {"n": 1}},
    }[kind]
    topic = f"posfleet/v1/{gw}/" + (f"terminal/{terminal}/" if terminal else "") + kind
    return topic, json.dumps(body).encode(), False


step = st.one_of(
    st.lists(st.one_of(message(), valid_message()), min_size=1, max_size=12),
    st.sampled_from(["advance", "disconnect", "connect"]),
)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=st.lists(step, min_size=1, max_size=5))
def test_no_input_raises_every_message_is_counted_and_the_store_stays_consistent(
    steps: list[Any],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_steps(Path(tmp) / "fuzz.sqlite", steps)


def run_steps(path: Path, steps: list[Any]) -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    store = SqliteStore(path)
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
    try:
        p.process([LinkEvent(True, clock.now(), clock.monotonic())])
        sent = 0
        for s in steps:
            items: list[Item]
            if s == "advance":
                clock.advance(45)
                items = []
            elif s in ("connect", "disconnect"):
                items = [LinkEvent(s == "connect", clock.now(), clock.monotonic())]
            else:
                items = [
                    Received(topic, raw, clock.now(), clock.monotonic(), retained)
                    for topic, raw, retained in s
                ]
                sent += len(items)
            p.process(items)  # must not raise
            clock.advance(1)
        check(p, registry, sent)
    finally:
        store.close()


def _value(registry: CollectorRegistry, name: str) -> float:
    total = 0.0
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == name:
                total += sample.value
    return total


def check(p: Processor, registry: CollectorRegistry, sent: int) -> None:
    accepted = _value(registry, "posfleet_collector_messages_total")
    rejected = _value(registry, "posfleet_collector_rejected_total")
    assert accepted + rejected == sent
    # Isolation must have had nothing to do: any of these is a bug that the fuzz found.
    assert _value(registry, "posfleet_collector_loop_errors_total") == 0
    assert _value(registry, "posfleet_collector_listener_errors_total") == 0
    internal = registry.get_sample_value(
        "posfleet_collector_rejected_total", {"reason": "internal"}
    )
    assert not internal
    check_store(p)


def check_store(p: Processor) -> None:
    conn = p.store.conn
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert not conn.in_transaction
    stored = {
        (SubjectType(t), sid): status
        for t, sid, status in conn.execute(
            "SELECT 'gateway', gateway_id, status FROM gateways "
            "UNION ALL SELECT 'terminal', terminal_id, status FROM terminals"
        )
    }
    # The tracker believes what the store holds.
    for key, state in p.tracker.items():
        assert stored.get(key, "unknown") == state.status.value, key
    # Every subject's state changes form a chain that ends in its stored status.
    last: dict[tuple[str, str], str] = {}
    for stype, sid, frm, to in conn.execute(
        "SELECT subject_type, subject_id, from_status, to_status FROM state_changes ORDER BY id"
    ):
        assert last.get((stype, sid), "unknown") == frm, (stype, sid)
        last[(stype, sid)] = to
    for (stype, sid), status in stored.items():
        if stype is not SubjectType.SITE:
            assert last.get((stype.value, sid), "unknown") == status, (stype, sid)
    # An open incident exactly for what is down.
    open_incidents = set(
        conn.execute("SELECT subject_type, subject_id FROM incidents WHERE ended_at IS NULL")
    )
    down = {(t.value, sid) for (t, sid), status in stored.items() if status == "down"}
    assert open_incidents == down
