"""Firmware policies and maintenance schedules as actions, on each store engine: admin only,
validated with messages that name the mistake, audited; CSV export and import round-trip,
and a bad file is refused whole with an error per line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from collector.actions import (
    Actor,
    CsvRejected,
    InvalidAction,
    NotFound,
    PermissionDenied,
    Role,
    add_task_type,
    delete_firmware_policy,
    delete_schedule,
    export_firmware_policies,
    export_schedules,
    import_firmware_policies,
    import_schedules,
    record_service,
    set_firmware_policy,
    set_schedule,
)
from collector.alerts.repository import load_policies
from collector.store import db
from collector.store.migrate import ensure_schema
from collector.store.policies import load_schedules, task_types

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
ADMIN = Actor("ada", Role.ADMIN)
OPS = Actor("olga", Role.OPERATOR)


@pytest.fixture
def conn(store_url: str) -> Iterator[db.Connection]:
    c = db.connect(store_url)
    ensure_schema(c)
    with c:
        c.execute("INSERT INTO regions (region_id, name) VALUES ('north', 'North')")
        c.execute("INSERT INTO sites (site_id, region_id) VALUES ('s-1', 'north')")
        c.execute(
            "INSERT INTO gateways (gateway_id, site_id, region_id, model) "
            "VALUES ('gw-1', 's-1', 'north', 'R1')"
        )
        c.execute(
            "INSERT INTO terminals (terminal_id, gateway_id, site_id, region_id, model, "
            "receipts_printed, error_count) VALUES ('t-1', 'gw-1', 's-1', 'north', 'A920', 70, 3)"
        )
    try:
        yield c
    finally:
        c.close()


def audit(conn: db.Connection) -> list[tuple[str, str, str]]:
    return [
        (str(a), str(s), str(d))
        for a, s, d in conn.execute("SELECT action, subject, details FROM audit_log ORDER BY id")
    ]


def test_an_admin_sets_a_firmware_policy_the_engine_reads_and_the_audit_records(conn) -> None:
    set_firmware_policy(
        conn, ADMIN, model="A920", target_version="3.3.1", min_version="3.2.0", now=NOW,
        end_of_support=datetime(2030, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    policy = load_policies(conn)["A920"]
    assert (policy.target, policy.min_version) == ("3.3.1", "3.2.0")
    assert policy.violation("3.1.9", NOW) == "version 3.1.9 is below the minimum 3.2.0"
    set_firmware_policy(conn, ADMIN, model="A920", target_version="3.4", min_version="3.3", now=NOW)
    assert load_policies(conn)["A920"].target == "3.4"  # replaced, not a second row
    (action, subject, details), *_ = audit(conn)
    assert (action, subject) == ("firmware_policy.set", "model:A920")
    assert json.loads(details)["target_version"] == "3.3.1"
    delete_firmware_policy(conn, ADMIN, "A920", NOW)
    assert load_policies(conn) == {}
    assert [a for a, _, _ in audit(conn)] == [
        "firmware_policy.set",
        "firmware_policy.set",
        "firmware_policy.delete",
    ]


def test_operators_and_viewers_may_not_change_policies(conn) -> None:
    for actor in (OPS, Actor("vic", Role.VIEWER)):
        with pytest.raises(PermissionDenied, match="needs admin"):
            set_firmware_policy(
                conn, actor, model="A920", target_version="1", min_version="", now=NOW
            )
        with pytest.raises(PermissionDenied, match="needs admin"):
            set_schedule(
                conn, actor, task_type="printer", scope_type="model", scope_id="A920",
                every_n=3, every_unit="months", now=NOW,
            )  # fmt: skip
        with pytest.raises(PermissionDenied):
            import_schedules(conn, actor, "task_type\n", NOW)
    assert audit(conn) == []


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"model": "Z-9"}, NotFound, "model 'Z-9' is not in the inventory"),
        ({"target_version": "3.0", "min_version": "3.2"}, InvalidAction, "below the minimum 3.2"),
        ({"target_version": "", "min_version": ""}, InvalidAction, "needs a target version"),
        ({"target_version": "3 .1"}, InvalidAction, "is not a version"),
    ],
)
def test_a_bad_firmware_policy_is_refused_with_what_is_wrong(conn, fields, error, message) -> None:
    args = {"model": "A920", "target_version": "3.3", "min_version": "3.2", **fields}
    with pytest.raises(error, match=message):
        set_firmware_policy(conn, ADMIN, now=NOW, **args)
    assert load_policies(conn) == {}


def test_schedules_per_task_type_and_scope_are_set_replaced_and_deleted(conn) -> None:
    sid = set_schedule(
        conn, ADMIN, task_type="printer", scope_type="model", scope_id="A920",
        usage_metric="receipts", usage_limit=50_000, now=NOW,
    )  # fmt: skip
    again = set_schedule(
        conn, ADMIN, task_type="printer", scope_type="model", scope_id="A920",
        every_n=6, every_unit="months", usage_metric="receipts", usage_limit=40_000, now=NOW,
    )  # fmt: skip
    assert again == sid
    set_schedule(
        conn, ADMIN, task_type="cleaning", scope_type="site", scope_id="s-1",
        every_n=2, every_unit="weeks", now=NOW,
    )  # fmt: skip
    got = {(s.task_type, s.scope_id): s for s in load_schedules(conn)}
    assert (got["printer", "A920"].every_n, got["printer", "A920"].usage_limit) == (6, 40_000)
    assert got["cleaning", "s-1"].every_unit == "weeks"
    delete_schedule(conn, ADMIN, sid, NOW)
    assert [s.task_type for s in load_schedules(conn)] == ["cleaning"]
    assert [(a, s) for a, s, _ in audit(conn)] == [
        ("schedule.set", "model:A920"),
        ("schedule.set", "model:A920"),
        ("schedule.set", "site:s-1"),
        ("schedule.delete", "model:A920"),
    ]
    with pytest.raises(NotFound, match="schedule 999 does not exist"):
        delete_schedule(conn, ADMIN, 999, NOW)


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"task_type": "polish"}, InvalidAction, "task type 'polish' unknown"),
        ({"scope_type": "country"}, InvalidAction, "scope 'country' unknown"),
        ({"scope_type": "site", "scope_id": "s-99999"}, NotFound, "site 's-99999' is not in"),
        ({"scope_type": "region", "scope_id": "mars"}, NotFound, "region 'mars' is not in"),
        ({"every_n": 0}, InvalidAction, "interval must be a whole number above 0, not 0"),
        ({"every_n": -3}, InvalidAction, "above 0, not -3"),
        ({"every_unit": "fortnights"}, InvalidAction, "unit 'fortnights' unknown"),
        ({"every_n": None, "every_unit": ""}, InvalidAction, "needs a calendar interval"),
        ({"usage_metric": "hours_powered", "usage_limit": 5}, InvalidAction, "'hours_powered'"),
        ({"usage_metric": "receipts", "usage_limit": 0}, InvalidAction, "above 0, not 0"),
        ({"usage_metric": "battery_health", "usage_limit": 120}, InvalidAction, "0 and 100"),
    ],
)
def test_a_bad_schedule_is_refused_with_what_is_wrong(conn, fields, error, message) -> None:
    args = {
        "task_type": "inspection", "scope_type": "model", "scope_id": "A920",
        "every_n": 1, "every_unit": "months", **fields,
    }  # fmt: skip
    with pytest.raises(error, match=message):
        set_schedule(conn, ADMIN, now=NOW, **args)
    assert load_schedules(conn) == []


def test_an_operator_defined_task_type_can_be_scheduled_and_serviced(conn) -> None:
    add_task_type(conn, ADMIN, "PinPad-Seal", NOW)
    assert task_types(conn) == ["printer", "battery", "inspection", "cleaning", "pinpad-seal"]
    with pytest.raises(InvalidAction, match="exists already"):
        add_task_type(conn, ADMIN, "printer", NOW)
    with pytest.raises(InvalidAction, match="lower-case letters"):
        add_task_type(conn, ADMIN, "seal check!", NOW)
    set_schedule(
        conn, ADMIN, task_type="pinpad-seal", scope_type="region", scope_id="north",
        every_n=1, every_unit="months", now=NOW,
    )  # fmt: skip
    record_service(
        conn, OPS, subject_type="terminal", subject_id="t-1", work="seal checked",
        now=NOW, task_type="pinpad-seal",
    )  # fmt: skip
    assert conn.execute(
        "SELECT task_type, done_at, receipts_at, errors_at FROM maintenance_done"
    ).fetchall() == [("pinpad-seal", "2026-11-30T08:00:00.000000+00:00", 70, 3)]
    assert conn.execute("SELECT task_type FROM services").fetchall() == [("pinpad-seal",)]
    with pytest.raises(InvalidAction, match="task type 'polish' unknown"):
        record_service(
            conn, OPS, subject_type="terminal", subject_id="t-1", work="x", now=NOW,
            task_type="polish",
        )  # fmt: skip


FIRMWARE_FILE = (
    "model,target_version,min_version,approved_versions,end_of_support\n"
    "A920,3.3.1,3.2.0,3.2.0 3.3.1,2030-01-01\n"
    "R1,2.10.1,2.9,,\n"
)
SCHEDULE_FILE = (
    "task_type,scope_type,scope_id,every_n,every_unit,usage_metric,usage_limit,due_soon_days\n"
    "battery,model,A920,,,battery_health,70,7\n"
    "cleaning,site,s-1,2,weeks,,,3\n"
    "printer,model,A920,6,months,receipts,50000,14\n"
)


def test_csv_export_re_imports_to_the_same_policies_and_schedules(conn) -> None:
    assert import_firmware_policies(conn, ADMIN, FIRMWARE_FILE, NOW) == 2
    assert import_schedules(conn, ADMIN, SCHEDULE_FILE, NOW) == 3
    assert export_firmware_policies(conn) == FIRMWARE_FILE
    assert export_schedules(conn) == SCHEDULE_FILE
    policies = load_policies(conn)
    assert policies["A920"].approved == frozenset({"3.2.0", "3.3.1"})
    assert policies["A920"].end_of_support == datetime(2030, 1, 1, tzinfo=UTC)
    # Each import is one audit row naming how many rows it set.
    assert [(a, json.loads(d)["rows"]) for a, _, d in audit(conn)] == [
        ("firmware_policy.import", 2),
        ("schedule.import", 3),
    ]
    # The export, imported again (after a delete), gives back the same set.
    exported = export_schedules(conn)
    for s in conn.execute("SELECT id FROM maintenance_schedules").fetchall():
        delete_schedule(conn, ADMIN, int(s[0]), NOW)
    import_schedules(conn, ADMIN, exported, NOW)
    assert export_schedules(conn) == SCHEDULE_FILE


def test_a_bad_csv_file_is_refused_whole_with_an_error_per_line(conn) -> None:
    import_schedules(conn, ADMIN, SCHEDULE_FILE, NOW)
    before = export_schedules(conn)
    bad = (
        "task_type,scope_type,scope_id,every_n,every_unit,usage_metric,usage_limit,due_soon_days\n"
        "cleaning,site,s-1,1,weeks,,,3\n"  # good (would change s-1 cleaning): not applied
        "polish,model,A920,1,days,,,\n"
        "inspection,site,s-99999,3,months,,,\n"
        "inspection,model,A920,0,days,,,\n"
        "inspection,model,A920,three,months,,,\n"
        "cleaning,site,s-1,4,weeks,,,3\n"  # repeats line 2
    )
    with pytest.raises(CsvRejected) as caught:
        import_schedules(conn, ADMIN, bad, NOW)
    assert caught.value.errors == [
        "line 3: task type 'polish' unknown; use one of printer, battery, inspection, "
        "cleaning (or add the type first)",
        "line 4: site 's-99999' is not in the inventory: check the id",
        "line 5: interval must be a whole number above 0, not 0",
        "line 6: every_n 'three' is not a whole number",
        "line 7: repeats line 2",
    ]
    assert export_schedules(conn) == before  # nothing of the file applied
    assert [a for a, _, _ in audit(conn)] == ["schedule.import"]  # the good import only
    with pytest.raises(CsvRejected, match="line 1: header is model,version; expected model,"):
        import_firmware_policies(conn, ADMIN, "model,version\nA920,3\n", NOW)
    with pytest.raises(CsvRejected, match="line 2: model 'Z-9' is not in the inventory"):
        import_firmware_policies(
            conn,
            ADMIN,
            "model,target_version,min_version,approved_versions,end_of_support\nZ-9,1,,,\n",
            NOW,
        )
    with pytest.raises(CsvRejected, match="line 2: end_of_support 'soon' is not a date"):
        import_firmware_policies(
            conn,
            ADMIN,
            "model,target_version,min_version,approved_versions,end_of_support\nA920,1,,,soon\n",
            NOW,
        )
    assert load_policies(conn) == {}


def test_the_maintenance_due_metric_counts_what_a_task_schedule_makes_overdue(conn) -> None:
    from collector.metrics import maintenance_due

    def gauge() -> dict[tuple[str, str], float]:
        fam = maintenance_due(conn, NOW)
        return {(s.labels["region"], s.labels["state"]): s.value for s in fam.samples}

    with conn:
        conn.execute("UPDATE terminals SET install_date = '2026-01-01T00:00:00.000000+00:00'")
    assert gauge() == {("north", "unknown"): 1}  # no policy, no schedule
    set_schedule(
        conn, ADMIN, task_type="cleaning", scope_type="site", scope_id="s-1",
        every_n=3, every_unit="months", now=NOW,
    )  # fmt: skip
    assert gauge() == {("north", "overdue"): 1}  # due 2026-04-01
    record_service(
        conn, OPS, subject_type="terminal", subject_id="t-1", work="cleaned", now=NOW,
        task_type="cleaning",
    )  # fmt: skip
    assert gauge() == {("north", "ok"): 1}
