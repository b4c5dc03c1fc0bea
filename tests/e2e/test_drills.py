"""Issue 3 drills on real parts: simulated gateways -> Mosquitto -> collector + alert engine.

Once per outage: a store whose router dies pages once (site_down), not once per gateway.
Our blind spots are not outages: a broker restart with 1,000 connected gateways opens no
incident and fires nothing.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from support.wait import wait_for

from collector.config import load_settings
from collector.main import Collector
from simulators.broker import MosquittoProcess
from simulators.fleetmodel import Fleet as FleetModel
from simulators.fleetmodel import generate
from simulators.gateways import Fleet
from simulators.runner import FleetRunner

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _q(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _with_big_site(n_other: int, big: int) -> FleetModel:
    """A fleet whose first site has ``big`` gateways (a store with one router)."""
    model = generate(n_other, seed=11)
    site = model.sites[0]
    template = model.gateways[0]
    extra = [
        replace(template, gateway_id=f"gw-big-{i:02d}", serial=f"BIG{i:04d}", site_id=site.site_id,
                region_id=site.region_id, terminals=())
        for i in range(big)
    ]  # fmt: skip
    model.gateways = [g for g in model.gateways if g.site_id != site.site_id] + extra
    return model


def _let_time_pass(seconds: float) -> None:
    """Prove an absence: nothing may happen within ``seconds`` (pending delays, deadlines).

    This is not synchronisation (every wait for something to happen is a ``wait_for``): a
    page that must never come can only be shown by letting its time pass.
    """
    time.sleep(seconds)


@pytest.fixture
def alert_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Delays scaled down from the defaults (gateway 60 s, site 30 s) by ~10x, keeping their
    # order: a gateway alert waits longer than the spread of its site's wills.
    monkeypatch.setenv("POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S", "8")
    monkeypatch.setenv("POSFLEET_ALERT_PENDING_SITE_DOWN_S", "3")
    monkeypatch.setenv("POSFLEET_ALERT_PENDING_TERMINAL_DOWN_S", "10")


def _stack(
    model: FleetModel, broker: MosquittoProcess, db: Path, inv: Path, interval: float
) -> tuple[Collector, FleetRunner]:
    model.export_inventory(inv)
    collector = Collector(
        load_settings(
            db=db, broker_port=broker.port, metrics_host="127.0.0.1", metrics_port=0,
            inventory=inv, grace_min_s=1.0,
        )
    ).start()  # fmt: skip
    runner = FleetRunner(
        Fleet(model.gateways, "127.0.0.1", broker.port, interval=interval, keepalive=5)
    ).start()
    runner.call(lambda f: f.connect_all(), timeout=120)
    total = len(model.gateways)
    wait_for(
        lambda: _q(db, "SELECT count(*) FROM gateways WHERE status='online'") == [(total,)],
        120,
        interval=0.2,
        what=f"{total} gateways online",
    )
    return collector, runner


@pytest.fixture
def teardown() -> Iterator[list[object]]:
    parts: list[object] = []
    yield parts
    for part in reversed(parts):
        part.stop()  # type: ignore[attr-defined]


def test_site_outage_of_20_gateways_pages_once_as_site_down_and_resolves_cleanly(
    alert_env: None, mosquitto: MosquittoProcess, db_path: Path, tmp_path: Path,
    teardown: list[object],
) -> None:  # fmt: skip
    model = _with_big_site(30, 20)
    collector, runner = _stack(model, mosquitto, db_path, tmp_path / "inv", interval=1.0)
    teardown += [collector, runner]
    big = [g.gateway_id for g in model.gateways if g.gateway_id.startswith("gw-big-")]
    site = model.gateways[-1].site_id
    # The router dies: the broker notices each connection on its own keepalive timer, so the
    # wills arrive spread out; here over ~4 s (the pending delay scaled down by the same ~10x).
    for i, gid in enumerate(big):
        runner.call(lambda f, g=gid: f.kill(g))
        if i % 5 == 4:
            _let_time_pass(1.0)  # spacing the wills as keepalive timers would
    wait_for(
        lambda: (
            _q(db_path, "SELECT count(*) FROM alerts WHERE kind='site_down' AND state='firing'")
            == [(1,)]
        ),
        40,
        interval=0.2,
        what="one firing site_down",
    )
    # Past every gateway's own pending delay: still no gateway page.
    wait_for(
        lambda: (
            _q(db_path, "SELECT count(*) FROM state_changes WHERE to_status='down'")[0][0] >= 20
        ),
        20,
        what="all 20 down",
    )
    _let_time_pass(10)  # > the gateways' 8 s pending delay
    fired = _q(
        db_path,
        "SELECT a.kind, a.subject_id FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
        "WHERE e.to_state = 'firing'",
    )
    assert fired == [("site_down", site)], fired
    # The store comes back: the site alert resolves and no child is left behind.
    for gid in big:
        runner.call(lambda f, g=gid: f.connect(f.gateways[g]))
    wait_for(
        lambda: _q(db_path, "SELECT count(*) FROM alerts WHERE state != 'resolved'") == [(0,)],
        40,
        interval=0.2,
        what="every alert resolved",
    )
    assert _q(db_path, "SELECT count(*) FROM incidents WHERE ended_at IS NULL") == [(0,)]


def test_broker_restart_with_1000_connected_gateways_opens_no_incident(
    alert_env: None, mosquitto: MosquittoProcess, db_path: Path, tmp_path: Path,
    teardown: list[object],
) -> None:  # fmt: skip
    n = int(os.environ.get("POSFLEET_DRILL_GATEWAYS", "1000"))
    model = generate(n, seed=5)
    collector, runner = _stack(model, mosquitto, db_path, tmp_path / "inv", interval=5.0)
    teardown += [collector, runner]
    mosquitto.stop()
    wait_for(lambda: not collector.processor.connected, 10, what="collector blind")
    # Blind for longer than a heartbeat deadline (5 s + 1.25 s grace, twice).
    _let_time_pass(12)
    assert collector.registry.get_sample_value("posfleet_collector_blind") == 1.0
    mosquitto.start()
    wait_for(lambda: collector.processor.connected, 30, what="collector reconnected")
    wait_for(
        lambda: _q(db_path, "SELECT min(session) FROM gateways")[0][0] >= 2,
        120,
        interval=0.5,
        what="every gateway reconnected with a new session",
    )
    # Several deadlines and every pending delay after the reconnect, still nothing.
    _let_time_pass(12)
    assert _q(db_path, "SELECT count(*) FROM incidents") == [(0,)]
    assert _q(db_path, "SELECT count(*) FROM alert_events WHERE to_state='firing'") == [(0,)]
    assert _q(db_path, "SELECT count(*) FROM gateways WHERE status='online'") == [(n,)]
