"""One alert engine for several collectors on one PostgreSQL store (collector/alerts/shared.py):
processors with a fake clock, each on its own connection (no broker), their listeners built
as the collector's main builds them for a share group."""

from __future__ import annotations

import json
import queue
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry

from collector.alerts.config import AlertSettings
from collector.config import CollectorSettings
from collector.ingest import LinkEvent, Received
from collector.liveness import LivenessConfig, LivenessTracker
from collector.metrics import CollectorMetrics
from collector.processor import Processor
from collector.service import _build_listeners
from collector.store.shared import SharedLiveness, SharedSettings
from collector.store.store import Store, StoreError
from simulators.stack.postgres import PostgresServer
from simulators.stack.wait import wait_for
from telemetry import FakeClock, Kind, encode, topic_for
from telemetry.models import Hardware, Heartbeat, LinkState, OfflineReason, PrinterState, Status
from tests.alerts.store import add_site

CONFIG = LivenessConfig()
ALERTS = AlertSettings()  # the defaults: a gateway pages 1 s after its will, spread 90 s

_OPEN: list[Store] = []
_REGISTRIES: dict[int, CollectorRegistry] = {}  # each processor's


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()
    _REGISTRIES.clear()


def _collectors(
    pg_url: str, n: int, gateways: Sequence[str], clock: FakeClock | None = None
) -> tuple[list[Processor], FakeClock]:
    """``n`` collectors in share group ``g`` on one store; the database's clock moves with
    the fake one. The first to run a batch becomes the alert leader."""
    clock = clock or FakeClock()
    start, real_start = clock.monotonic(), time.monotonic()
    settings = CollectorSettings(db=pg_url, share_group="g")
    out = []
    for i in range(n):
        store = Store(pg_url)
        _OPEN.append(store)
        if i == 0:
            add_site(store.conn, "S1", gateways)
        shared = SharedLiveness(
            CONFIG,
            SharedSettings(f"member-{i}"),
            offset=lambda: (clock.monotonic() - start) - (time.monotonic() - real_start),
        )
        with store.transaction() as conn:
            shared.seed(conn)
        registry = CollectorRegistry()
        listeners, _ = _build_listeners(settings, ALERTS, store, clock, registry)
        p = Processor(
            store,
            LivenessTracker(CONFIG),
            CollectorMetrics(registry),
            queue.SimpleQueue(),
            listeners=listeners,
            clock=clock,
            shared=shared,
        )
        _REGISTRIES[id(p)] = registry
        out.append(p)
    for p in out:
        p.process([LinkEvent(True, clock.now(), clock.monotonic())])
    return out, clock


def _status(clock: FakeClock, gw: str, state: LinkState, session: int) -> Received:
    msg = Status(
        gw=gw,
        ts=clock.now(),
        state=state,
        session=session,
        reason=OfflineReason.CONNECTION_LOST if state is LinkState.OFFLINE else None,
    )
    return Received(topic_for(gw, Kind.STATUS), encode(msg), clock.now(), clock.monotonic())


def _judge(ps: Sequence[Processor]) -> None:
    """Each collector's loop comes round, in this order: beats, claims what is due, ticks."""
    for p in ps:
        p._next_claim = 0.0
        p._next_listener_tick = 0.0
        p.process([])


def _alerts(p: Processor) -> list[tuple[str, str, str, bool]]:
    """(kind, subject, state, inhibited) of every alert row, in id order."""
    return [
        (str(k), str(s), str(st), inh is not None)
        for k, s, st, inh in p.store.conn.execute(
            "SELECT kind, subject_id, state, inhibited_by FROM alerts ORDER BY id"
        ).fetchall()
    ]


def _paging(p: Processor) -> list[tuple[str, str]]:
    return [
        (str(k), str(s))
        for k, s in p.store.conn.execute(
            "SELECT kind, subject_id FROM alerts WHERE state = 'firing' "
            "AND inhibited_by IS NULL AND fired_at IS NOT NULL ORDER BY id"
        ).fetchall()
    ]


def _down_then_up(ps: Sequence[Processor], clock: FakeClock, down: int, up: int) -> None:
    """gw-1 online, its will through collector ``down`` (which also fires the held will),
    paging; then back online with a new session through collector ``up``."""
    ps[0].process([_status(clock, "gw-1", LinkState.ONLINE, 1)])
    clock.advance(5)
    ps[down].process([_status(clock, "gw-1", LinkState.OFFLINE, 1)])
    clock.advance(3)  # the will was held 2 s
    _judge([ps[down], *ps])
    clock.advance(2)
    _judge(ps)
    assert _paging(ps[0]) == [("gateway_down", "gw-1")]
    clock.advance(10)
    ps[up].process([_status(clock, "gw-1", LinkState.ONLINE, 2)])
    clock.advance(1)
    _judge(ps)


def test_a_gateway_down_through_one_collector_and_back_through_another_resolves(
    pg_url: str,
) -> None:
    ps, clock = _collectors(pg_url, 2, ["gw-1", "gw-2"])
    _down_then_up(ps, clock, down=0, up=1)
    assert _alerts(ps[0]) == [("gateway_down", "gw-1", "resolved", False)]
    assert _paging(ps[1]) == []


def test_a_gateway_down_through_the_follower_and_back_through_the_leader_resolves(
    pg_url: str,
) -> None:
    ps, clock = _collectors(pg_url, 2, ["gw-1", "gw-2"])
    _down_then_up(ps, clock, down=1, up=0)
    assert _alerts(ps[0]) == [("gateway_down", "gw-1", "resolved", False)]


def _store_outage(ps: Sequence[Processor], clock: FakeClock, gws: Sequence[str]) -> None:
    """A store loses power: its gateways' wills arrive 5 s apart, the i-th through
    collector i mod n, which also fires it."""
    for gw in gws:
        ps[0].process([_status(clock, gw, LinkState.ONLINE, 1)])
    clock.advance(5)
    for i, gw in enumerate(gws):
        via = ps[i % len(ps)]
        via.process([_status(clock, gw, LinkState.OFFLINE, 1)])
        clock.advance(3)
        _judge([via, *ps])
        clock.advance(2)
        _judge(ps)
    for _ in range(12):  # past the site spread (90 s)
        clock.advance(10)
        _judge(ps)


GWS = ["gw-1", "gw-2", "gw-3", "gw-4"]
# docs/alerting.md: the first gateway of a store pages at once (nothing tells it yet from a
# lone death); the next ones are held by the spread, then inhibited by the site, whose
# site_down fires covered by that first page (shown, never paged again).
STORE_OUTAGE = [
    ("gateway_down", "gw-1", "firing", False),
    ("gateway_down", "gw-2", "suppressed", True),
    ("gateway_down", "gw-3", "suppressed", True),
    ("gateway_down", "gw-4", "suppressed", True),
    ("site_down", "S1", "firing", False),
]


def _covered_by(p: Processor) -> object:
    row = p.store.conn.execute("SELECT details FROM alerts WHERE kind = 'site_down'").fetchone()
    return None if row is None else json.loads(row[0]).get("covered_by")


def _site_downs(p: Processor) -> int:
    (n,) = p.store.conn.execute(
        "SELECT count(*) FROM state_changes WHERE subject_type = 'site' AND to_status = 'down'"
    ).fetchone()
    return int(n)


def test_a_store_outage_spread_over_two_collectors_is_one_covered_site_down(
    pg_url: str, postgres_server: PostgresServer
) -> None:
    # The reference: one collector alone, on a store of its own, sees every will.
    name = f"t_alone_{uuid.uuid4().hex[:8]}"
    alone_url = postgres_server.create_database(name)
    try:
        alone, clock = _collectors(alone_url, 1, GWS)
        _store_outage(alone, clock, GWS)
        reference = (
            _alerts(alone[0]),
            _paging(alone[0]),
            _covered_by(alone[0]),
            _site_downs(alone[0]),
        )
    finally:
        postgres_server.drop_database(name)
    assert reference == (STORE_OUTAGE, [("gateway_down", "gw-1")], "gw-1", 1)
    ps, clock = _collectors(pg_url, 2, GWS)
    _store_outage(ps, clock, GWS)
    assert (_alerts(ps[1]), _paging(ps[1]), _covered_by(ps[1]), _site_downs(ps[1])) == reference


def _backend_alive(p: Processor, pid: int) -> bool:
    (n,) = p.store.conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = ?", (pid,)
    ).fetchone()
    p.store.conn.commit()
    return bool(n)


def test_a_killed_leader_is_replaced_and_its_unread_inbox_is_applied_once(
    pg_url: str,
) -> None:
    ps, clock = _collectors(pg_url, 2, ["gw-1", "gw-2"])
    leader, other = ps
    leader.process([_status(clock, "gw-1", LinkState.ONLINE, 1)])
    clock.advance(5)
    leader.process([_status(clock, "gw-1", LinkState.OFFLINE, 1)])
    clock.advance(3)
    _judge(ps)
    clock.advance(2)
    _judge(ps)
    assert _paging(other) == [("gateway_down", "gw-1")]
    clock.advance(10)
    other.process([_status(clock, "gw-1", LinkState.ONLINE, 2)])  # into the inbox
    (pid,) = leader.store.conn.execute("SELECT pg_backend_pid()").fetchone()
    leader.store.conn.close()  # killed before its next batch: its lock goes with it
    # The server ends a closed session's backend (and its locks) asynchronously.
    wait_for(lambda: not _backend_alive(other, pid), 10, what="the dead session ended")
    clock.advance(1)
    _judge([other])
    assert _alerts(other) == [("gateway_down", "gw-1", "resolved", False)]
    (left,) = other.store.conn.execute("SELECT count(*) FROM alert_inbox").fetchone()
    assert left == 0


def _hardware(clock: FakeClock, printer: PrinterState) -> Received:
    msg = Hardware(gw="gw-1", ts=clock.now(), printer=printer)
    return Received(topic_for("gw-1", Kind.HARDWARE), encode(msg), clock.now(), clock.monotonic())


def test_a_hardware_fault_received_by_a_follower_raises_the_alert_the_leader_clears(
    pg_url: str,
) -> None:
    ps, clock = _collectors(pg_url, 2, ["gw-1"])
    ps[1].process([_hardware(clock, PrinterState.PAPER_OUT)])
    clock.advance(1)
    _judge(ps)
    assert _paging(ps[0]) == [("hardware_fault", "gw-1")]
    clock.advance(60)
    ps[0].process([_hardware(clock, PrinterState.OK)])
    clock.advance(1)
    _judge(ps)
    assert _alerts(ps[0]) == [("hardware_fault", "gw-1", "resolved", False)]


def _heartbeat(clock: FakeClock, seq: int, ahead_s: float) -> Received:
    hb = Heartbeat(
        gw="gw-1", ts=clock.now() + timedelta(seconds=ahead_s), session=1, seq=seq, interval=60
    )
    return Received(topic_for("gw-1", Kind.HEARTBEAT), encode(hb), clock.now(), clock.monotonic())


def test_a_skewed_clock_seen_by_a_follower_raises_and_the_leaders_share_clears_it(
    pg_url: str,
) -> None:
    ps, clock = _collectors(pg_url, 2, ["gw-1"])
    ps[1].process([_heartbeat(clock, 0, 0)])  # within bounds: not for the inbox
    (rows,) = ps[0].store.conn.execute("SELECT count(*) FROM alert_inbox").fetchone()
    ps[0].store.conn.commit()
    assert rows == 0
    clock.advance(59)
    ps[1].process([_heartbeat(clock, 1, 600)])  # ten minutes ahead
    clock.advance(1)
    _judge(ps)
    assert _paging(ps[0]) == [("clock_skew", "gw-1")]
    clock.advance(59)
    ps[0].process([_heartbeat(clock, 2, 0)])  # the leader's own share: the clock is back
    clock.advance(1)
    _judge(ps)
    assert _alerts(ps[0]) == [("clock_skew", "gw-1", "resolved", False)]


def test_a_leader_whose_session_lost_the_lock_stops_leading(pg_url: str) -> None:
    """A reconnect after a PostgreSQL restart gives a new session without the lock (here the
    lock is taken from the old session): the other collector takes over, and the old leader
    hands its inputs over through the inbox instead of running an engine of its own."""
    ps, clock = _collectors(pg_url, 2, ["gw-1", "gw-2"])
    ps[0].store.conn.execute("SELECT pg_advisory_unlock_all()")
    ps[0].store.conn.commit()
    _judge([ps[1], ps[0]])  # the other collector's batch comes first: it leads now
    _down_then_up(ps, clock, down=0, up=1)
    assert _alerts(ps[0]) == [("gateway_down", "gw-1", "resolved", False)]


def _leads(p: Processor) -> float | None:
    return _REGISTRIES[id(p)].get_sample_value("posfleet_collector_alert_leader")


def test_a_hung_leader_has_its_session_ended_and_the_other_takes_over(pg_url: str) -> None:
    """The leader stops running batches with its session open (hung): its lock stays. The
    other sees the inbox's oldest row stay 30 s, ends that session and leads; the hung one,
    back, finds its session gone and follows."""
    ps, clock = _collectors(pg_url, 2, ["gw-1", "gw-2"])
    hung, other = ps
    assert (_leads(hung), _leads(other)) == (1.0, 0.0)
    hung.process([_status(clock, "gw-1", LinkState.ONLINE, 1)])
    clock.advance(5)
    other.process([_status(clock, "gw-1", LinkState.OFFLINE, 1)])
    clock.advance(3)
    # The leader's last batch: it has stored all it received (its watermark), so the will
    # may fire (a member's unstored heartbeats hold every deadline: shared.py, horizon).
    hung.process([])
    _judge([other])  # the will fires here: into the inbox, which nobody reads
    for _ in range(7):
        clock.advance(5)
        _judge([other])
    assert _alerts(other) == []
    wait_for(lambda: _judge([other]) or _leads(other) == 1.0, 10, what="the other leading")
    clock.advance(2)
    _judge([other])
    assert _alerts(other) == [("gateway_down", "gw-1", "firing", False)]
    with pytest.raises(StoreError):
        hung.process([])  # its session was ended: this batch fails, the next reconnects
    clock.advance(10)
    hung.process([_status(clock, "gw-1", LinkState.ONLINE, 2)])
    assert _leads(hung) == 0.0
    clock.advance(1)
    _judge([other])
    assert _alerts(other) == [("gateway_down", "gw-1", "resolved", False)]
