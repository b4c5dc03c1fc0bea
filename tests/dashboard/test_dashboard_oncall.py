"""The On-call page (AppTest): who is on call now from data written through the actions,
a rotation edited and an override added from the page, validated and audited."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any

import pytest

from collector.actions import Actor, Role, add_override, set_rotation
from collector.oncall import Person
from collector.store import db
from collector.store.times import to_db
from simulators.stack.seeded_store import NOW

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:altair.*")
PAGE = "views/oncall.py"
OLGA = Actor("olga", Role.OPERATOR)


def _rows(path: Any, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    conn = db.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def by_label(widgets: Any, label: str) -> Any:
    found = [w for w in widgets if w.label == label]
    assert found, f"no widget labelled {label!r}: {[w.label for w in widgets]}"
    return found[0]


def _seed(path: Any) -> None:
    conn = db.connect(path)
    try:
        # NOW is 2026-11-22 09:00 UTC = 17:00 in Shanghai. 12 h shifts from 08:00 local on the
        # 20th: 08:00-20:00 Li, 20:00-08:00 Wang, ... -> on the 22nd at 17:00 it is Li.
        set_rotation(
            conn,
            OLGA,
            region_id="R01",
            tier=1,
            members=[Person("Li **bold**", "13800000001"), Person("Wang", "13800000002")],
            start_local=datetime(2026, 11, 20, 8, 0),
            shift=timedelta(hours=12),
            now=NOW,
        )
        set_rotation(
            conn,
            OLGA,
            region_id="R01",
            tier=2,
            members=[Person("Zhou")],
            start_local=datetime(2026, 11, 16, 9, 0),
            shift=timedelta(weeks=1),
            now=NOW,
        )
        add_override(
            conn,
            OLGA,
            region_id="R01",
            tier=2,
            person=Person("Sun", "13800000009"),
            starts_at=NOW - timedelta(hours=1),
            ends_at=NOW + timedelta(hours=3),
            now=NOW,
        )
    finally:
        conn.close()


def test_on_call_page_shows_who_is_on_call_now_in_local_time_and_the_next_handover(
    open_page, fleet
) -> None:
    _seed(fleet.path)
    at = open_page(PAGE)
    now_df = at.dataframe[0].value
    got = {(r.region, r.tier): (r.on_call, r.source, r.local_time) for r in now_df.itertuples()}
    assert got == {
        ("R01", 1): ("Li **bold**", "rotation", "2026-11-22 17:00"),
        ("R01", 2): ("Sun", "override", "2026-11-22 17:00"),
    }
    nxt = at.dataframe[1].value.iloc[0]
    assert (nxt["at_local"], nxt["region"], nxt["tier"], nxt["to"]) == (
        "2026-11-22 20:00",
        "R01",
        1,
        "Wang",
    )
    assert [b.label for b in at.get("download_button")][:3] == [
        "Download on-call-now.csv",
        "Download on-call-handovers.csv",
        "Download on-call-schedule.csv",
    ]
    # A viewer (not logged in) sees no editing forms.
    assert not [b for b in at.button if b.label in ("Save rotation", "Add override")]


def test_the_next_handovers_say_who_takes_over_in_chinese(open_page, fleet) -> None:
    """The handover's person is who is handed the shift (接班人), not a status change's
    "to" (新状态), as the shared header once read."""
    _seed(fleet.path)
    at = open_page(PAGE, query={"lang": "zh-CN"})
    handovers = at.dataframe[1]
    assert handovers.value.iloc[0]["to"] == "Wang"
    labels = json.loads(handovers.proto.columns)
    assert labels["to"]["label"] == "接班人"


def test_an_operator_sets_a_rotation_from_the_page_and_the_form_is_cleared(
    open_page, fleet
) -> None:
    at = open_page(PAGE, login="olga")
    at.selectbox(key="rot_region").select("R02")
    at.number_input(key="rot_tier").set_value(2)
    at.date_input(key="rot_day").set_value(datetime(2026, 11, 16).date())
    at.time_input(key="rot_time").set_value(time(9, 0))
    at.text_area(key="rot_members").input("Ma, 13900000001, ma01\nNiu, 13900000002")
    by_label(at.button, "Save rotation").click()
    at.run()
    assert not at.exception, at.exception
    assert _rows(fleet.path, "SELECT tier, start_local, shift_s FROM oncall_rotations") == [
        (2, "2026-11-16T09:00", 7 * 86400)
    ]
    assert _rows(fleet.path, "SELECT actor, action, subject FROM audit_log ORDER BY id DESC")[
        0
    ] == ("olga", "oncall.rotation", "oncall:R02/2")
    now_df = at.dataframe[0].value
    assert list(now_df["on_call"]) == ["Ma"]  # week of the 16th (Shanghai): first person
    assert at.session_state["rot_members"] == ""


def test_an_override_ending_before_it_starts_is_refused_with_the_reason(open_page, fleet) -> None:
    at = open_page(PAGE, login="olga")
    at.selectbox(key="ov_region").select("R03")
    at.text_input(key="ov_name").input("Qian")
    at.date_input(key="ov_from_day").set_value((NOW + timedelta(days=2)).date())
    at.date_input(key="ov_to_day").set_value((NOW + timedelta(days=1)).date())
    by_label(at.button, "Add override").click()
    at.run()
    assert not at.exception, at.exception
    assert any("before it starts" in e.value for e in at.error)
    assert _rows(fleet.path, "SELECT count(*) FROM oncall_overrides") == [(0,)]


def test_an_operator_adds_and_removes_an_override_from_the_page(open_page, fleet) -> None:
    _seed(fleet.path)
    at = open_page(PAGE, login="olga")
    at.selectbox(key="ov_region").select("R01")
    at.text_input(key="ov_name").input("Zhao")
    at.text_input(key="ov_phone").input("13700000007")
    at.time_input(key="ov_from_time").set_value(time(16, 0))  # local (Shanghai) = 08:00 UTC
    by_label(at.button, "Add override").click()
    at.run()
    assert not at.exception, at.exception
    ((oid, starts, ends),) = _rows(
        fleet.path, "SELECT id, starts_at, ends_at FROM oncall_overrides WHERE name = 'Zhao'"
    )
    assert starts == to_db(NOW - timedelta(hours=1))
    assert ends == to_db(NOW + timedelta(days=1))  # default: this local hour, tomorrow
    assert at.session_state["ov_name"] == ""
    got = {(r.region, r.tier): r.on_call for r in at.dataframe[0].value.itertuples()}
    assert got[("R01", 1)] == "Zhao"
    by_label(at.selectbox, "Override").select(oid)
    by_label(at.button, "Remove override").click()
    at.run()
    assert not at.exception, at.exception
    got = {(r.region, r.tier): r.on_call for r in at.dataframe[0].value.itertuples()}
    assert got[("R01", 1)] == "Li **bold**"
    assert [a for (a,) in _rows(fleet.path, "SELECT action FROM audit_log ORDER BY id")][-2:] == [
        "oncall.override",
        "oncall.override_removed",
    ]
