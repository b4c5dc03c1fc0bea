"""The Policies page and the Alerts page's "Maintenance due" section, on each engine.

The grouping test is issue #15's case: setting a schedule made the alert engine raise a
maintenance_overdue alert for every terminal (200+), and they buried the outages on the
Alerts page. Here the real alert engine sweeps a seeded fleet of 240 terminals; the outage
list must show exactly the alerts that were there before, and the overdue ones are counted
apart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from collector.actions import Actor, Role, import_schedules
from collector.alerts.config import AlertSettings
from collector.alerts.listener import build_listener
from collector.store import db
from collector.store.times import to_db
from dashboard.auth import add_user
from simulators.stack.seeded_store import NOW, Fleet, build_store

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PASSWORD = "correct horse battery"
ADMIN = Actor("ada", Role.ADMIN)


@pytest.fixture
def fleet(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Fleet:
    """The console's seeded fleet, with 240 terminals (conftest's has 120)."""
    built = build_store(
        store_url if db.is_postgres(store_url) else Path(store_url),
        terminals=240,
        days=3,
        telemetry_gateways=2,
    )
    conn = db.connect(built.path)
    try:
        for name, role in (("vic", "viewer"), ("olga", "operator"), ("ada", "admin")):
            add_user(conn, name, role, PASSWORD, NOW)
    finally:
        conn.close()
    monkeypatch.setenv("POSFLEET_DB", str(built.path))
    monkeypatch.setenv("POSFLEET_DASHBOARD_NOW", to_db(NOW))
    monkeypatch.delenv("POSFLEET_LANG", raising=False)
    monkeypatch.setenv("POSFLEET_TZ", "UTC")
    # One page holds every active alert, so the list shows all it would list.
    monkeypatch.setenv("POSFLEET_DASHBOARD_PAGE_SIZE", "1000")
    return built


def _open(page: str, login: str = "", **query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    if login:
        at.sidebar.text_input(key="login_user").input(login)
        at.sidebar.text_input(key="login_password").input(PASSWORD)
        at.sidebar.button[0].click()
        at.run()
    at.query_params.update(query)
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def _sweep_every_terminal(fleet: Fleet) -> tuple[set[int], int]:
    """Schedules for every region (imported as an admin would), then the real alert engine's
    sweeps over the store: the ids of the active alerts before, and how many it added."""
    conn = db.connect(fleet.path)
    try:
        regions = [r[0] for r in conn.execute("SELECT region_id FROM regions ORDER BY 1")]
        before = {
            int(r[0]) for r in conn.execute("SELECT id FROM alerts WHERE state != 'resolved'")
        }
        csv = "task_type,scope_type,scope_id,every_n,every_unit,usage_metric,usage_limit,due_soon_days\n"
        csv += "".join(f"inspection,region,{r},1,days,,,0\n" for r in regions)
        import_schedules(conn, ADMIN, csv, NOW - timedelta(minutes=5))
        settings = AlertSettings.model_validate({"maintenance_chunk": 100})
        clock = {"mono": 0.0}
        listener = build_listener(conn, settings, now=NOW - timedelta(minutes=2),
                                  monotonic=lambda: clock["mono"])  # fmt: skip
        at = NOW - timedelta(minutes=2)
        while at < NOW:
            at += timedelta(seconds=1)
            clock["mono"] += 1
            with conn:
                listener.tick(conn, at)
        # Active: firing, or suppressed (a terminal behind a down gateway is still due).
        added = conn.execute(
            "SELECT COUNT(*) FROM alerts WHERE kind = 'maintenance_overdue' AND state != 'resolved'"
        ).fetchone()[0]
    finally:
        conn.close()
    return before, int(added)


def _outage_ids(at: AppTest) -> set[int]:
    frame = next(d.value for d in at.dataframe if "escalation" in d.value.columns)
    return {int(i) for i in frame["id"]}


def test_two_hundred_overdue_terminals_stay_out_of_the_outage_list_and_are_counted_apart(
    fleet: Fleet,
) -> None:
    before, overdue = _sweep_every_terminal(fleet)
    assert overdue >= 200
    at = _open("views/alerts.py", ack="unacked")
    conn = db.connect(fleet.path)
    try:
        active = conn.execute(
            "SELECT id, kind FROM alerts WHERE state IN ('firing', 'pending') AND acked_at IS NULL"
        ).fetchall()
    finally:
        conn.close()
    maintenance = {int(i) for i, kind in active if kind == "maintenance_overdue"}
    others = {int(i) for i, _ in active} - maintenance
    assert maintenance  # firing ones, on the list before the fix
    # The outage list: the page that was there before (and whatever else the engine
    # raised: firmware, hardware), none of the 200+ overdue terminals.
    assert fleet.alert_id in before
    assert len(others) + len(maintenance) <= 1000  # one page (POSFLEET_DASHBOARD_PAGE_SIZE)
    assert _outage_ids(at) == others
    kinds = next(s for s in at.selectbox if s.label == "Kind").options
    assert "maintenance_overdue" not in kinds
    due = next(m for m in at.metric if m.label == "Maintenance overdue (not paged)")
    assert due.value == str(overdue)
    by_region = next(d.value for d in at.dataframe if "overdue" in d.value.columns)
    assert int(by_region["overdue"].sum()) == overdue


def test_a_viewer_reads_the_policies_and_an_admin_sets_one_from_the_page(
    fleet: Fleet,
) -> None:
    viewer = _open("views/policies.py", login="vic")
    assert [b.key for b in viewer.main.button] == []  # no form: read-only
    assert any("Log in as admin" in i.value for i in viewer.info)
    at = _open("views/policies.py", login="ada")
    conn = db.connect(fleet.path)
    try:
        (model,) = conn.execute("SELECT model FROM terminals ORDER BY model LIMIT 1").fetchone()
    finally:
        conn.close()
    at.selectbox(key="fw_model").select(model)
    at.text_input(key="fw_target").input("9.1.0")
    at.text_input(key="fw_min").input("9.0")
    next(b for b in at.button if b.label == "Save firmware policy").click()
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    table = next(d.value for d in at.dataframe if "target_version" in d.value.columns)
    row = table[table["model"] == model].to_dict("records")
    assert [(r["target_version"], r["min_version"], r["updated_by"]) for r in row] == [
        ("9.1.0", "9.0", "ada")
    ]
    # A bad schedule is refused on the page with what is wrong, and nothing is stored.
    at.selectbox(key="sc_scope").select("site")
    at.text_input(key="sc_scope_id").input("s-99999")
    at.number_input(key="sc_every").set_value(3)
    next(b for b in at.button if b.label == "Save schedule").click()
    at.run()
    # (md() escapes the colon for Markdown; the text reads the same.)
    assert [e.value for e in at.error] == ["site 's-99999' is not in the inventory\\: check the id"]
    conn = db.connect(fleet.path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM maintenance_schedules").fetchone() == (0,)
        assert conn.execute(
            "SELECT actor, action, subject FROM audit_log WHERE action LIKE 'firmware%'"
        ).fetchall() == [("ada", "firmware_policy.set", f"model:{model}")]
    finally:
        conn.close()


def test_the_alerts_page_and_policies_page_speak_chinese(fleet: Fleet) -> None:
    at = _open("views/policies.py", login="ada", lang="zh-CN")
    assert at.title[0].value == "策略"
    assert [h.value for h in at.header] == ["固件策略", "维护计划"]
    at = _open("views/alerts.py", lang="zh-CN")
    assert any(m.label == "维护逾期（不呼叫）" for m in at.metric)  # noqa: RUF001


def test_the_policies_page_names_the_models_without_a_firmware_policy(fleet: Fleet) -> None:
    conn = db.connect(fleet.path)
    try:
        with conn:
            conn.execute("DELETE FROM firmware_policy WHERE model IN ('S920', 'V240m')")
    finally:
        conn.close()
    at = _open("views/policies.py")  # a viewer reads it too
    assert list(at.dataframe[0].value["model"]) == ["A920"]
    said = [c.value for c in at.caption if "S920" in c.value]
    assert said == ["No policy (no target version) for: S920, V240m"]
