"""End to end: simulated gateways (one selector loop) -> Mosquitto -> collector -> SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.stack import fleet_stack, query

from simulators.broker import MosquittoProcess
from simulators.fleetmodel import generate
from simulators.runner import FleetRunner
from simulators.stack.wait import wait_for

pytestmark = pytest.mark.integration


_q = query


@pytest.fixture
def stack(mosquitto: MosquittoProcess, db_path: Path, tmp_path: Path) -> Iterator[FleetRunner]:
    with fleet_stack(
        generate(40, seed=7), mosquitto, db_path, tmp_path, interval=1.0, grace_min_s=0.5
    ) as (runner, _collector):
        yield runner


def test_the_simulated_fleet_comes_online_with_its_terminals_and_no_incident(
    stack: FleetRunner, db_path: Path
) -> None:
    terminals = sum(len(g.spec.terminals) for g in stack.fleet.gateways.values())
    assert terminals > 0
    wait_for(
        lambda: (
            _q(db_path, "SELECT count(*) FROM terminals WHERE status='online'") == [(terminals,)]
        ),
        20,
        what="terminals online",
    )
    assert _q(db_path, "SELECT count(*) FROM gateways WHERE registered=0") == [(0,)]
    assert _q(db_path, "SELECT count(*) FROM incidents") == [(0,)]


def test_abrupt_disconnect_goes_down_through_the_will(stack: FleetRunner, db_path: Path) -> None:
    stack.call(lambda f: f.kill("gw-00003"))
    wait_for(
        lambda: (
            _q(db_path, "SELECT status FROM gateways WHERE gateway_id='gw-00003'") == [("down",)]
        ),
        20,
        what="gw-00003 down",
    )
    assert _q(db_path, "SELECT detected_by FROM incidents") == [("will",)]


def test_hung_gateway_goes_down_through_the_deadline(stack: FleetRunner, db_path: Path) -> None:
    stack.call(lambda f: f.hang("gw-00005"))
    wait_for(
        lambda: (
            _q(db_path, "SELECT status FROM gateways WHERE gateway_id='gw-00005'") == [("down",)]
        ),
        20,
        what="gw-00005 down",
    )
    assert _q(db_path, "SELECT detected_by FROM incidents") == [("deadline",)]


def test_quick_reconnect_is_never_marked_down(stack: FleetRunner, db_path: Path) -> None:
    for _ in range(3):
        stack.call(lambda f: f.quick_reconnect("gw-00007"))
    wait_for(
        lambda: _q(db_path, "SELECT session FROM gateways WHERE gateway_id='gw-00007'") == [(4,)],
        20,
        what="session 4 seen",
    )
    # Let every old will arrive and the will hold expire before judging.
    wait_for(
        lambda: stack.call(lambda f: f.gateways["gw-00007"].seq) > 5, 20, what="heartbeats flow"
    )
    assert _q(
        db_path,
        "SELECT count(*) FROM state_changes WHERE subject_id='gw-00007' AND to_status='down'",
    ) == [(0,)]
    assert _q(db_path, "SELECT count(*) FROM incidents") == [(0,)]
