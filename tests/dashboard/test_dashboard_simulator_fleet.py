"""The console on a store the real collector wrote: a simulated fleet of 30 gateways through a
real Mosquitto into the collector, one gateway killed (paged), a service visit and a
maintenance window recorded through the operators' actions. Every page is checked against
what the fleet model and the test did, not against the console's own queries."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support.services import missing
from support.stack import fleet_stack, query

from collector.actions import Actor, Role, create_window, record_service
from simulators.broker import BrokerError, MosquittoProcess, find_mosquitto
from simulators.fleetmodel import Fleet as FleetModel
from simulators.fleetmodel import generate
from simulators.gateways import Fleet
from simulators.stack.wait import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
OLGA = Actor("olga", Role.OPERATOR)


@dataclass(frozen=True)
class Store:
    db: Path
    model: FleetModel
    killed: str  # a gateway of a store with others up: a gateway_down page, not a site's
    serviced: str  # a terminal with a service visit
    window_site: str  # a site with an upcoming maintenance window


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    if find_mosquitto() is None:
        missing("mosquitto")
    work = tmp_path_factory.mktemp("console-fleet")
    db = work / "posfleet.sqlite"
    model = generate(30, seed=3)
    per_site: dict[str, int] = {}
    for g in model.gateways:
        per_site[g.site_id] = per_site.get(g.site_id, 0) + 1
    killed = next(g for g in model.gateways if per_site[g.site_id] > 1).gateway_id
    serviced = next(t for g in model.gateways for t in g.terminals).terminal_id
    window_site = model.sites[-1].site_id
    try:
        broker = MosquittoProcess(workdir=work / "mosquitto").start()
    except BrokerError as exc:
        pytest.fail(str(exc))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S", "2")
        try:
            with fleet_stack(
                model, broker, db, work, interval=1.0, online_timeout=60, grace_min_s=0.5
            ) as (runner, _collector):
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
                now = datetime.now(UTC)
                conn = sqlite3.connect(db, timeout=30)
                try:
                    record_service(
                        conn, OLGA, subject_type="terminal", subject_id=serviced,
                        work="printer head cleaned", now=now,
                    )  # fmt: skip
                    create_window(
                        conn, OLGA, scope_type="site", scope_id=window_site,
                        starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=2),
                        reason="router swap", now=now,
                    )  # fmt: skip
                finally:
                    conn.close()
        finally:
            broker.close()
    return Store(db, model, killed, serviced, window_site)


@pytest.fixture
def app(store: Store, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("POSFLEET_DB", str(store.db))
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def _open(at: AppTest, page: str, **params: str) -> AppTest:
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, (page, at.exception)
    return at


def _table(at: AppTest, with_column: str) -> list[dict[str, object]]:
    frame = next(d.value for d in at.dataframe if with_column in d.value.columns)
    rows: list[dict[str, object]] = frame.to_dict("records")
    return rows


def test_overview_counts_the_killed_gateway_down_and_the_rest_online(
    app: AppTest, store: Store
) -> None:
    gateways = {m.label: m.value for m in app.metric[:7]}  # the first row: gateways
    assert gateways["down"] == "1"
    assert gateways["online"] == str(len(store.model.gateways) - 1)


def test_alerts_page_lists_the_page_the_collector_raised(app: AppTest, store: Store) -> None:
    at = _open(app, "alerts")
    assert [r["subject_id"] for r in _table(at, "subject_id")] == [store.killed]


def test_detail_found_by_serial_shows_the_gateway_down(app: AppTest, store: Store) -> None:
    gw = next(g for g in store.model.gateways if g.gateway_id == store.killed)
    at = _open(app, "detail", id=gw.serial)
    assert at.header[0].value == f"gateway {store.killed}"
    assert next(m.value for m in at.metric if m.label == "Status") == "down"


def test_incidents_page_shows_the_open_outage_of_the_killed_gateway(
    app: AppTest, store: Store
) -> None:
    at = _open(app, "incidents", open="1")
    rows = _table(at, "ended_at")
    assert [r["subject_id"] for r in rows] == [store.killed]
    assert rows[0]["class"] == "fault"


def test_firmware_page_counts_every_gateway_and_terminal_of_the_fleet_by_model(
    app: AppTest, store: Store
) -> None:
    at = _open(app, "firmware")
    shown: dict[tuple[str, str], int] = {}
    for r in _table(at, "compliance"):
        for kind in ("gateways", "terminals"):
            key = (kind, str(r["model"]))
            shown[key] = shown.get(key, 0) + int(str(r[kind]))
    expected: dict[tuple[str, str], int] = {}
    for g in store.model.gateways:
        expected[("gateways", g.model)] = expected.get(("gateways", g.model), 0) + 1
        for t in g.terminals:
            expected[("terminals", t.model)] = expected.get(("terminals", t.model), 0) + 1
    assert {k: n for k, n in shown.items() if n} == expected


def test_maintenance_page_shows_the_scheduled_window(app: AppTest, store: Store) -> None:
    at = _open(app, "maintenance")
    windows = _table(at, "scope_id")
    assert [(w["scope_type"], w["scope_id"], w["reason"]) for w in windows] == [
        ("site", store.window_site, "router swap")
    ]


def test_inventory_page_counts_what_was_imported(app: AppTest, store: Store) -> None:
    at = _open(app, "inventory")
    counts = {r["tbl"]: r["n"] for r in _table(at, "tbl")}
    assert counts["gateways"] == len(store.model.gateways)
    assert counts["terminals"] == sum(len(g.terminals) for g in store.model.gateways)
    assert counts["sites"] == len(store.model.sites)


def test_audit_page_lists_the_operators_actions(app: AppTest, store: Store) -> None:
    at = _open(app, "audit")
    rows = _table(at, "action")
    assert sorted((r["actor"], r["action"]) for r in rows) == [
        ("olga", "service.record"),
        ("olga", "window.create"),
    ]


def test_search_finds_a_simulated_merchant(app: AppTest, store: Store) -> None:
    site = store.model.sites[0]
    app.query_params["q"] = site.merchant
    app.run()
    assert not app.exception, app.exception
    labels = [e.proto.label for e in app.sidebar.get("page_link")]
    assert any(site.site_id in label for label in labels)
