"""Policies set while the real collector watches a simulated fleet (30 gateways through a real
Mosquitto): the collector's own alert engine raises maintenance overdue for exactly the
terminals the schedule covers, and the console lists them apart from the one real outage,
never among the pages."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support.services import missing
from support.stack import fleet_stack, query

from collector.actions import Actor, Role, import_schedules, set_firmware_policy
from simulators.broker import BrokerError, MosquittoProcess, find_mosquitto
from simulators.fleetmodel import Fleet as FleetModel
from simulators.fleetmodel import generate
from simulators.gateways import Fleet
from simulators.stack.wait import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PASSWORD = "correct horse battery"
ADA = Actor("ada", Role.ADMIN)


@dataclass(frozen=True)
class Store:
    db: Path
    model: FleetModel
    killed: str  # a gateway of a store with others up: one gateway_down page
    region: str  # the region whose terminals the inspection schedule covers
    due: set[str]  # those terminals (from the fleet model)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    if find_mosquitto() is None:
        missing("mosquitto")
    work = tmp_path_factory.mktemp("policies-fleet")
    db = work / "posfleet.sqlite"
    model = generate(30, seed=3)
    per_site: dict[str, int] = {}
    for g in model.gateways:
        per_site[g.site_id] = per_site.get(g.site_id, 0) + 1
    killed = next(g for g in model.gateways if per_site[g.site_id] > 1).gateway_id
    region = next(g.region_id for g in model.gateways if g.terminals)
    due = {t.terminal_id for g in model.gateways if g.region_id == region for t in g.terminals}
    model_of_terminal = next(t.model for g in model.gateways for t in g.terminals)
    try:
        broker = MosquittoProcess(workdir=work / "mosquitto").start()
    except BrokerError as exc:
        pytest.fail(str(exc))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S", "2")
        env.setenv("POSFLEET_ALERT_POLL_POLICY_S", "1")
        env.setenv("POSFLEET_ALERT_POLL_MAINTENANCE_S", "1")
        try:
            with fleet_stack(
                model, broker, db, work, interval=1.0, online_timeout=60, grace_min_s=0.5
            ) as (runner, _collector):
                now = datetime.now(UTC)
                conn = sqlite3.connect(db, timeout=30)
                try:
                    # Inventory installs are in 2024: a weekly inspection is overdue at once.
                    import_schedules(
                        conn,
                        ADA,
                        "task_type,scope_type,scope_id,every_n,every_unit,usage_metric,"
                        f"usage_limit,due_soon_days\ninspection,region,{region},1,weeks,,,3\n",
                        now,
                    )
                    set_firmware_policy(
                        conn, ADA, model=model_of_terminal, target_version="9.9.9",
                        min_version="", now=now,
                    )  # fmt: skip
                finally:
                    conn.close()
                runner.call(partial(Fleet.kill, gateway_id=killed))
                wait_for(
                    lambda: (
                        query(
                            db,
                            "SELECT state FROM alerts WHERE kind = 'gateway_down' AND subject_id = ?",
                            killed,
                        )
                        == [("firing",)]
                    ),
                    60,
                    what=f"{killed} paged",
                )
                wait_for(
                    lambda: (
                        {
                            str(r[0])
                            for r in query(
                                db,
                                "SELECT subject_id FROM alerts WHERE kind = 'maintenance_overdue' "
                                "AND state != 'resolved'",
                            )
                        }
                        == due
                    ),
                    60,
                    what=f"maintenance overdue for the {len(due)} terminals of {region}",
                )
        finally:
            broker.close()
    return Store(db, model, killed, region, due)


@pytest.fixture
def app(store: Store, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("POSFLEET_DB", str(store.db))
    monkeypatch.delenv("POSFLEET_LANG", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def test_the_outage_list_has_the_killed_gateway_and_maintenance_due_is_counted_apart(
    app: AppTest, store: Store
) -> None:
    assert store.due  # the schedule covers terminals
    app.switch_page("views/alerts.py").run()
    assert not app.exception, app.exception
    outages = next(d.value for d in app.dataframe if "escalation" in d.value.columns)
    assert list(outages["subject_id"]) == [store.killed]
    due = next(m for m in app.metric if m.label == "Maintenance overdue (not paged)")
    assert due.value == str(len(store.due))
    by_region = next(d.value for d in app.dataframe if "overdue" in d.value.columns)
    assert by_region[["region_id", "overdue"]].values.tolist() == [[store.region, len(store.due)]]


def test_the_policies_page_shows_what_the_admin_set(app: AppTest, store: Store) -> None:
    app.switch_page("views/policies.py").run()
    assert not app.exception, app.exception
    schedules = next(d.value for d in app.dataframe if "task_type" in d.value.columns)
    assert schedules[
        ["task_type", "scope_type", "scope_id", "every_n", "every_unit"]
    ].values.tolist() == [["inspection", "region", store.region, 1, "weeks"]]
    firmware = next(d.value for d in app.dataframe if "target_version" in d.value.columns)
    assert list(firmware["target_version"]) == ["9.9.9"]
    assert list(firmware["updated_by"]) == ["ada"]
