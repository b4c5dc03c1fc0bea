"""Drills on real processes for several collectors (issue #14): three ``posfleet-collector run
--db postgresql://... --share-group G`` subprocesses on one Mosquitto and one PostgreSQL.

- Kill drill: the ``share-group-kill`` scenario (1,000 simulated gateways with faults); one
  collector is SIGKILLed every 60 s and restarted at once. The scenario's scorecard must show
  0 missed, 0 false, 0 duplicate pages, and the webhook notifier (run by all three) must post
  every page.
- PostgreSQL restart: the server stops under the three collectors while a gateway dies, and
  comes back. The collectors wait and recover (none exits), nothing is lost (the dead gateway
  is down and paged once), no one else is paged.

Waiting out the store's absence is the scenario itself, so it is a wait_for on elapsed
monotonic time; every synchronisation is a wait_for on the database or the processes.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from collector.process import CollectorProcess
from collector.store import db
from simulators.broker import MosquittoProcess
from simulators.fleetmodel import generate
from simulators.gateways import Fleet
from simulators.runner import FleetRunner
from simulators.scenarios import library
from simulators.scenarios.run import ScenarioRun
from simulators.scenarios.spec import load
from simulators.stack.postgres import PostgresServer
from simulators.stack.wait import wait_for
from simulators.stack.webhook import WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1200)]

GROUP = "posfleet"
# The pages the webhook notifier posts (collector/alerts/webhook.py), read from the store.
PAGES = """
SELECT e.id FROM alert_events e
WHERE e.actor = 'collector' AND e.from_state = 'pending' AND e.to_state = 'firing'
    AND e.note NOT LIKE 'covered by %'
"""


def _q(store: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = db.connect(store, readonly=True, timeout=10)
    try:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def test_three_share_group_collectors_one_killed_every_minute_page_each_outage_once(
    tmp_path: Path, pg_url: str, require_mosquitto: None
) -> None:
    scenario = load(library()["share-group-kill"])
    posted_all: list[bool] = []

    def every_page_posted() -> None:
        # While the collectors still run: every page the store holds reaches the webhook,
        # posted by one of them (their notifiers had the settle time for the last ones).
        def done() -> bool:
            pages = {int(r[0]) for r in _q(pg_url, PAGES)}
            return pages <= {n.body.get("event_id") for n in hook.received()}

        with contextlib.suppress(AssertionError):
            posted_all.append(wait_for(done, 60, what="every page posted"))

    with WebhookReceiver() as hook:
        run = ScenarioRun(
            scenario,
            generate(scenario.fleet.gateways, scenario.seed),
            tmp_path,
            store=pg_url,
            collectors=3,
            share_group=GROUP,
            collector_env={
                "POSFLEET_ALERT_WEBHOOK_URL": hook.url + "/hook",
                "POSFLEET_ALERT_WEBHOOK_POLL_S": "0.5",
            },
            before_stop=every_page_posted,
        )
        result = run.run()
        card = result.scorecard
        pages = {int(r[0]) for r in _q(pg_url, PAGES)}
    assert run.restarts == 3  # each of the three killed once, 60 s apart
    assert card["false"] == 0, card["false_pages"]
    for fault, s in card["by_fault"].items():
        assert (s["missed"], s["duplicate"]) == (0, 0), (fault, s)
        assert s["detected"] == s["expected"], (fault, s)
    expected = {f: s["expected"] for f, s in card["by_fault"].items() if s["expected"]}
    assert {"site_power_outage", "hung_app", "pin_pad_unplugged"} <= set(expected), expected
    posted = Counter(n.body["event_id"] for n in hook.received() if n.body.get("event") == "firing")
    assert posted_all, "not every page reached the webhook within 60 s of the timeline's end"
    assert set(posted) == pages
    # At least once: a collector killed between its POST and marking it delivered leaves the
    # page to another after the lease (a duplicate at the receiver); never more than one such
    # per kill.
    assert sum(c - 1 for c in posted.values()) <= run.restarts, posted
    assert result.fleet["publish_errors"] == 0
    assert result.ok, result.problems


def _store_dead_soon(store: str, dead: str) -> bool:
    return _q(store, "SELECT status FROM gateways WHERE gateway_id = ?", dead) == [("down",)]


def test_a_postgresql_restart_under_three_collectors_loses_nothing_and_pages_nobody_else(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    n = 200
    model = generate(n, seed=21)
    lone = sorted(
        g.gateway_id
        for g in model.gateways
        if sum(1 for o in model.gateways if o.site_id == g.site_id) == 1
    )
    assert lone, "the fleet needs a one-gateway store"
    dead = lone[0]
    site = next(g.site_id for g in model.gateways if g.gateway_id == dead)
    inv = tmp_path / "inventory"
    model.export_inventory(inv)
    env = {"POSFLEET_GRACE_MIN_S": "0.5", "POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S": "4"}
    with PostgresServer(durable=True) as pg:  # its own temp dir: the server user must enter it
        store = pg.url
        collectors = [
            CollectorProcess(
                store,
                mosquitto.port,
                inventory=inv if i == 0 else None,
                log_path=tmp_path / f"collector{i + 1}.log",
                env=env,
                args=["--share-group", GROUP, "--client-id", f"posfleet-collector-{i + 1}"],
            )
            for i in range(3)
        ]
        runner = FleetRunner(
            Fleet(model.gateways, "127.0.0.1", mosquitto.port, interval=2.0, keepalive=5)
        )
        try:
            for c in collectors:
                c.start()
            runner.start()
            runner.call(lambda f: f.connect_all())
            wait_for(
                lambda: (
                    _q(store, "SELECT count(*) FROM gateways WHERE status = 'online'") == [(n,)]
                ),
                90,
                what=f"{n} gateways online",
            )
            pg.stop()
            stopped = time.monotonic()
            runner.call(lambda f: f.kill(dead))  # its will arrives while the store is away
            # Away for several down deadlines (2 s + 2 x 0.5 s): the store's absence is the
            # collectors' blind spot, not the fleet's silence.
            wait_for(lambda: time.monotonic() - stopped >= 12, 20, what="12 s without the store")
            for c in collectors:
                assert c.alive(), c.log_tail()  # they wait, they do not exit
            pg.start()
            wait_for(lambda: _store_dead_soon(store, dead), 90, what=f"{dead} down")
            paged = (
                "SELECT count(*) FROM alerts WHERE fired_at IS NOT NULL AND subject_id IN (?, ?)"
            )
            wait_for(lambda: _q(store, paged, dead, site) == [(1,)], 60, what="its outage paged")
            # Everyone else heard again after the store is back, then a full down deadline.
            back = time.monotonic()
            wait_for(lambda: time.monotonic() - back >= 8, 15, what="a down deadline passes")
            for c in collectors:
                assert c.alive(), c.log_tail()
            downs = _q(store, "SELECT subject_type, subject_id FROM state_changes "
                       "WHERE to_status = 'down' ORDER BY subject_type")  # fmt: skip
            assert downs == [("gateway", dead), ("site", site)]
            fired = _q(store, "SELECT kind, subject_id FROM alerts WHERE fired_at IS NOT NULL")
            assert len(fired) == 1, fired
            assert fired[0][1] in (dead, site), fired
            assert _q(store, "SELECT count(*) FROM gateways WHERE status = 'online'") == [(n - 1,)]
        finally:
            runner.stop()
            for c in collectors:
                c.stop()
