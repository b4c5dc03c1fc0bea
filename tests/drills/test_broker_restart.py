"""Drills: the collector's own blind spots page nobody.

- Broker restart: 1,000 connected gateways, Mosquitto stopped for longer than several
  down deadlines, then started on the same port; every gateway (and the collector)
  reconnects -> zero incidents, zero alerts firing.
- Collector restart: `posfleet-collector run` as a subprocess, SIGKILLed, left dead past
  several deadlines, started again on the same database -> zero incidents.
- Broker restart, slow reconnects: Mosquitto (with persistence, like production) restarts
  under a `posfleet-collector run` subprocess and the gateways' agents come back only
  45 s after it went away (their backoff); the collector holds the restart's wills for the
  agents' maximum backoff (set to 55 s on both sides, so the drill takes a minute and a
  half, not three) plus the margin -> nobody down, while the one gateway that never comes
  back is down, by its will, once the hold is over.

Waiting out the blind period is the scenario itself (deadlines must pass), so it is a
wait_for on elapsed monotonic time, never a sleep used to synchronise.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.stack import fleet_stack, query

from collector.process import CollectorProcess
from collector.service import Collector
from simulators.broker import MosquittoProcess
from simulators.fleetmodel import generate
from simulators.gateways import Fleet
from simulators.runner import FleetRunner
from simulators.stack.wait import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


_q = query


def _elapsed(seconds: float) -> None:
    t0 = time.monotonic()
    wait_for(lambda: time.monotonic() - t0 >= seconds, seconds + 5, what=f"{seconds} s pass")


def _now_iso(db: Path) -> str:
    row = _q(db, "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")[0][0]
    assert isinstance(row, str)
    return row


def _all_seen_since(db: Path, n: int, since: str) -> bool:
    return _q(db, "SELECT count(*) FROM gateways WHERE last_seen_at > ?", since) == [(n,)]


def _no_harm(db: Path) -> None:
    assert _q(db, "SELECT count(*) FROM incidents") == [(0,)]
    assert _q(db, "SELECT count(*) FROM alerts WHERE state='firing'") == [(0,)]
    assert _q(db, "SELECT count(*) FROM state_changes WHERE to_status='down'") == [(0,)]


@pytest.fixture
def thousand(
    mosquitto: MosquittoProcess, db_path: Path, tmp_path: Path
) -> Iterator[tuple[FleetRunner, Collector]]:
    with fleet_stack(
        generate(1000, seed=3), mosquitto, db_path, tmp_path, interval=5.0, keepalive=10
    ) as stack:
        yield stack


def test_a_broker_restart_with_a_thousand_gateways_opens_no_incident(
    thousand: tuple[FleetRunner, Collector], mosquitto: MosquittoProcess, db_path: Path
) -> None:
    _runner, collector = thousand
    mosquitto.stop()
    wait_for(lambda: not collector.health()[0], 15, what="collector sees the broker gone")
    # Down deadline = 5 s + 2 x 1.25 s grace = 7.5 s: stay blind for two of them.
    _elapsed(15)
    mosquitto.start()
    wait_for(lambda: collector.health()[0], 30, what="collector reconnected")
    back = _now_iso(db_path)
    wait_for(lambda: _all_seen_since(db_path, 1000, back), 60, what="all 1000 heard again")
    # A full down deadline after everyone is back, any false deadline would have fired.
    _elapsed(8)
    _no_harm(db_path)
    assert _q(db_path, "SELECT count(*) FROM gateways WHERE status='online'") == [(1000,)]


def _collector(
    db: Path, port: int, inv: Path | None, log: Path, env: dict[str, str] | None = None
) -> CollectorProcess:
    return CollectorProcess(
        db, port, inventory=inv, log_path=log, env={"POSFLEET_GRACE_MIN_S": "0.5", **(env or {})}
    ).start()


def test_a_collector_killed_and_restarted_opens_no_incident(
    mosquitto: MosquittoProcess, db_path: Path, tmp_path: Path
) -> None:
    n = 300
    model = generate(n, seed=5)
    inv = tmp_path / "inventory"
    model.export_inventory(inv)
    log = tmp_path / "collector.log"
    collector = _collector(db_path, mosquitto.port, inv, log)
    runner = FleetRunner(
        Fleet(model.gateways, "127.0.0.1", mosquitto.port, interval=2.0, keepalive=5)
    ).start()
    try:
        runner.call(lambda f: f.connect_all())
        wait_for(
            lambda: (
                db_path.exists()
                and _q(db_path, "SELECT count(*) FROM sqlite_master WHERE name='gateways'")
                == [(1,)]
                and _q(db_path, "SELECT count(*) FROM gateways WHERE status='online'") == [(n,)]
            ),
            60,
            what=f"{n} gateways online",
        )
        collector.stop(hard=True)
        # Down deadline = 2 s + 2 x 0.5 s = 3 s: dead for several of them.
        _elapsed(10)
        collector.start()
        back = _now_iso(db_path)
        wait_for(lambda: _all_seen_since(db_path, n, back), 60, what=f"all {n} heard again")
        _elapsed(4)
        assert collector.alive(), collector.log_tail()
        _no_harm(db_path)
        assert _q(db_path, "SELECT count(*) FROM gateways WHERE status='online'") == [(n,)]
    finally:
        runner.stop()
        collector.stop()


def _online(db: Path, n: int) -> bool:
    return (
        db.exists()
        and _q(db, "SELECT count(*) FROM sqlite_master WHERE name='gateways'") == [(1,)]
        and _q(db, "SELECT count(*) FROM gateways WHERE status='online'") == [(n,)]
    )


def test_gateways_back_45_s_after_a_broker_restart_are_not_paged_a_dead_one_is(
    db_path: Path, tmp_path: Path
) -> None:
    backoff = 55.0  # the agents' maximum reconnect backoff, told to the collector too
    n = 30
    model = generate(n, seed=11)
    lone = sorted(
        g.gateway_id
        for g in model.gateways
        if sum(1 for o in model.gateways if o.site_id == g.site_id) == 1
    )
    assert lone, "the fleet needs a one-gateway store"
    dead = lone[0]
    inv = tmp_path / "inventory"
    model.export_inventory(inv)
    log = tmp_path / "collector.log"
    broker = MosquittoProcess(workdir=tmp_path / "mosquitto", persistence=True).start()
    env = {"POSFLEET_AGENT_RECONNECT_MAX_S": str(backoff)}  # shipped pending delays
    collector = _collector(db_path, broker.port, inv, log, env)
    # Agents whose first retry after losing the broker comes 45 s later (then up to 55 s):
    # the real agent's backoff, as after a long outage, scaled to keep the drill short.
    runner = FleetRunner(
        Fleet(
            model.gateways,
            "127.0.0.1",
            broker.port,
            interval=2.0,
            keepalive=5,
            reconnect_min_s=45.0,
            reconnect_max_s=backoff,
        )
    ).start()
    try:
        runner.call(lambda f: f.connect_all())
        wait_for(lambda: _online(db_path, n), 60, what=f"{n} gateways online")
        wait_for(  # their 2 s interval known: a deadline is 3 s, not the default 90 s
            lambda: (
                _q(db_path, "SELECT count(*) FROM gateways WHERE heartbeat_interval = 2") == [(n,)]
            ),
            30,
            what="every gateway's heartbeat interval",
        )
        broker.stop()  # Mosquitto publishes every client's will as it shuts down
        runner.call(lambda f: f.kill(dead))  # this store's power fails meanwhile
        broker.start()
        restarted = time.monotonic()
        # Back = a new session's birth (the restart's wills, delivered again, are news too).
        wait_for(
            lambda: _q(db_path, "SELECT count(*) FROM gateways WHERE session > 1") == [(n - 1,)],
            90,
            what="all but one back with a new session",
        )
        assert time.monotonic() - restarted >= 40  # they did come back late
        assert collector.alive(), collector.log_tail()
        # Down deadline = 2 s + 2 x 0.5 s: dozens of them passed while they were away.
        assert _q(db_path, "SELECT subject_id FROM state_changes WHERE to_status='down'") == []
        assert _q(db_path, "SELECT kind, subject_id FROM alerts") == []
        assert _q(db_path, "SELECT count(*) FROM incidents") == [(0,)]
        assert _q(db_path, "SELECT status FROM gateways WHERE gateway_id=?", dead) == [
            ("online",)
        ]  # not yet: its will is held with the others'
        # The one that never came back: down by its will once the hold (55 s + 10 s) is over.
        wait_for(
            lambda: (
                _q(db_path, "SELECT status FROM gateways WHERE gateway_id=?", dead) == [("down",)]
            ),
            60,
            what=f"{dead} down",
        )
        assert time.monotonic() - restarted >= backoff
        site = next(g.site_id for g in model.gateways if g.gateway_id == dead)
        assert _q(
            db_path,
            "SELECT subject_type, subject_id, reason FROM state_changes WHERE to_status='down'",
        ) == [("gateway", dead, "will:connection_lost"), ("site", site, "children")]
        assert _q(db_path, "SELECT count(*) FROM gateways WHERE status='online'") == [(n - 1,)]
    finally:
        runner.stop()
        collector.stop()
        broker.close()
