"""The simulated gateways reconnect like the agent after the broker goes away: its backoff
(1 s doubling to 120 s, full jitter), not capped at a heartbeat interval. Against a port
where nothing listens, so every attempt is refused as during a broker outage."""

from __future__ import annotations

import pytest

from collector.process import free_port
from simulators.fleetmodel import generate
from simulators.gateways import Fleet


def _waits(fleet: Fleet, gateway_id: str, attempts: int) -> list[float]:
    gw = fleet.gateways[gateway_id]
    mono, waits = 0.0, []
    fleet._reconnect(gw, mono)  # the link just dropped: the first wait
    for _ in range(attempts):
        assert gw.retry_at is not None
        waits.append(gw.retry_at - mono)
        mono = gw.retry_at
        fleet._reconnect(gw, mono)  # refused: the next wait
    return waits


def test_after_a_long_outage_the_fleet_spreads_its_reconnects_over_the_agents_backoff() -> None:
    model = generate(40, seed=2)
    fleet = Fleet(model.gateways, "127.0.0.1", free_port(), interval=2.0, seed=2)
    try:
        late = []
        for g in model.gateways:
            waits = _waits(fleet, g.gateway_id, 12)
            assert waits[0] == 1.0  # the agent's first wait is its minimum
            for k, w in enumerate(waits):
                assert 1.0 <= w <= min(120.0, 2.0**k)  # full jitter under a doubling ceiling
            late += waits[8:]  # the ceiling has reached 120 s
        assert max(late) > 90  # not capped at the 2 s heartbeat interval
        assert sum(w > 60 for w in late) / len(late) == pytest.approx(0.5, abs=0.2)
    finally:
        fleet.close()


def test_a_scenario_can_scale_the_backoff() -> None:
    model = generate(5, seed=2)
    fleet = Fleet(model.gateways, "127.0.0.1", free_port(), reconnect_min_s=45, reconnect_max_s=55)
    try:
        waits = _waits(fleet, model.gateways[0].gateway_id, 4)
        assert waits[0] == 45.0
        assert all(45.0 <= w <= 55.0 for w in waits)
    finally:
        fleet.close()
