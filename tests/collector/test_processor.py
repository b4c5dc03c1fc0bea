"""The processing loop with a fake clock and a real store of each engine (no broker)."""

from __future__ import annotations

import gc
import queue
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from collector.ingest import Item, LinkEvent, Received
from collector.inventory import upsert_rows
from collector.liveness import LivenessTracker
from collector.metrics import CollectorMetrics
from collector.model import Transition
from collector.processor import Processor, ProcessorSettings
from collector.store import db
from collector.store.store import Store
from collector.store.times import to_db
from telemetry import FakeClock, Heartbeat, Kind, encode, topic_for
from telemetry.codec import Decoded


class ExplodingListener:
    def __init__(self) -> None:
        self.calls = 0

    def on_messages(
        self, conn: db.Connection, messages: Sequence[tuple[Decoded, datetime]], now: datetime
    ) -> None:
        self.calls += 1
        conn.execute("INSERT INTO audit_log (at, actor, action) VALUES ('x', 'listener', 'half')")
        raise RuntimeError("boom")

    def on_transitions(
        self, conn: db.Connection, transitions: Sequence[Transition], now: datetime
    ) -> None:
        raise RuntimeError("boom")

    def tick(self, conn: db.Connection, now: datetime) -> None:
        pass


_OPEN: list[Store] = []  # every processor's store, closed after its test


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()  # closing twice is harmless on both engines


def enrol(store: Store, *gateways: str) -> None:
    """What an inventory import does: only enrolled gateways are tracked."""
    with store.conn:
        upsert_rows(store.conn, "sites", [{"site_id": "S1", "region_id": "north"}])
        upsert_rows(
            store.conn,
            "gateways",
            [{"gateway_id": g, "site_id": "S1", "region_id": "north"} for g in gateways],
        )


def _processor(
    target: str, *, enrolled: Sequence[str] = ("gw-0", "gw-1", "gw-2"), **kw: object
) -> tuple[Processor, FakeClock, CollectorRegistry]:
    clock = FakeClock()
    registry = CollectorRegistry()
    store = Store(target)
    _OPEN.append(store)
    enrol(store, *enrolled)
    p = Processor(
        store,
        LivenessTracker(),
        CollectorMetrics(registry),
        queue.SimpleQueue(),
        clock=clock,
        **kw,  # type: ignore[arg-type]
    )
    return p, clock, registry


def _beat(clock: FakeClock, gw: str, seq: int) -> Received:
    hb = Heartbeat(gw=gw, ts=clock.now(), session=1, seq=seq, interval=60)
    return Received(topic_for(gw, Kind.HEARTBEAT), encode(hb), clock.now(), clock.monotonic())


def test_a_failing_listener_loses_its_own_writes_but_never_the_batch(store_url: str) -> None:
    bad = ExplodingListener()
    p, clock, registry = _processor(store_url, listeners=[bad], enrolled=["gw-1"])
    items: list[Item] = [LinkEvent(True, clock.now(), clock.monotonic()), _beat(clock, "gw-1", 0)]
    p.process(items)
    conn = p.store.conn
    assert conn.execute("SELECT status FROM gateways").fetchall() == [("online",)]
    assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == (0,)
    assert registry.get_sample_value("posfleet_collector_listener_errors_total") == 2.0
    assert bad.calls == 1
    p.store.close()


def test_housekeeping_runs_once_per_period_and_its_failure_is_contained(store_url: str) -> None:
    runs: list[datetime] = []

    def chore(conn: db.Connection, now: datetime) -> None:
        runs.append(now)
        raise OSError("disk full")

    p, clock, _ = _processor(
        store_url,
        housekeeping=[chore],
        settings=ProcessorSettings(housekeeping_every_s=60),
        enrolled=["gw-1"],
    )
    for seq in range(10):
        clock.advance(15)
        p.process([_beat(clock, "gw-1", seq)])
    assert len(runs) == 2  # at 60 s and 120 s of 150 s
    assert p.store.conn.execute("SELECT status FROM gateways").fetchall() == [("online",)]
    p.store.close()


def _status(p: Processor, gw: str) -> str:
    return str(
        p.store.conn.execute("SELECT status FROM gateways WHERE gateway_id=?", (gw,)).fetchone()[0]
    )


def test_deadlines_wait_while_unread_messages_are_behind_us_then_are_judged(
    store_url: str,
) -> None:
    """A backlog (after a broker restart, a burst) is the collector's blind spot: the
    heartbeat that meets a deadline may be in it. Judged once caught up, or after
    max_defer_s in a row."""
    p, clock, registry = _processor(store_url, settings=ProcessorSettings(max_defer_s=30.0))
    p.process([LinkEvent(True, clock.now(), clock.monotonic()), _beat(clock, "gw-1", 0)])
    clock.advance(60 + 16)  # past interval + grace (15 s): late by now, were we caught up
    p.process([], behind=True)
    assert _status(p, "gw-1") == "online"
    clock.advance(1)
    p.process([_beat(clock, "gw-1", 1)], behind=True)  # it was in the backlog all along
    p.process([])
    assert _status(p, "gw-1") == "online"
    assert registry.get_sample_value("posfleet_collector_deadline_checks_deferred_total") == 2.0
    clock.advance(60 + 16)
    p.process([])  # caught up and silent: late
    assert _status(p, "gw-1") == "late"
    p.store.close()


def test_a_collector_that_stays_behind_judges_after_max_defer_s(store_url: str) -> None:
    p, clock, _registry = _processor(store_url, settings=ProcessorSettings(max_defer_s=30.0))
    p.process([LinkEvent(True, clock.now(), clock.monotonic()), _beat(clock, "gw-1", 0)])
    clock.advance(60 + 16)
    p.process([], behind=True)
    clock.advance(29)
    p.process([], behind=True)
    assert _status(p, "gw-1") == "online"
    clock.advance(1)
    p.process([], behind=True)
    assert _status(p, "gw-1") != "online"
    p.store.close()


def test_a_full_batch_counts_as_behind(store_url: str) -> None:
    p, clock, registry = _processor(store_url, settings=ProcessorSettings(batch_max=2))
    for i in range(3):
        p.inbox.put(_beat(clock, f"gw-{i}", 0))
    p.inbox.put(LinkEvent(True, clock.now(), clock.monotonic()))
    assert p.step(0) == 2
    assert registry.get_sample_value("posfleet_collector_deadline_checks_deferred_total") == 1.0
    p.store.close()


def test_a_postgresql_session_the_server_drops_is_replaced_and_ingest_goes_on(
    pg_url: str,
) -> None:
    """A server restart or failover ends the collector's session: the next batch's first read
    (the inventory's moves) finds it gone and replaces it, so that batch is stored; while the
    server refuses connections, the batch fails as a store that refuses writes does, and the
    next one runs on a new session."""
    import psycopg

    from collector.store.db import StoreError

    p, clock, registry = _processor(pg_url, enrolled=["gw-1"])
    p.process([LinkEvent(True, clock.now(), clock.monotonic()), _beat(clock, "gw-1", 0)])
    assert _status(p, "gw-1") == "online"

    name = pg_url.rsplit("/", 1)[1]

    def drop_sessions(admin: psycopg.Connection[Any]) -> int:
        (dropped,) = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
            (name,),
        ).fetchone() or (0,)
        return int(dropped)

    def last_seen() -> object:
        row = p.store.conn.execute(
            "SELECT last_seen_at FROM gateways WHERE gateway_id = 'gw-1'"
        ).fetchone()
        return None if row is None else row[0]

    # From another database: a database cannot refuse connections while one is in it.
    with psycopg.connect(pg_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        assert drop_sessions(admin) == 1
        clock.advance(1)
        p.process([_beat(clock, "gw-1", 1)])
        assert last_seen() == to_db(clock.now())
        # The server up but refusing the collector (a failover not done yet).
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            assert drop_sessions(admin) == 1
            clock.advance(1)
            with pytest.raises(StoreError, match="refuses writes"):
                p.process([_beat(clock, "gw-1", 2)])
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    assert (
        registry.get_sample_value("posfleet_collector_rejected_total", {"reason": "internal"})
        == 1.0
    )
    clock.advance(1)
    p.process([_beat(clock, "gw-1", 3)])
    assert last_seen() == to_db(clock.now())


class GcWitness(ExplodingListener):
    """Notes whether cyclic garbage collection was on while the batch was in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.enabled: list[bool] = []

    def on_messages(
        self, conn: db.Connection, messages: Sequence[tuple[Decoded, datetime]], now: datetime
    ) -> None:
        self.enabled.append(gc.isenabled())


def test_no_cyclic_collection_walks_a_batch_in_flight_and_it_is_back_on_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    witness = GcWitness()
    p, clock, _ = _processor(str(tmp_path / "gc.sqlite"), listeners=[witness], enrolled=["gw-1"])
    assert gc.isenabled()
    p.process([_beat(clock, "gw-1", 0)])
    assert witness.enabled == [False]
    assert gc.isenabled()

    # A batch that raises out of process() (nothing a message can cause) turns it back on.
    class Interrupted(BaseException):
        pass

    def interrupted(conn: db.Connection, batch: object) -> None:
        raise Interrupted

    monkeypatch.setattr(p.store, "write", interrupted)
    with pytest.raises(Interrupted):
        p.process([_beat(clock, "gw-1", 1)])
    assert gc.isenabled()
    monkeypatch.undo()
    # Off before (someone else's choice): left off.
    gc.disable()
    try:
        p.process([_beat(clock, "gw-1", 2)])
        assert not gc.isenabled()
    finally:
        gc.enable()
