"""Several collectors on one PostgreSQL store (collector/store/shared.py): processors with a
fake clock that moves the database's clock too, each on its own connection (no broker)."""

from __future__ import annotations

import contextlib
import itertools
import queue
import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg.sql
import pytest
from prometheus_client import CollectorRegistry

from collector.ingest import LinkEvent, Received
from collector.inventory import upsert_rows
from collector.liveness import LivenessConfig, LivenessTracker
from collector.metrics import CollectorMetrics
from collector.model import SubjectType
from collector.processor import Processor
from collector.store import db
from collector.store.shared import SharedLiveness, SharedSettings, View
from collector.store.store import Store
from telemetry import FakeClock, Heartbeat, Kind, encode, topic_for
from telemetry.models import LinkState, OfflineReason, Status

CONFIG = LivenessConfig()  # 60 s interval: late 15 s past it, down 15 s later
FORGET_S = 30.0

_OPEN: list[Store] = []


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _collectors(
    pg_url: str, n: int = 2, gateways: Sequence[str] = ("gw-1",)
) -> tuple[list[Processor], FakeClock]:
    """``n`` collectors sharing one store and one fake clock: the database's clock moves
    with the fake one only (the real time a slow test takes is taken off again)."""
    clock = FakeClock()
    start, real_start = clock.monotonic(), time.monotonic()
    out = []
    for i in range(n):
        store = Store(pg_url)
        _OPEN.append(store)
        if i == 0:
            with store.conn:
                upsert_rows(store.conn, "sites", [{"site_id": "S1", "region_id": "north"}])
                upsert_rows(
                    store.conn,
                    "gateways",
                    [{"gateway_id": g, "site_id": "S1", "region_id": "north"} for g in gateways],
                )
        shared = SharedLiveness(
            CONFIG,
            SharedSettings(f"member-{i}", forget_s=FORGET_S),
            offset=lambda: (clock.monotonic() - start) - (time.monotonic() - real_start),
        )
        with store.transaction() as conn:
            shared.seed(conn)
        out.append(
            Processor(
                store,
                LivenessTracker(CONFIG),
                CollectorMetrics(CollectorRegistry()),
                queue.SimpleQueue(),
                clock=clock,
                shared=shared,
            )
        )
    return out, clock


def _connect(ps: Sequence[Processor], clock: FakeClock) -> None:
    for p in ps:
        p.process([LinkEvent(True, clock.now(), clock.monotonic())])


def _beat(clock: FakeClock, gw: str, seq: int, session: int = 1) -> Received:
    hb = Heartbeat(gw=gw, ts=clock.now(), session=session, seq=seq, interval=60)
    return Received(topic_for(gw, Kind.HEARTBEAT), encode(hb), clock.now(), clock.monotonic())


def _status_msg(clock: FakeClock, gw: str, state: LinkState, session: int) -> Received:
    msg = Status(
        gw=gw,
        ts=clock.now(),
        state=state,
        session=session,
        reason=OfflineReason.CONNECTION_LOST if state is LinkState.OFFLINE else None,
    )
    return Received(topic_for(gw, Kind.STATUS), encode(msg), clock.now(), clock.monotonic())


def _judge(ps: Sequence[Processor]) -> None:
    """Every collector's loop comes round: beats, and claims what is due. (Tests move the
    clock less than ``beat_timeout_s`` between two rounds: a collector silent longer holds
    the fleet, see the tests of blindness below.)"""
    for p in ps:
        p._next_claim = 0.0  # the fake clock moved: due now, whatever the wait said
        p.process([])


def _changes(p: Processor, gw: str = "gw-1") -> list[tuple[str, str]]:
    return [
        (str(a), str(b))
        for a, b in p.store.conn.execute(
            "SELECT from_status, to_status FROM state_changes WHERE subject_id = ? ORDER BY id",
            (gw,),
        ).fetchall()
    ]


def _late_only_after(ps: Sequence[Processor], clock: FakeClock, seconds: float) -> None:
    """A round now leaves gw-1 online (nothing but its first transition, on ``ps[0]``'s
    store); the round ``seconds`` later finds it late."""
    _judge(ps)
    assert _changes(ps[0]) == [("unknown", "online")]
    clock.advance(seconds)
    _judge(ps)
    assert _changes(ps[0])[-1] == ("online", "late")


@contextlib.contextmanager
def _write_lock_held(pg_url: str, p: Processor, lock_timeout: str = "200ms") -> Iterator[None]:
    """Another transaction holds the store's write lock; ``p`` waits ``lock_timeout`` for it."""
    p.store.conn.execute(f"SET lock_timeout = '{lock_timeout}'")
    p.store.conn.commit()
    with psycopg.connect(pg_url) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", (db.WRITE_LOCK_KEY,))
        yield
        other.rollback()


def test_alternate_heartbeats_out_of_order_on_two_collectors_raise_no_false_late(
    pg_url: str,
) -> None:
    """Each collector sees every other heartbeat (one every 120 s, past its deadline had it
    judged alone), and the broker hands them out of order across the two."""
    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    seq = 0
    for _ in range(6):
        clock.advance(60)
        # seq+1 reaches its collector before seq reaches the other
        ps[1].process([_beat(clock, "gw-1", seq + 1)])
        ps[0].process([_beat(clock, "gw-1", seq)])
        _judge(ps)
        clock.advance(60)
        ps[0].process([_beat(clock, "gw-1", seq + 2)])
        _judge(ps)
        seq += 3
    assert _changes(ps[0]) == [("unknown", "online")]
    row = (
        ps[0]
        .store.conn.execute("SELECT seq, session FROM liveness_state WHERE subject_id = 'gw-1'")
        .fetchone()
    )
    assert tuple(row) == (17, 1)  # the older seq delivered after a newer one did not win


def test_one_real_outage_is_one_late_and_one_down_across_two_collectors(pg_url: str) -> None:
    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    for seq in range(4):
        clock.advance(60)
        ps[seq % 2].process([_beat(clock, "gw-1", seq)])
        _judge(ps)
    for _ in range(8):  # silence: 8 x 5 s = 40 s past the deadline (75 s)
        clock.advance(5)
        _judge(ps)
    clock.advance(60)
    _judge(ps)
    assert _changes(ps[0]) == [("unknown", "online"), ("online", "late"), ("late", "down")]
    (incidents,) = ps[1].store.conn.execute("SELECT count(*) FROM incidents").fetchone()
    assert incidents == 1
    ps[1].process([_beat(clock, "gw-1", 0, session=2)])  # back with a new session
    assert _changes(ps[0])[-1] == ("down", "online")


def test_a_will_on_one_collector_and_a_stale_heartbeat_on_the_other_stay_down(
    pg_url: str,
) -> None:
    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    ps[0].process([_status_msg(clock, "gw-1", LinkState.ONLINE, 1)])
    clock.advance(5)
    ps[0].process([_status_msg(clock, "gw-1", LinkState.OFFLINE, 1)])  # the will, held 2 s
    ps[1].process([_beat(clock, "gw-1", 5, session=1)])  # delivered late: its session ended
    clock.advance(3)
    _judge(ps)
    assert _changes(ps[1]) == [("unknown", "online"), ("online", "down")]


def test_a_due_deadline_fires_exactly_once_when_two_collectors_race(pg_url: str) -> None:
    gateways = [f"gw-{i}" for i in range(300)]
    ps, clock = _collectors(pg_url, gateways=gateways)
    _connect(ps, clock)
    ps[0].process([_beat(clock, g, 0) for g in gateways[::2]])
    ps[1].process([_beat(clock, g, 0) for g in gateways[1::2]])
    clock.advance(76)  # every deadline is due
    for p in ps:
        p._next_claim = 0.0
    go = threading.Barrier(len(ps))
    errors: list[BaseException] = []

    def judge(p: Processor) -> None:
        try:
            go.wait(10)
            for _ in range(3):
                p._next_claim = 0.0
                p.process([])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=judge, args=(p,)) for p in ps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    late = (
        ps[0]
        .store.conn.execute(
            "SELECT subject_id, count(*) FROM state_changes WHERE to_status = 'late' "
            "GROUP BY subject_id"
        )
        .fetchall()
    )
    assert len(late) == len(gateways)
    assert {n for _g, n in late} == {1}


def test_a_blind_collector_holds_every_deadline_of_the_fleet(pg_url: str) -> None:
    """One collector lost the broker: the share of heartbeats the broker had for it may be
    queued or lost, so its blindness is the fleet's. Deadlines restart when it sees again."""
    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    clock.advance(1)
    ps[0].process([_beat(clock, "gw-1", 0)])
    ps[1].process([LinkEvent(False, clock.now(), clock.monotonic())])  # blind
    for _ in range(10):  # 100 s: past late (75 s) and down (90 s)
        clock.advance(10)
        _judge(ps)
    assert _changes(ps[0]) == [("unknown", "online")]
    ps[1].process([LinkEvent(True, clock.now(), clock.monotonic())])
    clock.advance(74)  # the deadline restarted when the fleet saw again
    _late_only_after(ps, clock, 2)


def test_a_collector_that_stops_beating_holds_deadlines_until_it_is_forgotten(
    pg_url: str,
) -> None:
    """Killed (no goodbye): its beat stops. It holds the fleet's deadlines until
    ``forget_s`` has passed (by then the broker has dropped its session), then every
    deadline restarts from there."""
    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    start = clock.monotonic()
    ps[0].process([_beat(clock, "gw-1", 0)])
    alive = ps[:1]  # ps[1] is killed: it never runs again
    # Rounds at 2.5, 7.5 ... 32.5 s, none on the 30 s boundary itself (where the database's
    # clock and the fake one may differ by the milliseconds a query takes): still held at
    # 27.5 s, forgotten by the round at 32.5 s, which restarts every deadline.
    clock.advance(2.5)
    _judge(alive)
    while clock.monotonic() - start < FORGET_S:
        clock.advance(5)
        _judge(alive)
    forgotten = clock.monotonic()
    assert forgotten - start == FORGET_S + 2.5
    assert _changes(ps[0]) == [("unknown", "online")]
    clock.advance(forgotten + 74 - clock.monotonic())  # the deadline restarted when forgotten
    _late_only_after(alive, clock, 2)


def test_a_collector_that_leaves_cleanly_holds_nothing(pg_url: str) -> None:
    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    ps[0].process([_beat(clock, "gw-1", 0)])
    shared = ps[1].shared
    assert shared is not None
    with ps[1].store.transaction() as conn:
        shared.leave(conn)
    clock.advance(76)
    _judge(ps[:1])
    assert _changes(ps[0])[-1] == ("online", "late")


def test_an_unknown_gateway_on_the_shared_store_is_listed_not_tracked(pg_url: str) -> None:
    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    ps[0].process([_beat(clock, "gw-x", 0)])
    conn = ps[0].store.conn
    assert (
        conn.execute("SELECT count(*) FROM liveness_state WHERE subject_id='gw-x'").fetchone()[0]
        == 0
    )
    assert conn.execute("SELECT count(*) FROM enrolment").fetchone()[0] == 1


def _link(p: Processor, clock: FakeClock, connected: bool) -> None:
    # A share-group member's session is clean: never present when it connects.
    p.process([LinkEvent(connected, clock.now(), clock.monotonic(), "", False)])


def test_a_member_that_reconnects_while_another_sees_starts_no_restart_hold(
    pg_url: str,
) -> None:
    """Its clean session was not kept, but the broker did not restart: another member saw
    all along. A will after it is held ``will_hold_s``, not the restart hold."""
    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    ps[0].process([_status_msg(clock, "gw-1", LinkState.ONLINE, 1)])
    clock.advance(1)
    _link(ps[1], clock, False)
    clock.advance(1)
    _judge(ps)
    _link(ps[1], clock, True)
    _judge(ps)
    clock.advance(1)
    ps[1].process([_status_msg(clock, "gw-1", LinkState.OFFLINE, 1)])
    clock.advance(3)
    _judge(ps)
    assert _changes(ps[0])[-1] == ("online", "down")


def test_a_broker_restart_holds_wills_for_the_restart_hold_across_the_fleet(
    pg_url: str,
) -> None:
    """Every member lost the broker: the first back finds nobody seeing, so the broker
    restarted. Its wills (a restarting broker publishes them) wait for the restart hold."""
    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    ps[0].process([_status_msg(clock, "gw-1", LinkState.ONLINE, 1)])
    clock.advance(1)
    for p in ps:
        _link(p, clock, False)
    clock.advance(5)
    _judge(ps)
    for p in ps:
        _link(p, clock, True)
    _judge(ps)
    ps[0].process([_status_msg(clock, "gw-1", LinkState.OFFLINE, 1)])
    for _ in range(10):  # 50 s, well past will_hold_s
        clock.advance(5)
        _judge(ps)
    assert _changes(ps[0]) == [("unknown", "online")]
    for _ in range(int(CONFIG.restart_hold_s // 5)):
        clock.advance(5)
        _judge(ps)
    assert _changes(ps[0])[-1] == ("online", "down")


def test_a_collector_starting_up_holds_nobody_until_it_has_connected(pg_url: str) -> None:
    """Not yet connected, it receives no share of the group: the fleet does not wait for it
    (and its first connection makes nobody blind either)."""
    ps, clock = _collectors(pg_url)
    ps[0].process([LinkEvent(True, clock.now(), clock.monotonic())])
    ps[0].process([_beat(clock, "gw-1", 0)])
    clock.advance(76)
    _judge(ps)  # ps[1] runs its loop, not connected yet
    assert _changes(ps[0])[-1] == ("online", "late")


def test_heartbeats_lost_to_a_store_that_refused_writes_restart_every_deadline(
    pg_url: str,
) -> None:
    """A PostgreSQL restart or failover loses the batch in flight (its messages are rejected
    ``internal``): the fleet never stored that evidence, so its deadlines restart, as after
    any blindness, instead of firing on heartbeats that did arrive."""
    import psycopg

    from collector.store.db import StoreError

    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    ps[0].process([_beat(clock, "gw-1", 0)])
    clock.advance(60)
    # The server drops every session and refuses new ones for a while (a failover): a
    # session merely dropped is replaced by the batch's first read, nothing lost. From
    # another database: a database cannot refuse connections while one is in it.
    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            with pytest.raises(StoreError, match="refuses writes"):
                ps[0].process([_beat(clock, "gw-1", 1)])  # lost with the session
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    clock.advance(1)
    for p in ps:
        p._next_claim = 0.0
        with contextlib.suppress(StoreError):  # ps[1]'s session was dropped too
            p.process([])
    _judge(ps)  # the store is back: the fleet restarts its deadlines (at 61 s)
    for _ in range(3):  # 76 s: past the deadline of the last heartbeat the store holds
        clock.advance(5)
        _judge(ps)
    assert _changes(ps[0]) == [("unknown", "online")]
    for _ in range(11):  # 131 s
        clock.advance(5)
        _judge(ps)
    clock.advance(4)  # 135 s: the restarted deadline (61 + 75) is 1 s away
    _late_only_after(ps, clock, 2)


def test_a_fleet_that_starts_cold_takes_the_statuses_a_lone_collector_left(
    pg_url: str,
) -> None:
    """The store ran without a share group in between (a lone collector marked gw-1 down):
    when no member is running, the next to start takes the statuses from the store, so the
    gateway's return is a transition and not lost against a stale row."""
    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    ps[0].process([_beat(clock, "gw-1", 0)])
    for p in ps:
        shared = p.shared
        assert shared is not None
        with p.store.transaction() as conn:
            shared.leave(conn)
    with ps[0].store.conn as conn:  # what a lone collector wrote meanwhile
        conn.execute("UPDATE gateways SET status = 'down' WHERE gateway_id = 'gw-1'")
    again, clock2 = _collectors(pg_url, n=1)
    _connect(again, clock2)
    again[0].process([_beat(clock2, "gw-1", 0, session=2)])
    assert _changes(again[0])[-1] == ("down", "online")
    (status,) = (
        again[0]
        .store.conn.execute("SELECT status FROM gateways WHERE gateway_id = 'gw-1'")
        .fetchone()
    )
    assert status == "online"


def test_a_batch_a_busy_store_refused_is_stored_from_memory_not_lost(pg_url: str) -> None:
    """Another transaction holds the store's write lock past ``lock_timeout`` (three
    collectors under load): the heartbeat's batch is refused, kept, and stored by the next
    step, instead of being rejected ``internal`` and lost (a false late, then down)."""

    from collector.store.db import StoreError

    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    p = ps[0]
    registry = CollectorRegistry()
    p.metrics = CollectorMetrics(registry)
    with _write_lock_held(pg_url, p), pytest.raises(StoreError, match="busy"):
        p.process([_beat(clock, "gw-1", 0)])
    assert _changes(p) == []
    p.step(0)  # the loop's next step, after its backoff: the same batch, from memory
    assert _changes(p) == [("unknown", "online")]
    assert registry.get_sample_value("posfleet_collector_store_retries_total") == 1
    assert not registry.get_sample_value(
        "posfleet_collector_rejected_total", {"reason": "internal"}
    )
    assert (
        registry.get_sample_value("posfleet_collector_messages_total", {"kind": "heartbeat"}) == 1
    )


def test_a_heartbeat_one_collector_holds_unstored_is_not_judged_missing_by_another(
    pg_url: str,
) -> None:
    """A collector's batch waits for the write lock (refused busy, then retried) with the
    heartbeat that meets the deadline: the other collector's claim must not fire that
    deadline meanwhile. Deadlines fire up to the oldest member's watermark (its beat)."""

    from collector.store.db import StoreError

    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    ps[0].process([_beat(clock, "gw-1", 0)])  # due late at 75 s
    clock.advance(69)
    _judge(ps)
    clock.advance(1)
    held = _beat(clock, "gw-1", 1)  # received at 70 s
    with _write_lock_held(pg_url, ps[0]), pytest.raises(StoreError, match="busy"):
        ps[0].process([held])
    clock.advance(6)  # 76 s: past the stored deadline; the heartbeat is not stored yet
    _judge([ps[1]])
    assert _changes(ps[0]) == [("unknown", "online")]
    ps[0].step(0)  # stored now (its watermark: 70 s, when it was received)
    for _ in range(13):  # 141 s
        clock.advance(5)
        _judge(ps)
    clock.advance(3)  # 144 s
    # 146 s: its deadline runs from its receipt (70 + 75), not its storing
    _late_only_after(ps, clock, 2)


def test_a_heartbeat_waiting_unread_in_a_members_socket_is_not_judged_missing(
    pg_url: str,
) -> None:
    """A member behind (a whole burst read and more waiting on its socket): what waits was
    sent before the newest message it read, so its watermark stays at the last moment it
    had read everything. The other member must not fire a deadline past it, though the
    behind member keeps storing batches of fresh messages meanwhile."""
    ps, clock = _collectors(pg_url, gateways=("gw-1", "gw-2"))
    _connect(ps, clock)
    ps[0].process([_beat(clock, "gw-1", 0)])  # due late at 75 s
    clock.advance(65)
    ps[0].step(0)  # everything read: drained at 65 s
    _judge(ps)
    # 70 s: gw-1's next heartbeat waits in ps[0]'s socket; ps[0] reads and stores other
    # messages in bursts, more still unread behind them, until 80 s.
    for _ in range(3):  # 70, 75, 80 s
        clock.advance(5)
        ps[0].inbox.put(_beat(clock, "gw-2", int(clock.monotonic())))
        ps[0].step(0, behind=True)
        _judge([ps[1]])
    assert _changes(ps[0]) == [("unknown", "online")]
    ps[0].inbox.put(_beat(clock, "gw-1", 1))  # read at last (received now, at 80 s)
    ps[0].step(0)
    _judge(ps)
    assert _changes(ps[0]) == [("unknown", "online")]


def test_a_deadline_runs_from_the_heartbeats_receipt_not_from_its_batch(pg_url: str) -> None:
    """A heartbeat whose batch waited (the write lock, a busy queue) is late 75 s after it
    came, as with one collector: not 75 s after its batch reached the store."""
    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    ps[0].process([_beat(clock, "gw-1", 0)])
    clock.advance(30)
    _judge(ps)
    waiting = _beat(clock, "gw-1", 1)  # received at 30 s
    clock.advance(5)
    ps[0].process([waiting])  # stored at 35 s
    for _ in range(15):  # 104 s
        clock.advance(4.6)
        _judge(ps)
    assert _changes(ps[0]) == [("unknown", "online")]
    clock.advance(1.5)  # 105.5 s: 75 s past its receipt, 4.5 s before its storing's
    _judge(ps)
    assert _changes(ps[0])[-1] == ("online", "late")


def test_a_member_killed_and_restarted_at_once_restarts_every_deadline(pg_url: str) -> None:
    """The messages a killed member had read and not stored are lost (a clean session is not
    kept), and back at once it beats again before the fleet ever counts it silent: its
    start marks the fleet blind, so the deadlines restart instead of firing on the
    heartbeats it lost."""
    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    ps[0].process([_beat(clock, "gw-1", 0)])  # stored; due late at 75 s
    clock.advance(70)
    _judge(ps)
    ps[0].process([])  # and here it is killed, the heartbeat of 70 s unstored with it
    clock.advance(1)
    old = ps[0].shared
    assert old is not None
    store = Store(pg_url)
    _OPEN.append(store)
    shared = SharedLiveness(CONFIG, old.settings, offset=old.offset)
    with store.transaction() as conn:
        shared.seed(conn)  # the same member id, started again
    back = Processor(
        store,
        LivenessTracker(CONFIG),
        CollectorMetrics(CollectorRegistry()),
        queue.SimpleQueue(),
        clock=clock,
        shared=shared,
    )
    clock.advance(5)  # 76 s
    _connect([back], clock)
    _judge([back, ps[1]])
    assert _changes(ps[1]) == [("unknown", "online")]
    for _ in range(14):  # 146 s: the deadlines restarted at 76 s (+75 s)
        clock.advance(5)
        _judge([back, ps[1]])
    assert _changes(ps[1]) == [("unknown", "online")]
    clock.advance(6)
    _judge([back, ps[1]])
    assert _changes(ps[1])[-1] == ("online", "late")


def test_a_store_busy_past_every_retry_loses_the_batch_and_restarts_the_deadlines(
    pg_url: str,
) -> None:
    """The retries are bounded: a batch refused ``busy_retries`` + 1 times in a row is lost
    (rejected ``internal``), and the fleet is marked blind as for a store that was down."""

    from collector.store.db import StoreError

    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    p = ps[0]
    registry = CollectorRegistry()
    p.metrics = CollectorMetrics(registry)
    retries = p.settings.busy_retries
    epoch = _epoch(p)
    with _write_lock_held(pg_url, p, "50ms"):
        with pytest.raises(StoreError, match="busy"):
            p.process([_beat(clock, "gw-1", 0)])
        for _ in range(retries - 1):
            with pytest.raises(StoreError, match="tried again"):
                p.step(0)
        with pytest.raises(StoreError, match="stayed busy, 1 message"):
            p.step(0)
    assert registry.get_sample_value("posfleet_collector_store_retries_total") == retries
    assert (
        registry.get_sample_value("posfleet_collector_rejected_total", {"reason": "internal"}) == 1
    )
    p.step(0)  # nothing retried: the queue's next batch (empty), which marks the fleet
    _judge(ps)  # seeing again: every deadline restarts, the fleet's epoch moves on
    assert _epoch(p) == epoch + 1


def test_a_batch_the_store_refused_counts_its_rejections_once(pg_url: str) -> None:
    """A batch refused busy after its messages were judged (a row another transaction
    holds) is judged again by its retry: a message rejected in it is counted once."""
    import psycopg

    from collector.store.db import StoreError

    ps, clock = _collectors(pg_url)
    _connect(ps, clock)
    p = ps[0]
    registry = CollectorRegistry()
    p.metrics = CollectorMetrics(registry)
    p.store.conn.execute("SET lock_timeout = '200ms'")
    p.store.conn.commit()
    bad = Received(topic_for("gw-1", Kind.HEARTBEAT), b"{not json", clock.now(), clock.monotonic())
    with psycopg.connect(pg_url) as other:
        other.execute("SELECT 1 FROM gateways WHERE gateway_id = 'gw-1' FOR UPDATE")
        with pytest.raises(StoreError, match="tried again"):
            p.process([bad, _beat(clock, "gw-1", 0)])
        other.rollback()
    p.step(0)  # the retry: stored
    assert registry.get_sample_value("posfleet_collector_store_retries_total") == 1
    assert (
        registry.get_sample_value("posfleet_collector_rejected_total", {"reason": "malformed_json"})
        == 1
    )
    assert _changes(p) == [("unknown", "online")]


def _epoch(p: Processor) -> int:
    (epoch,) = p.store.conn.execute("SELECT epoch FROM liveness_fleet").fetchone()
    p.store.conn.rollback()  # a read between batches: no transaction left open
    return int(epoch)


class _Recording(db.PgConnection):
    """A store connection that remembers the statements it sent."""

    def __init__(self, inner: db.PgConnection) -> None:
        super().__init__(inner.raw, inner.url)
        self.sent: list[tuple[str, Any]] = []

    def execute(self, sql: str, params: Any = None) -> db.PgCursor:
        self.sent.append((sql, params))
        return super().execute(sql, params)


def test_a_batch_locks_its_rows_through_the_index_in_the_prepared_plan(pg_url: str) -> None:
    """psycopg prepares a statement run 5 times; PostgreSQL may then plan it once for any
    keys (a generic plan). The batch's locking read must still find its rows through the
    index: a scan of the whole table searched each row in the batch's keys, seconds per
    batch at 100,000 gateways, under the write lock (bench/liveness_shared.py)."""
    n = 20_000
    store = Store(pg_url)
    _OPEN.append(store)
    conn = store.conn
    assert isinstance(conn, db.PgConnection)
    with conn:
        conn.execute(
            "INSERT INTO liveness_state (subject_type, subject_id, gateway_id, status, interval, "
            "deadline) SELECT 'gateway', 'gw-' || lpad(i::text, 6, '0'), '', 'online', 60, i "
            "FROM generate_series(1, ?) AS i",
            (n,),
        )
        conn.execute("ANALYZE liveness_state")
    shared = SharedLiveness(CONFIG, SharedSettings("member-0"))
    rec = _Recording(conn)
    keys = {(SubjectType.GATEWAY, f"gw-{i:06d}") for i in range(1, 2001)}
    view = View(LivenessTracker(CONFIG), 0.0, False)
    with rec:
        shared._lock(rec, view, keys)
    assert len(view.owned) == 2000
    assert view.tracker.get(SubjectType.GATEWAY, "gw-002000") is not None  # its row, loaded
    ((sql, params),) = rec.sent
    n_param = itertools.count(1)
    numbered = re.sub(r"\?", lambda _m: f"${next(n_param)}", sql)
    raw = conn.raw
    raw.execute("SET plan_cache_mode = force_generic_plan")
    types = ", ".join(["text[]"] * len(params))
    raw.execute(f"PREPARE locking ({types}) AS {numbered}".encode())
    plan = "\n".join(
        str(r[0])
        for r in raw.execute(
            # A utility statement takes no bound parameters: the arrays as literals.
            psycopg.sql.SQL("EXPLAIN EXECUTE locking({})").format(
                psycopg.sql.SQL(", ").join(psycopg.sql.Literal(list(p)) for p in params)
            )
        ).fetchall()
    )
    raw.rollback()
    assert "Seq Scan on liveness_state" not in plan, plan


def _pad_beat(clock: FakeClock, gw: str, seq: int) -> Received:
    hb = Heartbeat(gw=gw, terminal="pinpad-a", ts=clock.now(), session=1, seq=seq, interval=60)
    topic = topic_for(gw, Kind.HEARTBEAT, "pinpad-a")
    return Received(topic, encode(hb), clock.now(), clock.monotonic())


def _pinpad_behind(store: Store, gateway: str) -> None:
    """The inventory puts pinpad-a behind ``gateway`` (an import, on its own connection)."""
    with store.conn:
        upsert_rows(
            store.conn,
            "terminals",
            [{"terminal_id": "pinpad-a", "gateway_id": gateway, "site_id": "S1", "region_id": "n"}],
        )


def test_a_terminal_moved_in_the_inventory_is_judged_behind_its_new_gateway_by_the_fleet(
    pg_url: str,
) -> None:
    """The first batch of any member after the import moves the stored row: gw-a's death
    then holds the pad for no member, and it is judged behind gw-b, which has never spoken."""
    ps, clock = _collectors(pg_url, gateways=("gw-a", "gw-b"))
    _pinpad_behind(ps[1].store, "gw-a")
    _connect(ps, clock)
    ps[0].process(
        [
            _status_msg(clock, "gw-a", LinkState.ONLINE, 1),
            _beat(clock, "gw-a", 0),
            _pad_beat(clock, "gw-a", 0),
        ]
    )
    _pinpad_behind(ps[1].store, "gw-b")
    clock.advance(1)
    ps[1].process([_status_msg(clock, "gw-a", LinkState.OFFLINE, 1)])
    # The pad's 60 s interval, late 15 s past it, down 15 s later; but gw-b has not been
    # back since the fleet's first connection (a broker restart for all it knows): not
    # before the restart hold (130 s) is over, as for any terminal behind it.
    for _ in range(40):
        clock.advance(5)
        _judge(ps)
    rows = (
        ps[0]
        .store.conn.execute(
            "SELECT t.status, s.gateway_id FROM terminals t JOIN liveness_state s "
            "ON s.subject_type = 'terminal' AND s.subject_id = t.terminal_id "
            "WHERE t.terminal_id = 'pinpad-a'"
        )
        .fetchall()
    )
    assert [tuple(r) for r in rows] == [("down", "gw-b")]
    assert _changes(ps[0], "pinpad-a") == [
        ("unknown", "online"),
        ("online", "late"),
        ("late", "down"),
    ]
    assert _changes(ps[0], "gw-a") == [("unknown", "online"), ("online", "down")]
