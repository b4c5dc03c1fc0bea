"""Operator actions are audited store writes that the alert engine can read back (on each
engine: the seeded store is an SQLite file, then a PostgreSQL database)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from collector.actions import (
    Actor,
    InvalidAction,
    NotFound,
    PermissionDenied,
    Role,
    acknowledge_alert,
    create_window,
    edit_window,
    end_window_early,
    import_inventory,
    record_service,
    reschedule_window,
    set_suspended,
    update_incident,
)
from collector.maintenance import DueState, Usage, compute_due
from collector.store import db
from collector.store.times import from_db_opt, to_db
from dashboard.queries_ops import policies
from simulators.stack.seeded_store import NOW, Fleet, build_store

OLGA = Actor("olga", Role.OPERATOR)
VIC = Actor("vic", Role.VIEWER)
ADA = Actor("ada", Role.ADMIN)


@pytest.fixture
def store(store_url: str) -> Iterator[tuple[Fleet, db.Connection]]:
    fleet = build_store(store_url)
    conn = db.connect(fleet.path)
    try:
        yield fleet, conn
    finally:
        conn.close()


def audit(conn: db.Connection) -> list[tuple[str, str, str, dict]]:
    rows = conn.execute("SELECT actor, action, subject, details FROM audit_log ORDER BY id")
    return [(a, b, c, json.loads(d)) for a, b, c, d in rows]


def test_acknowledge_sets_ack_columns_adds_an_event_and_an_audit_row(store) -> None:
    fleet, conn = store
    acknowledge_alert(conn, OLGA, fleet.alert_id, "truck rolled", NOW)
    acked = conn.execute(
        "SELECT state, acked_by, acked_at, ack_note FROM alerts WHERE id = ?", (fleet.alert_id,)
    ).fetchone()
    assert acked == ("firing", "olga", to_db(NOW), "truck rolled")
    event = conn.execute(
        "SELECT from_state, to_state, actor, note FROM alert_events WHERE alert_id = ?",
        (fleet.alert_id,),
    ).fetchone()
    assert event == ("firing", "firing", "olga", "acknowledged: truck rolled")
    assert audit(conn)[-1][:3] == ("olga", "alert.acknowledge", f"alert:{fleet.alert_id}")


def test_second_acknowledge_is_refused_and_keeps_the_first(store) -> None:
    fleet, conn = store
    acknowledge_alert(conn, OLGA, fleet.alert_id, "first", NOW)
    with pytest.raises(InvalidAction, match="already acknowledged"):
        acknowledge_alert(conn, ADA, fleet.alert_id, "second", NOW + timedelta(minutes=1))
    row = conn.execute("SELECT acked_by FROM alerts WHERE id = ?", (fleet.alert_id,)).fetchone()
    assert row == ("olga",)


def test_viewer_may_not_acknowledge_and_nothing_is_written(store) -> None:
    fleet, conn = store
    before = len(audit(conn))
    with pytest.raises(PermissionDenied, match="needs operator"):
        acknowledge_alert(conn, VIC, fleet.alert_id, "x", NOW)
    row = conn.execute("SELECT acked_at FROM alerts WHERE id = ?", (fleet.alert_id,)).fetchone()
    assert row == (None,)
    assert len(audit(conn)) == before


def test_acknowledging_a_missing_alert_says_so(store) -> None:
    _, conn = store
    with pytest.raises(NotFound):
        acknowledge_alert(conn, OLGA, 999_999, "x", NOW)


def test_suspend_then_unsuspend_a_gateway(store) -> None:
    fleet, conn = store
    gw = fleet.gateway_ids[3]
    set_suspended(conn, OLGA, "gateway", gw, True, "merchant contract breach", NOW)
    row = conn.execute(
        "SELECT suspended, suspended_reason FROM gateways WHERE gateway_id = ?", (gw,)
    ).fetchone()
    assert row == (1, "merchant contract breach")
    set_suspended(conn, OLGA, "gateway", gw, False, "", NOW)
    assert (
        conn.execute("SELECT suspended FROM gateways WHERE gateway_id = ?", (gw,)).fetchone()[0]
        == 0
    )
    assert [a[1] for a in audit(conn)[-2:]] == ["suspend", "unsuspend"]


def test_suspension_needs_a_reason(store) -> None:
    fleet, conn = store
    with pytest.raises(InvalidAction, match="reason"):
        set_suspended(conn, OLGA, "gateway", fleet.gateway_ids[1], True, " ", NOW)


def test_window_is_created_edited_and_ended_early(store) -> None:
    _, conn = store
    wid = create_window(
        conn,
        OLGA,
        scope_type="site",
        scope_id="S000002",
        starts_at=NOW,
        ends_at=NOW + timedelta(hours=2),
        reason="router swap",
        now=NOW,
    )
    edit_window(conn, OLGA, wid, now=NOW, ends_at=NOW + timedelta(hours=3))
    end_window_early(conn, ADA, wid, NOW + timedelta(hours=1))
    row = conn.execute(
        "SELECT scope_type, scope_id, ends_at, created_by, ended_early_at, ended_early_by "
        "FROM maintenance_windows WHERE id = ?",
        (wid,),
    ).fetchone()
    assert row == (
        "site",
        "S000002",
        to_db(NOW + timedelta(hours=3)),
        "olga",
        to_db(NOW + timedelta(hours=1)),
        "ada",
    )
    assert [a[1] for a in audit(conn)[-3:]] == ["window.create", "window.edit", "window.end_early"]
    with pytest.raises(InvalidAction, match="already ended"):
        end_window_early(conn, ADA, wid, NOW + timedelta(hours=2))


def _window_that_began_an_hour_ago(conn: db.Connection) -> int:
    """A site window scheduled yesterday, running from an hour ago to an hour from now."""
    return create_window(
        conn, OLGA, scope_type="site", scope_id="S000001", starts_at=NOW - timedelta(hours=1),
        ends_at=NOW + timedelta(hours=1), reason="router swap", now=NOW - timedelta(days=1),
    )  # fmt: skip


def test_a_started_window_cannot_be_rescheduled_only_ended(store) -> None:
    _, conn = store
    start = NOW - timedelta(hours=1)
    wid = _window_that_began_an_hour_ago(conn)
    with pytest.raises(InvalidAction, match="started at"):
        reschedule_window(
            conn, OLGA, wid, scope_type="region", scope_id="R01", starts_at=NOW + timedelta(hours=1),
            ends_at=NOW + timedelta(hours=2), reason="", now=NOW,
        )  # fmt: skip
    assert conn.execute(
        "SELECT scope_type, starts_at FROM maintenance_windows WHERE id = ?", (wid,)
    ).fetchone() == ("site", to_db(start))


def _refuse_ending_windows(conn: db.Connection) -> None:
    """The database refuses to end a window early, as a full disk would refuse the write."""
    with conn:
        if db.dialect(conn) == "sqlite":
            conn.execute(
                "CREATE TEMP TRIGGER refuse_end BEFORE UPDATE OF ended_early_at ON "
                "maintenance_windows BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
            return
        conn.execute(
            "CREATE FUNCTION refuse_end() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse_end BEFORE UPDATE OF ended_early_at ON maintenance_windows "
            "FOR EACH ROW EXECUTE FUNCTION refuse_end()"
        )


def test_moving_a_window_to_another_scope_is_one_transaction(store) -> None:
    """The new window and the old one's end land together or not at all: when ending the old
    one fails (here the database refuses it), no new window and no audit row are left."""
    _, conn = store
    wid = create_window(
        conn, OLGA, scope_type="site", scope_id="S000001", starts_at=NOW + timedelta(hours=1),
        ends_at=NOW + timedelta(hours=2), reason="", now=NOW,
    )  # fmt: skip
    windows = conn.execute("SELECT COUNT(*) FROM maintenance_windows").fetchone()
    audit = conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()
    _refuse_ending_windows(conn)
    with pytest.raises(db.DatabaseError, match="disk full"):
        reschedule_window(
            conn, OLGA, wid, scope_type="region", scope_id="R01", reason="",
            starts_at=NOW + timedelta(hours=3), ends_at=NOW + timedelta(hours=4), now=NOW,
        )  # fmt: skip
    assert conn.execute("SELECT COUNT(*) FROM maintenance_windows").fetchone() == windows
    assert conn.execute("SELECT COUNT(*) FROM audit_log").fetchone() == audit
    assert conn.execute(
        "SELECT scope_type, ended_early_at FROM maintenance_windows WHERE id = ?", (wid,)
    ).fetchone() == ("site", None)


def test_rescheduling_into_the_past_or_by_a_viewer_is_refused(store) -> None:
    _, conn = store
    wid = create_window(
        conn, OLGA, scope_type="site", scope_id="S000001", starts_at=NOW + timedelta(hours=1),
        ends_at=NOW + timedelta(hours=2), reason="", now=NOW,
    )  # fmt: skip
    move = {"scope_type": "site", "scope_id": "S000001", "reason": "", "now": NOW}
    with pytest.raises(InvalidAction, match="not in the future"):
        reschedule_window(conn, OLGA, wid, starts_at=NOW - timedelta(hours=1), ends_at=NOW, **move)
    with pytest.raises(PermissionDenied):
        reschedule_window(
            conn, VIC, wid, starts_at=NOW + timedelta(hours=3),
            ends_at=NOW + timedelta(hours=4), **move,
        )  # fmt: skip


def test_window_that_ends_before_it_starts_is_refused(store) -> None:
    _, conn = store
    with pytest.raises(InvalidAction, match="before it starts"):
        create_window(
            conn,
            OLGA,
            scope_type="gateway",
            scope_id="GW000001",
            starts_at=NOW,
            ends_at=NOW - timedelta(minutes=1),
            reason="",
            now=NOW,
        )


def test_recurring_window_needs_a_valid_cron_and_stores_its_duration(store) -> None:
    _, conn = store
    with pytest.raises(InvalidAction, match="cron"):
        create_window(
            conn,
            OLGA,
            scope_type="region",
            scope_id="R01",
            starts_at=NOW,
            ends_at=NOW + timedelta(hours=1),
            reason="",
            now=NOW,
            recurrence="every night",
        )
    wid = create_window(
        conn,
        OLGA,
        scope_type="region",
        scope_id="R01",
        starts_at=NOW,
        ends_at=NOW + timedelta(hours=1),
        reason="nightly",
        now=NOW,
        recurrence="0 2 * * *",
    )
    row = conn.execute(
        "SELECT recurrence, duration_s FROM maintenance_windows WHERE id = ?", (wid,)
    ).fetchone()
    assert row == ("0 2 * * *", 3600.0)


def test_recorded_service_resets_interval_and_usage_counters(store) -> None:
    fleet, conn = store
    tid = fleet.terminal_ids[0]  # an A920: 180 days, 50k receipts, 100 errors
    conn.execute(
        "UPDATE terminals SET last_service_at = ?, receipts_printed = 70000, error_count = 150,"
        " battery_health_pct = 90, model = 'A920' WHERE terminal_id = ?",
        (to_db(NOW - timedelta(days=200)), tid),
    )
    conn.commit()

    def due() -> DueState:
        row = conn.execute(
            "SELECT last_service_at, receipts_printed, receipts_at_service, error_count,"
            " errors_at_service, battery_health_pct FROM terminals WHERE terminal_id = ?",
            (tid,),
        ).fetchone()
        usage = Usage(None, from_db_opt(row[0]), row[1], row[2], row[3], row[4], row[5])
        return compute_due(policies(conn)["A920"], usage, NOW).state

    assert due() is DueState.OVERDUE
    record_service(
        conn,
        OLGA,
        subject_type="terminal",
        subject_id=tid,
        work="print head",
        parts_replaced="print head",
        fault_category="hardware",
        now=NOW,
    )
    assert due() is DueState.OK
    service = conn.execute(
        "SELECT performed_by, work, fault_category FROM services WHERE subject_id = ?", (tid,)
    ).fetchone()
    assert service == ("olga", "print head", "hardware")
    assert audit(conn)[-1][1:3] == ("service.record", f"terminal:{tid}")


def test_service_with_unknown_fault_category_is_refused(store) -> None:
    fleet, conn = store
    with pytest.raises(InvalidAction, match="fault category"):
        record_service(
            conn,
            OLGA,
            subject_type="terminal",
            subject_id=fleet.terminal_ids[0],
            work="x",
            fault_category="gremlins",
            now=NOW,
        )


def test_incident_gets_cause_and_expected_recovery(store) -> None:
    fleet, conn = store
    update_incident(
        conn,
        OLGA,
        fleet.incident_id,
        cause="ISP outage in the mall",
        expected_recovery_at=NOW + timedelta(hours=4),
        now=NOW,
    )
    row = conn.execute(
        "SELECT cause, expected_recovery_at FROM incidents WHERE id = ?", (fleet.incident_id,)
    ).fetchone()
    assert row == ("ISP outage in the mall", to_db(NOW + timedelta(hours=4)))


def test_only_admins_import_inventory(store) -> None:
    _, conn = store
    rows = [{"site_id": "S-NEW", "region_id": "R01", "name": "New store"}]
    with pytest.raises(PermissionDenied):
        import_inventory(conn, OLGA, "sites", rows, NOW)
    assert import_inventory(conn, ADA, "sites", rows, NOW) == 1
    assert conn.execute("SELECT name FROM sites WHERE site_id = 'S-NEW'").fetchone() == (
        "New store",
    )
    assert audit(conn)[-1][:3] == ("ada", "inventory.import", "sites")


def test_edit_window_keeps_the_start_of_a_window_that_began(store) -> None:
    _, conn = store
    start = NOW - timedelta(hours=1)
    wid = _window_that_began_an_hour_ago(conn)
    with pytest.raises(InvalidAction, match="its start cannot move"):
        edit_window(conn, OLGA, wid, now=NOW, starts_at=NOW + timedelta(minutes=5))
    edit_window(conn, OLGA, wid, now=NOW, ends_at=NOW + timedelta(hours=2))  # extending is fine
    assert conn.execute(
        "SELECT starts_at, ends_at FROM maintenance_windows WHERE id = ?", (wid,)
    ).fetchone() == (to_db(start), to_db(NOW + timedelta(hours=2)))


def test_edit_window_gives_a_recurring_window_its_new_length(store) -> None:
    _, conn = store
    wid = create_window(
        conn, OLGA, scope_type="region", scope_id="R01", starts_at=NOW + timedelta(hours=1),
        ends_at=NOW + timedelta(hours=2), reason="nightly", now=NOW, recurrence="0 2 * * *",
    )  # fmt: skip
    edit_window(conn, OLGA, wid, now=NOW, ends_at=NOW + timedelta(hours=4))
    assert conn.execute(
        "SELECT duration_s FROM maintenance_windows WHERE id = ?", (wid,)
    ).fetchone() == (3 * 3600.0,)
