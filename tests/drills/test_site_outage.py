"""Drill: a whole site of 20 gateways loses power -> one site page, no gateway pages.

Real Mosquitto, in-process collector with the alert engine. Pending delays are the shipped
ones divided by 10 (gateway_down 60 s -> 6 s, site_down 30 s -> 3 s); the 20 wills are made
to arrive spread over ~2 s (kills 0.1 s apart on the fleet loop), as a real power cut
delivers them as each keepalive expires, so the engine must cope with the site going down
one gateway at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from support.stack import fleet_stack, query

from simulators.broker import MosquittoProcess
from simulators.fleetmodel import Fleet as FleetModel
from simulators.fleetmodel import generate
from simulators.gateways import Fleet
from simulators.runner import FleetRunner
from simulators.stack.wait import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SITE_SIZE = 20


_q = query


def _fleet_with_big_site() -> tuple[FleetModel, str]:
    """A seeded fleet whose first site is given 20 gateways (others keep theirs)."""
    model = generate(40, seed=11)
    big = model.sites[0].site_id
    others = [g for g in model.gateways if g.site_id != big]
    moved = [
        replace(g, site_id=big, region_id=model.sites[0].region_id) for g in others[:SITE_SIZE]
    ]
    moved_ids = {g.gateway_id for g in moved}
    kept = [g for g in model.gateways if g.site_id == big]
    rest = [g for g in others if g.gateway_id not in moved_ids]
    model.gateways = kept[: max(0, SITE_SIZE - len(moved))] + moved + rest
    used = {g.site_id for g in model.gateways}
    model.sites = [s for s in model.sites if s.site_id in used]
    return model, big


def _power_on(fleet: Fleet, gateway_id: str) -> None:
    fleet.connect(fleet.gateways[gateway_id])


@pytest.fixture
def stack(
    mosquitto: MosquittoProcess, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FleetRunner, FleetModel, str]]:
    monkeypatch.setenv("POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S", "6")
    monkeypatch.setenv("POSFLEET_ALERT_PENDING_SITE_DOWN_S", "3")
    model, big = _fleet_with_big_site()
    assert len(model.gateways_of_site(big)) == SITE_SIZE
    assert len({g.site_id for g in model.gateways}) >= 3
    with fleet_stack(
        model, mosquitto, db_path, tmp_path, interval=1.0, online_timeout=30, grace_min_s=0.5
    ) as (runner, _collector):
        yield runner, model, big


def test_a_site_outage_of_twenty_gateways_pages_once_and_never_per_gateway(
    stack: tuple[FleetRunner, FleetModel, str], db_path: Path
) -> None:
    runner, model, big = stack
    ids = [g.gateway_id for g in model.gateways_of_site(big)]
    tick = threading.Event()
    for gid in ids:  # spread the power cut: the wills arrive one by one
        runner.call(partial(Fleet.kill, gateway_id=gid))
        tick.wait(0.1)  # pacing of the scenario (wills spread out), not synchronisation
    wait_for(
        lambda: (
            _q(
                db_path,
                "SELECT count(*) FROM alerts WHERE kind='site_down' AND state='firing' AND subject_id=?",
                big,
            )
            == [(1,)]
        ),
        30,
        what="site_down firing",
    )
    assert _q(db_path, "SELECT count(*) FROM gateways WHERE site_id=? AND status='down'", big) == [
        (SITE_SIZE,)
    ]
    # Past every gateway's own pending delay (6 s): still no gateway page.
    # Wait until every gateway of the site has been down longer than its own pending delay
    # (6 s, plus margin): any gateway_down page would have fired by now.
    last_down = _q(db_path, "SELECT max(status_since) FROM gateways WHERE site_id=?", big)[0][0]
    assert isinstance(last_down, str)
    wait_for(
        lambda: (
            _q(
                db_path,
                "SELECT julianday('now') - julianday(?) > 8.0 / 86400",
                last_down,
            )
            == [(1,)]
        ),
        30,
        what="every gateway down for longer than its pending delay",
    )
    assert _q(db_path, "SELECT count(*) FROM alerts WHERE kind='site_down'") == [(1,)]
    # The engine did see each gateway's condition: it is held, inhibited by the site.
    assert _q(
        db_path,
        "SELECT state, count(*) FROM alerts WHERE kind='gateway_down' AND site_id=?"
        " AND state != 'resolved' GROUP BY state",
        big,
    ) == [("suppressed", SITE_SIZE)]
    assert _q(
        db_path,
        "SELECT count(*) FROM alerts WHERE kind='gateway_down' AND (state='firing' OR fired_at IS NOT NULL)",
    ) == [(0,)]
    assert _q(
        db_path,
        "SELECT count(*) FROM alert_events e JOIN alerts a ON a.id=e.alert_id"
        " WHERE a.kind='gateway_down' AND e.to_state='firing'",
    ) == [(0,)]

    for gid in ids:  # power is back
        runner.call(partial(_power_on, gateway_id=gid))
    wait_for(
        lambda: _q(db_path, "SELECT state FROM alerts WHERE kind='site_down'") == [("resolved",)],
        30,
        what="site_down resolved",
    )
    wait_for(
        lambda: _q(db_path, "SELECT count(*) FROM alerts WHERE state != 'resolved'") == [(0,)],
        30,
        what="no child alert left open",
    )
    assert _q(
        db_path,
        "SELECT count(*) FROM alert_events e JOIN alerts a ON a.id=e.alert_id"
        " WHERE a.kind != 'site_down' AND e.to_state='firing'",
    ) == [(0,)]
