"""No message stops the processing loop (issue 13): a message whose handling or storing
fails is rejected ``internal`` and the rest of its batch is stored; the liveness tracker
then agrees with the store again; a step that fails as a whole backs off instead of dying.

Fake clock, real SQLite file; the failures are injected where a real one would come from
(the tracker, the store's write, the store's connection).
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from collector.ingest import Item, LinkEvent, Received
from collector.inventory import upsert_rows
from collector.liveness import LivenessTracker, Outcome
from collector.metrics import CollectorMetrics
from collector.model import Liveness, SubjectType
from collector.processor import Processor, ProcessorSettings
from collector.store import db
from collector.store.sqlite import Batch, SqliteStore, WriteResult
from simulators.stack.wait import wait_for
from telemetry import FakeClock, Heartbeat, Kind, Status, encode, topic_for
from telemetry.models import LinkState, OfflineReason


class PoisonStore(SqliteStore):
    """A store whose write raises for any batch that touches one of ``poison`` gateways,
    the way the huge session raised OverflowError inside sqlite3 before the limits."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.poison: set[str] = set()
        self.writes = 0

    def write(self, conn: sqlite3.Connection, batch: Batch) -> WriteResult:
        self.writes += 1
        touched = set(batch.gateways) | {t.subject_id for t in batch.transitions}
        if touched & self.poison:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return super().write(conn, batch)


class ExplodingTracker(LivenessTracker):
    def __init__(self) -> None:
        super().__init__()
        self.explode_for: set[str] = set()

    def observe_heartbeat(self, gateway_id: str, *args: Any, **kw: Any) -> Outcome:
        if gateway_id in self.explode_for:
            raise ZeroDivisionError("a bug in the tracker")
        return super().observe_heartbeat(gateway_id, *args, **kw)


GATEWAYS = ("gw-0", "gw-1", "gw-2", "gw-bad", "gw-poison")


def _processor(
    tmp_path: Path, *, store: SqliteStore | None = None, tracker: LivenessTracker | None = None
) -> tuple[Processor, FakeClock, CollectorRegistry]:
    clock = FakeClock()
    registry = CollectorRegistry()
    store = store or SqliteStore(tmp_path / "p.sqlite")
    with store.conn:  # only gateways in the inventory are tracked (collector/enrolment.py)
        upsert_rows(store.conn, "sites", [{"site_id": "S1", "region_id": "north"}])
        upsert_rows(store.conn, "gateways", [{"gateway_id": g, "site_id": "S1"} for g in GATEWAYS])
    p = Processor(
        store,
        LivenessTracker() if tracker is None else tracker,  # an empty tracker is falsy
        CollectorMetrics(registry),
        queue.SimpleQueue(),
        clock=clock,
        settings=ProcessorSettings(backoff_min_s=0.02, backoff_max_s=0.16),
    )
    p.process([LinkEvent(True, clock.now(), clock.monotonic())])
    return p, clock, registry


def _beat(clock: FakeClock, gw: str, seq: int, session: int = 1) -> Received:
    hb = Heartbeat(gw=gw, ts=clock.now(), session=session, seq=seq, interval=60)
    return Received(topic_for(gw, Kind.HEARTBEAT), encode(hb), clock.now(), clock.monotonic())


def _offline(clock: FakeClock, gw: str, session: int = 1) -> Received:
    st = Status(
        gw=gw,
        ts=clock.now(),
        state=LinkState.OFFLINE,
        session=session,
        reason=OfflineReason.UPGRADE,
    )
    return Received(topic_for(gw, Kind.STATUS), encode(st), clock.now(), clock.monotonic())


def _stored(p: Processor) -> dict[str, str]:
    """The gateways the collector has seen (enrolled ones it never heard from stay unknown)."""
    return dict(
        p.store.conn.execute(
            "SELECT gateway_id, status FROM gateways WHERE status != 'unknown'"
        ).fetchall()
    )


def _count(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels or None) or 0.0


def test_a_message_whose_handling_raises_is_rejected_internal_and_its_batch_is_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = ExplodingTracker()
    tracker.explode_for.add("gw-bad")
    p, clock, registry = _processor(tmp_path, tracker=tracker)
    p.process([_beat(clock, "gw-1", 0), _beat(clock, "gw-bad", 0), _beat(clock, "gw-2", 0)])
    assert _stored(p) == {"gw-1": "online", "gw-2": "online"}
    rejected = "posfleet_collector_rejected_total"
    assert _count(registry, rejected, reason="internal") == 1.0
    assert _count(registry, "posfleet_collector_messages_total", kind="heartbeat") == 2.0
    assert any(
        "internal" in r.getMessage() and "ZeroDivisionError" in r.getMessage()
        for r in caplog.records
    )
    p.store.close()


def test_a_failing_batch_is_stored_message_by_message_and_only_the_poison_is_lost(
    tmp_path: Path,
) -> None:
    store = PoisonStore(tmp_path / "p.sqlite")
    store.poison.add("gw-poison")
    p, clock, registry = _processor(tmp_path, store=store)
    items: list[Item] = [_beat(clock, f"gw-{i}", 0) for i in range(3)]
    items.insert(1, _beat(clock, "gw-poison", 0))
    p.process(items)
    assert _stored(p) == {"gw-0": "online", "gw-1": "online", "gw-2": "online"}
    assert p.store.conn.execute(
        "SELECT subject_id FROM state_changes ORDER BY subject_id"
    ).fetchall() == [("gw-0",), ("gw-1",), ("gw-2",)]
    assert _count(registry, "posfleet_collector_rejected_total", reason="internal") == 1.0
    assert _count(registry, "posfleet_collector_messages_total", kind="heartbeat") == 3.0
    assert _count(registry, "posfleet_collector_loop_errors_total") == 1.0  # the batch
    # The tracker took the poison's heartbeat, the store did not: the tracker gives it back.
    state = p.tracker.get(SubjectType.GATEWAY, "gw-poison")
    assert state is not None
    assert state.status is Liveness.UNKNOWN
    # The gateway's next heartbeat (now storable) brings it online, in the store as well.
    store.poison.clear()
    clock.advance(1)
    p.process([_beat(clock, "gw-poison", 1)])
    assert _stored(p)["gw-poison"] == "online"
    p.store.close()


def test_a_lost_transition_is_taken_back_so_the_tracker_never_believes_what_the_store_lacks(
    tmp_path: Path,
) -> None:
    store = PoisonStore(tmp_path / "p.sqlite")
    p, clock, _registry = _processor(tmp_path, store=store)
    p.process([_beat(clock, "gw-1", 0), _beat(clock, "gw-2", 0)])
    clock.advance(5)
    store.poison.add("gw-1")
    p.process([_offline(clock, "gw-1"), _beat(clock, "gw-2", 1)])
    assert _stored(p) == {"gw-1": "online", "gw-2": "online"}
    state = p.tracker.get(SubjectType.GATEWAY, "gw-1")
    assert state is not None
    assert state.status is Liveness.ONLINE  # not "down": that change is not in the store
    # Back to online with a heartbeat deadline: silence still makes it late.
    clock.advance(60 + 15 + 1)
    store.poison.clear()
    p.process([_beat(clock, "gw-2", 2)])
    assert _stored(p) == {"gw-1": "late", "gw-2": "online"}
    # And the same offline, sent again, now lands.
    p.process([_offline(clock, "gw-1")])
    assert _stored(p)["gw-1"] == "down"
    changes = p.store.conn.execute(
        "SELECT from_status, to_status FROM state_changes WHERE subject_id='gw-1' ORDER BY id"
    ).fetchall()
    assert changes == [("unknown", "online"), ("online", "late"), ("late", "down")]
    p.store.close()


class FlakyConnectionStore(SqliteStore):
    """Every transaction fails (disk I/O error) while ``broken`` is set."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.broken = threading.Event()
        self.attempts: list[float] = []

    def write(self, conn: sqlite3.Connection, batch: Batch) -> WriteResult:
        if self.broken.is_set():
            self.attempts.append(time.monotonic())
            raise sqlite3.OperationalError("disk I/O error")
        return super().write(conn, batch)


def test_a_store_that_refuses_every_write_makes_the_loop_back_off_and_it_recovers(
    tmp_path: Path,
) -> None:
    store = FlakyConnectionStore(tmp_path / "p.sqlite")
    p, clock, registry = _processor(tmp_path, store=store)
    store.broken.set()
    stop = threading.Event()
    feeder_seq = iter(range(10_000))

    def feed() -> None:  # the broker keeps delivering while the store is down
        while not stop.is_set():
            p.inbox.put(_beat(clock, "gw-1", next(feeder_seq)))
            stop.wait(0.005)

    loop = threading.Thread(target=p.run, args=(stop,))
    feeder = threading.Thread(target=feed)
    loop.start()
    feeder.start()
    try:
        # The seventh attempt starts only after the loop has counted the sixth failure (one
        # thread): waiting for six raced the counter's increment under load.
        wait_for(lambda: len(store.attempts) >= 7, 20, what="seven failed attempts")
        gaps = [b - a for a, b in zip(store.attempts, store.attempts[1:], strict=False)]
        # Backoff 0.02 s doubling to 0.16 s: each batch's first failure is followed by a
        # wait of at least the current backoff (a batch fails fast: no one-by-one retry
        # hammering a store that says I/O error).
        assert all(g >= 0.02 * 0.9 for g in gaps[:5]), gaps
        assert max(gaps[:5]) >= 0.16 * 0.9, gaps
        assert _count(registry, "posfleet_collector_loop_errors_total") >= 6
        assert _count(registry, "posfleet_collector_rejected_total", reason="internal") >= 1
        assert loop.is_alive()
        store.broken.clear()
        wait_for(lambda: _stored(p).get("gw-1") == "online", 10, what="stored once healed")
    finally:
        stop.set()
        feeder.join(5)
        loop.join(5)
    assert not loop.is_alive()
    p.store.close()


def test_the_loop_survives_a_broker_link_that_raises_and_goes_on(tmp_path: Path) -> None:
    p, clock, registry = _processor(tmp_path)
    calls: list[float] = []

    def pump(_timeout: float) -> bool:
        calls.append(time.monotonic())
        if len(calls) <= 3:
            raise OSError("socket exploded")
        p.inbox.put(_beat(clock, "gw-1", len(calls)))
        return False

    p.pump = pump
    stop = threading.Event()
    loop = threading.Thread(target=p.run, args=(stop,))
    loop.start()
    try:
        wait_for(lambda: _stored(p).get("gw-1") == "online", 10, what="traffic after the errors")
    finally:
        stop.set()
        loop.join(5)
    assert _count(registry, "posfleet_collector_loop_errors_total") == 3.0
    # 0.02 + 0.04 + 0.08 s of backoff between the four first calls.
    assert calls[3] - calls[0] >= (0.02 + 0.04 + 0.08) * 0.9
    p.store.close()


def test_a_failed_commit_leaves_no_transaction_open(store_url: str) -> None:
    """A COMMIT that fails (here a deferred constraint; in production disk full or an I/O
    error) must roll back, or every later BEGIN fails and the store is wedged."""
    store = SqliteStore(store_url)
    tables = (
        "CREATE TABLE parent (id INTEGER PRIMARY KEY); "
        "CREATE TABLE child (pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);"
    )
    failure: type[Exception]
    if db.dialect(store.conn) == "sqlite":
        store.conn.executescript("PRAGMA foreign_keys=ON; " + tables)
        failure = sqlite3.IntegrityError
    else:
        import psycopg

        store.conn.executescript(tables)
        failure = psycopg.IntegrityError

    def half_written() -> None:
        with store.transaction() as conn:
            conn.execute("INSERT INTO audit_log (at, actor, action) VALUES ('x', 'a', 'b')")
            conn.execute("INSERT INTO child (pid) VALUES (42)")  # fails at COMMIT only

    with pytest.raises(failure):
        half_written()
    assert not store.conn.in_transaction
    with store.transaction() as conn:  # the next BEGIN works
        conn.execute("INSERT INTO audit_log (at, actor, action) VALUES ('x', 'a', 'c')")
    assert store.conn.execute("SELECT action FROM audit_log").fetchall() == [("c",)]
    store.close()
