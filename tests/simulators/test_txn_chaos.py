"""The demo's transaction faults (Chaos.inject_txn): on what trades at that hour, undone."""

from __future__ import annotations

import io
import json
from datetime import datetime
from zoneinfo import ZoneInfo

from simulators.chaos import Chaos
from simulators.fleetmodel import generate
from simulators.gateways import Fleet, Mode
from simulators.txnfleet import TxnDriver, devices_of
from simulators.txnmodel import STORE_TYPES, TxnMode

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _chaos(gateways: int = 60) -> tuple[Chaos, TxnDriver, io.StringIO]:
    model = generate(gateways, 3, "Asia/Shanghai")
    fleet = Fleet(model.gateways, "127.0.0.1", 1)  # never connected: faults only set modes
    for gw in fleet.gateways.values():
        gw.mode = Mode.RUNNING
    driver = TxnDriver(devices_of(model, 3, STORE_TYPES), window_s=30, scale=60)
    truth = io.StringIO()
    return Chaos(fleet, 3, truth, txn=driver), driver, truth


def _rows(truth: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in truth.getvalue().splitlines()]


def test_at_night_in_shanghai_only_a_store_open_around_the_clock_gets_a_transaction_fault() -> None:
    chaos, driver, truth = _chaos()
    night = datetime(2026, 12, 1, 3, 30, tzinfo=SHANGHAI)  # a Tuesday, 03:30
    assert {d.store.name for d in driver.devices.values()} > {"convenience"}
    stuck = chaos.inject_txn(0.0, night)
    outage = chaos.inject_txn(0.0, night)
    assert stuck is not None
    assert outage is not None
    [silent] = [d for d in driver.devices.values() if d.mode is TxnMode.STUCK]
    failing = [d for d in driver.devices.values() if d.mode is TxnMode.ISSUER_OUTAGE]
    assert silent.store.name == "convenience"
    assert failing
    assert {d.store.name for d in failing} == {"convenience"}
    # The whole store fails, not one lane of it, and a stuck lane is not in it.
    [site] = {d.site_id for d in failing}
    assert {d.device_id for d in failing} == {
        d.device_id for d in driver.devices.values() if d.site_id == site
    }
    assert silent.site_id != site
    assert all(d.fault_share == 0.6 for d in failing)
    rows = _rows(truth)
    assert [(r["fault"], r["subject_id"], r["expect_alert"]) for r in rows] == [
        ("stuck_app", silent.device_id, "terminal_silent"),
        ("issuer_outage", site, "txn_failure_spike"),
    ]


def test_a_transaction_fault_keeps_other_faults_off_its_gateways_until_its_alert_can_clear() -> (
    None
):
    chaos, driver, truth = _chaos()
    noon = datetime(2026, 12, 1, 12, 0, tzinfo=SHANGHAI)
    chaos.inject_txn(0.0, noon)
    chaos.inject_txn(0.0, noon)
    faulty = [d for d in driver.devices.values() if d.mode is not TxnMode.NORMAL]
    busy = chaos.busy()
    assert all(d.gateway_id in busy or d.site_id in busy for d in faulty)
    # Held 5 to 8 minutes: not over after 4, over after 9.
    chaos.undo_due(240.0)
    assert all(d.mode is not TxnMode.NORMAL for d in faulty)
    chaos.undo_due(540.0)
    assert all(d.mode is TxnMode.NORMAL for d in driver.devices.values())
    ends = [r for r in _rows(truth) if str(r["fault"]).endswith("_end")]
    assert sorted(str(r["fault"]) for r in ends) == ["issuer_outage_end", "stuck_app_end"]
    # Still off-limits while their alerts clear (first sales, the spike window draining),
    # so no other fault makes the collector page the same terminal or store again.
    assert chaos.busy() == busy
    chaos.undo_due(540.0 + 239.0)
    assert chaos.busy() == busy
    chaos.undo_due(540.0 + 241.0)
    assert not chaos.active
    assert len(_rows(truth)) == 4
