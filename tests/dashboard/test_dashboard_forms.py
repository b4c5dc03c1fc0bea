"""Forms that do not invite mistakes (issue #15, item 9): unknown scope ids refused by the
action layer, forms emptied after a successful submit and kept when refused, an expected
recovery that defaults to a time to come, pickers that name what they pick."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from collector.actions import Actor, InvalidAction, NotFound, Role, create_window, update_incident
from collector.store import db as store_db
from simulators.stack.seeded_store import NOW

OLGA = Actor("olga", Role.OPERATOR)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:altair.*")


def by_label(widgets: Any, label: str) -> Any:
    found = [w for w in widgets if w.label == label]
    assert found, f"no widget labelled {label!r}: {[w.label for w in widgets]}"
    return found[0]


def one(path: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
    conn = store_db.connect(path)
    try:
        return conn.execute(sql, params).fetchone()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("scope", "ident"),
    [("site", "s-99999"), ("gateway", "GW999999"), ("terminal", "T-NOPE"), ("region", "R99"),
     ("model", "NO-SUCH-MODEL")],
)  # fmt: skip
def test_a_window_on_an_id_that_is_not_in_the_inventory_is_refused(fleet, scope, ident) -> None:
    conn = store_db.connect(fleet.path)
    try:
        with pytest.raises(NotFound, match=rf"{scope} '{ident}' is not in the inventory"):
            create_window(
                conn, OLGA, scope_type=scope, scope_id=ident, starts_at=NOW,
                ends_at=NOW + timedelta(hours=1), reason="typo", now=NOW,
            )  # fmt: skip
        assert conn.execute(
            "SELECT COUNT(*) FROM maintenance_windows WHERE scope_id = ?", (ident,)
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'window.create'"
        ).fetchone() == (0,)
    finally:
        conn.close()


def test_the_maintenance_page_refuses_an_unknown_store_and_keeps_what_was_typed(
    open_page, fleet
) -> None:
    at = open_page("views/maintenance.py", login="olga")
    by_label(at.text_input, "Scope id").input("s-99999")
    by_label(at.text_input, "Reason").input("router swap")
    by_label(at.button, "Schedule window").click()
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1
    assert errors[0].replace("\\", "").startswith("site 's-99999' is not in the inventory")
    assert one(fleet.path, "SELECT COUNT(*) FROM maintenance_windows WHERE scope_id='s-99999'") == (
        0,
    )
    # Refused: what was typed stays, to be fixed.
    assert by_label(at.text_input, "Scope id").value == "s-99999"
    assert by_label(at.text_input, "Reason").value == "router swap"


def test_the_window_and_service_forms_are_empty_after_a_successful_submit(open_page, fleet) -> None:
    at = open_page("views/maintenance.py", login="olga")
    by_label(at.text_input, "Scope id").input("S000003")
    by_label(at.text_input, "Reason").input("POS upgrade night")
    by_label(at.text_input, "Recurrence (cron, optional)").input("0 2 * * 0")
    by_label(at.button, "Schedule window").click()
    at.run()
    assert not at.exception
    assert one(fleet.path, "SELECT reason FROM maintenance_windows WHERE scope_id='S000003'") == (
        "POS upgrade night",
    )
    assert by_label(at.text_input, "Scope id").value == ""
    assert by_label(at.text_input, "Reason").value == ""
    assert by_label(at.text_input, "Recurrence (cron, optional)").value == ""
    by_label(at.text_input, "Id").input(fleet.terminal_ids[0])
    by_label(at.text_input, "Work done").input("new printer head")
    by_label(at.button, "Record service").click()
    at.run()
    assert not at.exception
    assert one(
        fleet.path, "SELECT work FROM services WHERE subject_id = ?", (fleet.terminal_ids[0],)
    )
    assert by_label(at.text_input, "Id").value == ""
    assert by_label(at.text_input, "Work done").value == ""


def test_the_ack_note_is_empty_after_an_acknowledgement(open_page, fleet) -> None:
    at = open_page("views/alerts.py", login="olga")
    by_label(at.selectbox, "Alert").select(fleet.alert_id)
    by_label(at.text_input, "Note (who is on it, what is known)").input("truck rolled")
    by_label(at.button, "Acknowledge").click()
    at.run()
    assert not at.exception
    assert one(fleet.path, "SELECT ack_note FROM alerts WHERE id = ?", (fleet.alert_id,)) == (
        "truck rolled",
    )
    assert by_label(at.text_input, "Note (who is on it, what is known)").value == ""


def test_expected_recovery_defaults_to_two_hours_ahead_and_the_past_is_refused(
    open_page, fleet
) -> None:
    at = open_page("views/incidents.py", {"open": "1"}, login="olga")
    day = by_label(at.date_input, "Expected recovery date (UTC)").value
    hour = by_label(at.time_input, "Expected recovery time (UTC)").value
    default = datetime.combine(day, hour, tzinfo=NOW.tzinfo)
    assert default == NOW + timedelta(hours=2)  # NOW is 09:00: 11:00, on the quarter hour
    by_label(at.selectbox, "Incident").select(fleet.incident_id)
    by_label(at.text_input, "Cause").input("power cut in the mall")
    by_label(at.button, "Save").click()
    at.run()
    assert not at.exception
    assert one(
        fleet.path, "SELECT cause, expected_recovery_at FROM incidents WHERE id = ?",
        (fleet.incident_id,),
    ) == ("power cut in the mall", "2026-11-22T11:00:00.000000+00:00")  # fmt: skip
    assert by_label(at.text_input, "Cause").value == ""  # emptied after the save
    # The action refuses a time already past for an open incident (the API too).
    conn = store_db.connect(fleet.path)
    try:
        with pytest.raises(InvalidAction, match="not in the future"):
            update_incident(
                conn, OLGA, fleet.incident_id, cause="x",
                expected_recovery_at=NOW - timedelta(minutes=5), now=NOW,
            )  # fmt: skip
    finally:
        conn.close()


def test_pickers_name_the_subject_not_just_a_number(open_page, fleet) -> None:
    at = open_page("views/incidents.py", {"open": "1"}, login="olga")
    subject = one(
        fleet.path, "SELECT subject_type, subject_id, class FROM incidents WHERE id = ?",
        (fleet.incident_id,),
    )  # fmt: skip
    picker = by_label(at.selectbox, "Incident")
    picker.select(fleet.incident_id)
    label = next(o for o in picker.options if o.startswith(f"#{fleet.incident_id} "))
    assert label.startswith(f"#{fleet.incident_id} {subject[0]} {subject[1]} · {subject[2]}")
    at = open_page("views/alerts.py", login="olga")
    alert = one(
        fleet.path, "SELECT a.subject_type, a.subject_id, a.site_id, a.region_id, a.started_at, "
        "s.name FROM alerts a JOIN sites s ON s.site_id = a.site_id WHERE a.id = ?",
        (fleet.alert_id,),
    )  # fmt: skip
    options = by_label(at.selectbox, "Alert").options
    # Its text in the viewer's terms (dashboard/alert_text.py), times on the console's UTC.
    since = datetime.fromisoformat(str(alert[4])).strftime("%Y-%m-%d %H:%M")
    text = f"Gateway {alert[1]} (store {alert[5]} ({alert[2]}), {alert[3]}) down since {since}"
    assert f"#{fleet.alert_id} {alert[0]} {alert[1]}: {text}" in options
    at = open_page("views/maintenance.py", login="olga")
    window = one(
        fleet.path, "SELECT id, scope_type, scope_id, reason FROM maintenance_windows "
        "WHERE ended_early_at IS NULL ORDER BY starts_at LIMIT 1",
    )  # fmt: skip
    options = by_label(at.selectbox, "Window").options
    assert any(
        o.startswith(f"#{window[0]} {window[1]} {window[2]} · {window[3]} · ") for o in options
    )


def test_ending_a_window_can_be_cancelled(open_page, fleet) -> None:
    at = open_page("views/maintenance.py", login="olga")
    by_label(at.selectbox, "Window").select(1)
    by_label(at.button, "End window now").click()
    at.run()
    by_label(at.button, "Cancel").click()
    at.run()
    assert not at.exception
    assert one(fleet.path, "SELECT ended_early_at FROM maintenance_windows WHERE id = 1") == (None,)
    assert not [w for w in at.warning if "now?" in w.value]
    assert not [b for b in at.button if b.label == "Yes, end it now"]
