"""The console on a store filled from the simulator's own inventory (simulators.fleetmodel)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from dashboard_fleet import NOW, apply_schema
from streamlit.testing.v1 import AppTest

from collector.inventory import import_dir
from collector.store.times import to_db
from simulators.fleetmodel import generate

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PAGES = ["alerts", "detail", "incidents", "firmware", "maintenance", "inventory", "audit"]


@pytest.fixture
def sim_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fleet = generate(30, seed=3)
    fleet.export_inventory(tmp_path / "inventory")
    db = tmp_path / "sim.sqlite"
    conn = sqlite3.connect(db)
    try:
        apply_schema(conn)
        counts = import_dir(conn, tmp_path / "inventory")
        down = fleet.gateways[0]
        with conn:  # what the collector and the alert engine would have written
            conn.execute("UPDATE gateways SET status = 'online', last_seen_at = ?", (to_db(NOW),))
            conn.execute(
                "UPDATE gateways SET status = 'down', status_since = ? WHERE gateway_id = ?",
                (to_db(NOW), down.gateway_id),
            )
            conn.execute(
                "INSERT INTO alerts (kind, subject_type, subject_id, severity, state, region_id,"
                " site_id, gateway_id, summary, started_at, fired_at) VALUES ('gateway_down',"
                " 'gateway', ?, 'critical', 'firing', ?, ?, ?, ?, ?, ?)",
                (
                    down.gateway_id,
                    down.region_id,
                    down.site_id,
                    down.gateway_id,
                    f"{down.gateway_id} down",
                    to_db(NOW),
                    to_db(NOW),
                ),
            )
    finally:
        conn.close()
    monkeypatch.setenv("POSFLEET_DB", str(db))
    monkeypatch.setenv("POSFLEET_DASHBOARD_NOW", to_db(NOW))
    return fleet, counts


def test_every_page_renders_the_simulators_fleet(sim_store) -> None:
    fleet, counts = sim_store
    assert counts["gateways"] == 30
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception, at.exception
    gateways_down = next(m for m in at.metric if m.label == "down")
    assert gateways_down.value == "1"
    assert int(next(m for m in at.metric if m.label == "online").value) == 29
    for page in PAGES:
        if page == "detail":
            at.query_params["id"] = fleet.gateways[0].serial  # found by serial
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, (page, at.exception)
        if page == "alerts":
            assert list(at.dataframe[0].value["subject_id"]) == [fleet.gateways[0].gateway_id]
        if page == "detail":
            assert at.header[0].value == f"gateway {fleet.gateways[0].gateway_id}"


def test_search_finds_a_simulated_merchant(sim_store) -> None:
    fleet, _ = sim_store
    site = fleet.sites[0]
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.query_params["q"] = site.merchant
    at.run()
    assert not at.exception, at.exception
    labels = [e.proto.label for e in at.sidebar.get("page_link")]
    assert any(site.site_id in label for label in labels)
