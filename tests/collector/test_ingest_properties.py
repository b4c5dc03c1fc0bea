"""Property: whatever bytes arrive on whatever topic, decoding and processing never raise,
every message is accepted or rejected with a reason, and the store stays consistent with
itself and with the liveness tracker (issue 13).

Hostile payloads (huge and negative integers, NaN/Infinity, odd timestamps, wrong types,
unicode, truncated and corrupted JSON, random bytes; for transactions windows, counts and
amounts past their limits, booleans and numeric strings, card-number-like values, nested
junk) mixed with valid messages, in batches, through the real Processor with the real alert
engine as listener, on a real SQLite file whose inventory enrols the gateways and their
terminals first (a gateway and a terminal are left out on purpose: ``unregistered``; a
terminal reported by the other gateway: ``wrong_gateway``). A deterministic all-valid run
through the same harness proves the messages reach the accepted path at all.
bench/fuzz_ingest.py runs the same checks on 100,000 messages from its own generator.
"""

from __future__ import annotations

import json
import queue
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from collector.alerts.config import AlertSettings
from collector.alerts.listener import build_listener
from collector.ingest import Item, LinkEvent, Received
from collector.inventory import upsert_rows
from collector.liveness import LivenessTracker
from collector.metrics import CollectorMetrics
from collector.model import SubjectType
from collector.processor import Processor
from collector.store.sqlite import SqliteStore
from telemetry import FakeClock
from telemetry.cards import card_field
from telemetry.models import MAX_AMOUNT, MAX_TXN_COUNT

# Enrolled before the first message, each terminal behind its own gateway.
TERMINALS = {"gw-a": ["t-1"], "gw-b": ["t-2"]}
GATEWAYS = list(TERMINALS)
UNENROLLED_GATEWAY, UNENROLLED_TERMINAL = "gw-x", "t-9"
KINDS = ["status", "heartbeat", "network", "firmware", "hardware", "event", "transactions"]
OUTCOMES = ["approved", "declined", "reversed", "timed_out", "error"]
CLASSES = ["approved", "cardholder_decline", "issuer_unavailable", "format_or_terminal_error"]
CARD_LIKE = [
    "4111111111111111",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "6212\u00a03456\u00a07890\u00a01232",
    "\uff14\uff11\uff11\uff11" + "\uff11" * 12,
    4111111111111111,
    6212345678901232.0,
]
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
    "transactions": [
        "since",
        "until",
        "outcomes",
        "responses",
        "approved_amount",
        "refunded_amount",
        "currency",
        "last_txn_at",
        "acquirer",
        "batch",
    ],
}
INT_FIELDS = {
    "status": ["session"],
    "heartbeat": ["session", "seq"],
    "hardware": ["battery_cycles", "receipts_printed", "error_count"],
    "network": [],
    "firmware": [],
    "event": [],
    "transactions": ["approved_amount", "refunded_amount"],
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
    if kind == "transactions" and draw(st.booleans()):
        hostile_window(draw, body)
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
            body[name] = draw(st.sampled_from(["gw-a", "gw-b", "t-1", "t-2", "t-other", 7, ""]))
        else:
            body[name] = draw(st.one_of(st.sampled_from(EDGE_INTS), ints, floats, values))
    raw = json.dumps(body, allow_nan=True).encode()  # NaN / Infinity literals on purpose
    if shape == 1:  # truncated
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif shape == 2 and raw:  # one byte changed
        i = draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([draw(st.integers(0, 255))]) + raw[i + 1 :]
    return topic, raw, retained


def hostile_window(draw: st.DrawFn, body: dict[str, Any]) -> None:
    """A transactions window made hostile: counts and amounts at and past their limits,
    wrong types, something that looks like a card number, nested junk, a window backwards."""
    part = draw(st.sampled_from(["outcomes", "responses"]))
    counts = body.setdefault(part, {})
    how = draw(st.integers(0, 5))
    if how == 0:
        counts[draw(st.sampled_from(OUTCOMES))] = draw(
            st.sampled_from([MAX_TXN_COUNT, MAX_TXN_COUNT + 1, -1, 2**53, 2.0, 2.5]) | ints
        )
        body[draw(st.sampled_from(["approved_amount", "refunded_amount"]))] = draw(
            st.sampled_from([MAX_AMOUNT, MAX_AMOUNT + 1, -1, 10**12, 1e12, 0.5]) | ints
        )
    elif how == 1:  # wrong types: never read as 1 sale or 2500 fen
        wrong: Any = draw(st.sampled_from([True, False, "5", "2500", None, [], {}]))
        where = draw(st.sampled_from(["count", "approved_amount", "currency", "since", "batch"]))
        if where == "count":
            counts[draw(st.sampled_from(OUTCOMES))] = wrong
        else:
            body[where] = wrong
    elif how == 2:  # a card number, anywhere
        pan = draw(st.sampled_from(CARD_LIKE))
        spot = draw(st.sampled_from(["acquirer", "batch", "key", "nested", "list", "last_txn_at"]))
        if spot == "batch":
            body["batch"] = {"id": pan, "count": 1, "amount": 1, "currency": "CNY", "closed_at": 0}
        elif spot == "key":
            counts[str(pan)] = 1
        elif spot == "nested":
            body["last_declined"] = {"pan": pan}
        elif spot == "list":
            body["refs"] = [[pan]]
        else:
            body[spot] = str(pan)
    elif how == 3:  # nested junk
        body[draw(st.sampled_from(["outcomes", "responses", "batch"]))] = draw(values)
    elif how == 4:  # ends before it starts
        body["until"] = body["since"] - draw(st.integers(1, 10**6))
    else:  # the other gateway's terminal, named in a payload on this gateway's topic
        body["terminal"] = draw(st.sampled_from(["t-1", "t-2", UNENROLLED_TERMINAL]))


@st.composite
def window(draw: st.DrawFn, ts: int) -> dict[str, Any]:
    """A valid transactions window; few distinct ``since``: replays of the same window."""
    since = ts - 3600 + 1200 * draw(st.integers(0, 3))
    counts = st.integers(0, 500)
    body: dict[str, Any] = {"since": since, "until": since + 1200}
    body |= draw(
        st.fixed_dictionaries(
            {},
            optional={
                "outcomes": st.dictionaries(st.sampled_from(OUTCOMES), counts, max_size=5),
                "responses": st.dictionaries(st.sampled_from(CLASSES), counts, max_size=4),
                "approved_amount": st.integers(0, MAX_AMOUNT),
                "refunded_amount": st.integers(0, 10**6),
                "currency": st.sampled_from(["CNY", "HKD"]),
                "last_txn_at": st.integers(since, since + 1200),
                "acquirer": st.sampled_from(["unionpay-sh", "lakala"]),
                "batch": st.fixed_dictionaries(
                    {
                        "id": st.sampled_from(["B1", "B2", "2026112200000017"]),
                        "count": counts,
                        "amount": st.integers(0, MAX_AMOUNT),
                        "currency": st.just("CNY"),
                        "closed_at": st.just(since + 1100),
                    }
                ),
            },
        )
    )
    return body


@st.composite
def valid_message(draw: st.DrawFn, any_kind: bool = False) -> tuple[str, bytes, bool]:
    """Sensible traffic, so that liveness, incidents and alerts actually move; now and then
    from a gateway or a terminal not enrolled, or a terminal on the other gateway."""
    gw = draw(st.sampled_from([*GATEWAYS, *GATEWAYS, *GATEWAYS, UNENROLLED_GATEWAY]))
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
    own = TERMINALS.get(gw, [])
    terminal = draw(st.none() | st.sampled_from([*own * 6, "t-1", "t-2", UNENROLLED_TERMINAL]))
    body = {"v": 1, "gw": gw, "ts": ts}
    if terminal:
        body["terminal"] = terminal
    parts: dict[str, dict[str, Any]] = {
        "heartbeat": {"session": session, "seq": draw(st.integers(0, 6)), "interval": 30},
        "hardware": {"battery_pct": draw(st.integers(0, 100)), "printer": "ok"},
        "network": {"link": "wifi", "latency_ms": draw(st.floats(0, 900)), "loss_pct": 0},
        "firmware": {"os": "Debian 12", "terminal_fw": "1.0"},
        "event": {"type": "tamper", "data": {"n": 1}},
        "transactions": draw(window(ts)) if kind == "transactions" else {},
    }
    body |= parts[kind]
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


def all_valid_traffic() -> tuple[
    list[Any], Counter[str], set[tuple[Any, ...]], set[tuple[Any, ...]]
]:
    """What a healthy enrolled fleet sends, every kind, through sessions, graceful stops
    and restarts: (steps, messages sent by kind, windows (gateway, terminal, approved) and
    batches (gateway, terminal, id, amount) that must be stored). One window is sent twice
    (the agent's at-least-once replay): accepted both times, stored once."""
    steps: list[Any] = []
    sent: Counter[str] = Counter()
    windows: set[tuple[Any, ...]] = set()
    batches: set[tuple[Any, ...]] = set()
    seq: Counter[str] = Counter()
    ts = 1795339200

    def msg(gw: str, terminal: str | None, kind: str, **fields: Any) -> tuple[str, bytes, bool]:
        sent[kind] += 1
        body = {"v": 1, "gw": gw, "ts": ts, **({"terminal": terminal} if terminal else {})}
        topic = f"posfleet/v1/{gw}/" + (f"terminal/{terminal}/" if terminal else "") + kind
        return topic, json.dumps(body | fields).encode(), kind == "status"

    for rnd in range(6):
        session = rnd // 2 + 1  # a graceful stop every second round, then a new session
        steps.append([msg(gw, None, "status", state="online", session=session) for gw in GATEWAYS])
        for minute in range(3):
            batch = []
            for gw, terminals in TERMINALS.items():
                for subject in [None, *terminals]:
                    seq[subject or gw] += 1
                    beat = {"session": session, "seq": seq[subject or gw], "interval": 30}
                    batch.append(msg(gw, subject, "heartbeat", **beat))
                    since = ts - 86400 + 1200 * (3 * rnd + minute)
                    approved = len(windows) + 1  # each window its own count
                    window: dict[str, Any] = {"since": since, "until": since + 1200}
                    window["currency"] = "CNY"
                    window |= {"outcomes": {"approved": approved, "declined": 2}}
                    window |= {"responses": {"approved": approved, "cardholder_decline": 2}}
                    window |= {"approved_amount": 100 * approved, "last_txn_at": since + 600}
                    window |= {"acquirer": "unionpay-sh"}
                    if minute == 2:  # the batch closes at the end of the round
                        amount = 1000 * approved
                        window["batch"] = {"id": f"B{rnd}", "count": approved}
                        window["batch"] |= {"amount": amount, "currency": "CNY"}
                        window["batch"]["closed_at"] = since + 1100
                        batches.add((gw, subject or "", f"B{rnd}", amount))
                    windows.add((gw, subject or "", approved))
                    batch.append(msg(gw, subject, "transactions", **window))
                    if rnd == 1 and minute == 0:  # replayed: accepted again, stored once
                        batch.append(msg(gw, subject, "transactions", **window))
                    batch.append(msg(gw, subject, "network", link="wifi", latency_ms=40.0))
                    batch.append(msg(gw, subject, "firmware", os="Debian 12", terminal_fw="1.0"))
                    batch.append(msg(gw, subject, "hardware", battery_pct=80, printer="ok"))
                    batch.append(msg(gw, subject, "event", type="tamper", data={"n": minute}))
            steps += [batch, "advance"]
        if rnd % 2:
            stops = [
                msg(gw, None, "status", state="offline", session=session, reason="upgrade")
                for gw in GATEWAYS
            ]
            steps += [stops, "advance"]
    return steps, sent, windows, batches


def test_an_all_valid_run_through_the_same_harness_is_accepted_and_stored(
    tmp_path: Path,
) -> None:
    """The fuzz above proves nothing about the accepted path if its valid messages are all
    rejected (they were, ``unregistered``, once enrolment became required): a healthy
    enrolled fleet's traffic, every kind, must be accepted whole and its money stored."""
    steps, sent, windows, batches = all_valid_traffic()
    ran = run_steps(tmp_path / "valid.sqlite", steps)
    assert ran.rejected == {}
    assert ran.accepted == {k: float(v) for k, v in sent.items()}
    assert set(KINDS) <= set(ran.accepted)
    assert len(ran.windows) == len(windows)  # the replayed window stored once
    assert {(g, t, n) for g, t, _, n in ran.windows} == windows
    assert set(ran.batches) == batches


def enrol(store: SqliteStore) -> None:
    """What an operator's inventory import does: the gateways, each terminal behind its own
    (UNENROLLED_GATEWAY and UNENROLLED_TERMINAL stay out)."""
    with store.conn:
        upsert_rows(store.conn, "regions", [{"region_id": "east"}])
        upsert_rows(
            store.conn, "sites", [{"site_id": "S1", "region_id": "east", "tz": "Asia/Shanghai"}]
        )
        upsert_rows(
            store.conn,
            "gateways",
            [{"gateway_id": g, "site_id": "S1", "region_id": "east"} for g in GATEWAYS],
        )
        upsert_rows(
            store.conn,
            "terminals",
            [{"terminal_id": t, "gateway_id": g} for g, ts in TERMINALS.items() for t in ts],
        )


@dataclass
class Ran:
    accepted: dict[str, float]  # by kind
    rejected: dict[str, float]  # by reason
    windows: list[tuple[Any, ...]]  # txn_aggregates: (gateway, terminal, since, approved)
    batches: list[tuple[Any, ...]]  # txn_batches: (gateway, terminal, batch id, amount)


def run_steps(path: Path, steps: list[Any]) -> Ran:
    clock = FakeClock()
    registry = CollectorRegistry()
    store = SqliteStore(path)
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
        conn = p.store.conn
        return Ran(
            _by(registry, "posfleet_collector_messages_total", "kind"),
            _by(registry, "posfleet_collector_rejected_total", "reason"),
            conn.execute(
                "SELECT gateway_id, terminal_id, window_start, approved FROM txn_aggregates "
                "ORDER BY gateway_id, terminal_id, window_start"
            ).fetchall(),
            conn.execute(
                "SELECT gateway_id, terminal_id, batch_id, amount FROM txn_batches "
                "ORDER BY gateway_id, terminal_id, batch_id"
            ).fetchall(),
        )
    finally:
        store.close()


def _by(registry: CollectorRegistry, name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == name and sample.value:
                key = sample.labels[label]
                out[key] = out.get(key, 0.0) + sample.value
    return out


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


def _first(subject_type: str) -> str:
    """A subject's status before its first state change: a site has no stored status (it is
    down while all its gateways are), its first change is online -> down."""
    return "online" if subject_type == "site" else "unknown"


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
    # Money only for a device enrolled behind that gateway, and nothing like a card number.
    for table in ("txn_aggregates", "txn_batches"):
        assert not conn.execute(
            f"SELECT gateway_id, terminal_id FROM {table} x WHERE NOT EXISTS (SELECT 1 FROM "
            "gateways g WHERE g.gateway_id = x.gateway_id AND g.registered = 1) OR "
            "(x.terminal_id != '' AND NOT EXISTS (SELECT 1 FROM terminals t WHERE "
            "t.terminal_id = x.terminal_id AND t.gateway_id = x.gateway_id AND t.registered = 1))"
        ).fetchall(), table
    for row in conn.execute("SELECT acquirer, currency, last_txn_at FROM txn_aggregates"):
        assert card_field(list(row)) is None
    for row in conn.execute("SELECT batch_id, currency, closed_at FROM txn_batches"):
        assert card_field(list(row)) is None
    # Every subject's state changes form a chain that ends in its stored status.
    last: dict[tuple[str, str], str] = {}
    for stype, sid, frm, to in conn.execute(
        "SELECT subject_type, subject_id, from_status, to_status FROM state_changes ORDER BY id"
    ):
        assert last.get((stype, sid), _first(stype)) == frm, (stype, sid)
        last[(stype, sid)] = to
    for (stype, sid), status in stored.items():
        if stype is not SubjectType.SITE:
            assert last.get((stype.value, sid), "unknown") == status, (stype, sid)
    # An open incident exactly for what is down.
    open_incidents = set(
        conn.execute("SELECT subject_type, subject_id FROM incidents WHERE ended_at IS NULL")
    )
    down = {(t.value, sid) for (t, sid), status in stored.items() if status == "down"}
    down |= {key for key, status in last.items() if key[0] == "site" and status == "down"}
    assert open_incidents == down
