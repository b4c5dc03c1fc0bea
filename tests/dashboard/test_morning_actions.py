"""The morning check's actions: bulk acknowledge and snooze until a time, each alert audited,
role-checked, on each engine (the seeded store is an SQLite file, then a PostgreSQL
database)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from collector.actions import (
    Actor,
    InvalidAction,
    PermissionDenied,
    Role,
    acknowledge_alert,
    acknowledge_alerts,
    snooze_alert,
    snooze_alerts,
)
from collector.store import db
from collector.store.times import to_db
from simulators.stack.seeded_store import NOW, Fleet, build_store

OLGA = Actor("olga", Role.OPERATOR)
VIC = Actor("vic", Role.VIEWER)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def store(store_url: str) -> Iterator[tuple[Fleet, db.Connection]]:
    fleet = build_store(store_url)
    conn = db.connect(fleet.path)
    try:
        yield fleet, conn
    finally:
        conn.close()


def unacked(conn: db.Connection, n: int) -> list[int]:
    rows = conn.execute(
        "SELECT id FROM alerts WHERE state = 'firing' AND acked_at IS NULL ORDER BY id"
    ).fetchall()
    assert len(rows) >= n
    return [int(r[0]) for r in rows[:n]]


def audit(conn: db.Connection, action: str) -> list[tuple[str, str, dict]]:
    rows = conn.execute(
        "SELECT actor, subject, details FROM audit_log WHERE action = ? ORDER BY id", (action,)
    )
    return [(a, s, json.loads(d)) for a, s, d in rows]


def test_bulk_acknowledge_acks_each_alert_with_its_own_event_and_audit_row(store) -> None:
    _, conn = store
    ids = unacked(conn, 3)
    got = acknowledge_alerts(conn, OLGA, ids, "morning check", NOW)
    assert got.done == ids
    assert got.refused == {}
    for alert_id in ids:
        row = conn.execute(
            "SELECT acked_by, acked_at, ack_note FROM alerts WHERE id = ?", (alert_id,)
        ).fetchone()
        assert row == ("olga", to_db(NOW), "morning check")
    assert [(a, s) for a, s, _ in audit(conn, "alert.acknowledge")] == [
        ("olga", f"alert:{i}") for i in ids
    ]
    events = conn.execute(
        "SELECT alert_id, note FROM alert_events WHERE actor = 'olga' ORDER BY id"
    ).fetchall()
    assert events == [(i, "acknowledged: morning check") for i in ids]


def test_bulk_acknowledge_reports_an_alert_acked_meanwhile_and_acks_the_others(store) -> None:
    _, conn = store
    first, second = unacked(conn, 2)
    acknowledge_alert(conn, Actor("ann", Role.OPERATOR), second, "mine", NOW)
    got = acknowledge_alerts(conn, OLGA, [first, second], "both", NOW)
    assert got.done == [first]
    assert list(got.refused) == [second]
    assert "already acknowledged" in got.refused[second]
    assert conn.execute("SELECT acked_by FROM alerts WHERE id = ?", (second,)).fetchone() == (
        "ann",
    )


def test_bulk_acknowledge_of_nothing_ackable_is_refused(store) -> None:
    _, conn = store
    (one,) = unacked(conn, 1)
    acknowledge_alert(conn, OLGA, one, "done", NOW)
    with pytest.raises(InvalidAction, match="already acknowledged"):
        acknowledge_alerts(conn, OLGA, [one], "again", NOW)
    with pytest.raises(InvalidAction, match="no alert selected"):
        acknowledge_alerts(conn, OLGA, [], "nothing", NOW)


def test_a_viewer_may_not_bulk_acknowledge_or_snooze_and_nothing_is_written(store) -> None:
    _, conn = store
    ids = unacked(conn, 2)
    before = conn.execute("SELECT count(*) FROM audit_log").fetchone()
    with pytest.raises(PermissionDenied, match="needs operator"):
        acknowledge_alerts(conn, VIC, ids, "x", NOW)
    with pytest.raises(PermissionDenied, match="needs operator"):
        snooze_alerts(conn, VIC, ids, NOW + timedelta(hours=1), NOW)
    assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == before
    placeholders = ",".join("?" * len(ids))
    assert conn.execute(
        f"SELECT count(*) FROM alerts WHERE id IN ({placeholders}) "
        "AND (acked_at IS NOT NULL OR snoozed_until IS NOT NULL)",
        ids,
    ).fetchone() == (0,)


def test_snooze_until_a_local_time_is_stored_in_utc_with_an_event_and_an_audit_row(
    store,
) -> None:
    fleet, conn = store
    # 10:30 in Shanghai the same morning (NOW is 09:00 UTC = 17:00 Shanghai: next day 10:30).
    until = NOW.astimezone(SHANGHAI).replace(hour=10, minute=30) + timedelta(days=1)
    snooze_alert(conn, OLGA, fleet.alert_id, until, NOW, "store opens at 10:00")
    row = conn.execute(
        "SELECT snoozed_until, snoozed_by, acked_at FROM alerts WHERE id = ?", (fleet.alert_id,)
    ).fetchone()
    assert row == ("2026-11-23T02:30:00.000000+00:00", "olga", None)
    event = conn.execute(
        "SELECT actor, note FROM alert_events WHERE alert_id = ? ORDER BY id DESC",
        (fleet.alert_id,),
    ).fetchone()
    assert event == ("olga", "snoozed until 2026-11-23T02:30:00.000000+00:00: store opens at 10:00")
    (entry,) = audit(conn, "alert.snooze")
    assert entry[:2] == ("olga", f"alert:{fleet.alert_id}")
    assert entry[2]["until"] == "2026-11-23T02:30:00.000000+00:00"


def test_snoozing_again_moves_the_time_and_audits_the_old_one(store) -> None:
    fleet, conn = store
    first, later = NOW + timedelta(hours=1), NOW + timedelta(hours=3)
    snooze_alert(conn, OLGA, fleet.alert_id, first, NOW)
    snooze_alert(conn, OLGA, fleet.alert_id, later, NOW + timedelta(minutes=5))
    assert conn.execute(
        "SELECT snoozed_until FROM alerts WHERE id = ?", (fleet.alert_id,)
    ).fetchone() == (to_db(later),)
    assert [d["before"] for _, _, d in audit(conn, "alert.snooze")] == [None, to_db(first)]


def test_a_snooze_time_in_the_past_is_refused_with_a_clear_message(store) -> None:
    fleet, conn = store
    past = (NOW - timedelta(minutes=1)).astimezone(SHANGHAI)
    with pytest.raises(InvalidAction, match=r"snooze until 2026-11-22 16:59 CST is in the past"):
        snooze_alert(conn, OLGA, fleet.alert_id, past, NOW)
    with pytest.raises(InvalidAction, match="in the past"):
        snooze_alerts(conn, OLGA, unacked(conn, 2), NOW, NOW)
    with pytest.raises(InvalidAction, match="more than 7 days"):
        snooze_alert(conn, OLGA, fleet.alert_id, NOW + timedelta(days=8), NOW)
    assert conn.execute(
        "SELECT count(*) FROM alerts WHERE snoozed_until IS NOT NULL"
    ).fetchone() == (0,)
    assert audit(conn, "alert.snooze") == []


def test_a_resolved_alert_cannot_be_snoozed(store) -> None:
    _, conn = store
    (resolved,) = conn.execute("SELECT id FROM alerts WHERE state = 'resolved' LIMIT 1").fetchone()
    with pytest.raises(InvalidAction, match="resolved"):
        snooze_alert(conn, OLGA, int(resolved), NOW + timedelta(hours=1), NOW)


def test_bulk_snooze_snoozes_each_alert_with_its_own_audit_row(store) -> None:
    _, conn = store
    ids = unacked(conn, 2)
    until = NOW + timedelta(hours=2)
    got = snooze_alerts(conn, OLGA, ids, until, NOW, "after lunch")
    assert got.done == ids
    for alert_id in ids:
        assert conn.execute(
            "SELECT snoozed_until, snoozed_by FROM alerts WHERE id = ?", (alert_id,)
        ).fetchone() == (to_db(until), "olga")
    assert [s for _, s, _ in audit(conn, "alert.snooze")] == [f"alert:{i}" for i in ids]


def test_the_morning_page_reads_the_store_on_each_engine(fleet, open_page) -> None:
    """The page's one read (``queries_morning``) on SQLite and PostgreSQL: the down gateway
    with a page nobody is on is listed before the acknowledged ones."""
    at = open_page("views/morning.py", login="olga")
    (table,) = at.dataframe
    got = table.value.to_dict("records")
    conn = db.connect(fleet.path)
    try:
        down = {r[0] for r in conn.execute("SELECT gateway_id FROM gateways WHERE status = 'down'")}
        acked = {
            r[0]
            for r in conn.execute(
                "SELECT subject_id FROM alerts WHERE kind = 'gateway_down' "
                "AND state = 'firing' AND acked_at IS NOT NULL"
            )
        }
    finally:
        conn.close()
    listed = [str(r["what"]).removeprefix("gateway ") for r in got]
    assert f"gateway {fleet.down_gateway}" in [r["what"] for r in got]
    assert set(listed) <= down
    flags = [g in acked for g in listed]
    assert flags == sorted(flags)  # the acknowledged ones last
    assert any(flags)
    assert not all(flags)


def test_the_page_snoozes_two_selected_rows_in_chinese_and_refuses_a_past_time(
    fleet, open_page, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The form on the viewer's clock (Shanghai, 17:00 at NOW): 16:00 today is refused in
    the viewer's language and nothing is written; 18:30 snoozes both rows until 10:30 UTC."""
    from datetime import date, time

    monkeypatch.setenv("POSFLEET_TZ", "Asia/Shanghai")
    at = open_page("views/morning.py", query={"lang": "zh-CN"}, login="olga")
    (table,) = at.dataframe
    picked = [str(w).removeprefix("网关 ") for w in table.value["what"][:2]]
    at.session_state["morning_rows_0"] = {"selection": {"rows": [0, 1], "columns": [], "cells": []}}
    at.run()
    assert [m.value for m in at.markdown if "已选择" in m.value] == ["已选择 2 行（2 条告警）。"]  # noqa: RUF001
    at.date_input[0].set_value(date(2026, 11, 22))
    at.time_input[0].set_value(time(16, 0))
    next(b for b in at.button if b.label == "暂缓所选").click()
    at.run()
    assert [e.value for e in at.error] == [
        "暂缓至 2026-11-22 16:00 已是过去的时间：请选择一个将来的时间。"  # noqa: RUF001
    ]
    conn = db.connect(fleet.path)
    try:
        assert conn.execute(
            "SELECT count(*) FROM alerts WHERE snoozed_until IS NOT NULL"
        ).fetchone() == (0,)
    finally:
        conn.close()
    at.time_input[0].set_value(time(18, 30))
    next(b for b in at.button if b.label == "暂缓所选").click()
    at.run()
    assert not at.exception, at.exception
    conn = db.connect(fleet.path)
    try:
        snoozed = conn.execute(
            "SELECT subject_id, snoozed_until, snoozed_by FROM alerts "
            "WHERE snoozed_until IS NOT NULL ORDER BY subject_id"
        ).fetchall()
        audited = conn.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'alert.snooze' AND actor = 'olga'"
        ).fetchone()
    finally:
        conn.close()
    assert snoozed == [(g, "2026-11-22T10:30:00.000000+00:00", "olga") for g in sorted(picked)]
    assert audited == (2,)
    (table,) = at.dataframe
    rows = table.value.to_dict("records")
    held = [r for r in rows if r["hold"] == "暂缓至 18:30（olga）"]  # noqa: RUF001
    assert sorted(str(r["what"]).removeprefix("网关 ") for r in held) == sorted(picked)
    assert rows[-2:] == held  # snoozed: last
