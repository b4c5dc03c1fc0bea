"""Maintenance schedules per task type (pure): intervals, scopes, usage since the task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collector.maintenance import DueState, MaintenancePolicy, Trigger, Usage
from collector.schedules import (
    Counters,
    Done,
    Schedule,
    add_interval,
    applicable,
    device_due,
    task_due,
)

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def test_a_month_after_the_31st_is_the_last_day_of_the_next_month() -> None:
    jan31 = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    assert add_interval(jan31, 1, "months") == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
    assert add_interval(jan31, 13, "months") == datetime(2027, 2, 28, 9, 0, tzinfo=UTC)
    assert add_interval(jan31, 2, "weeks") == datetime(2026, 2, 14, 9, 0, tzinfo=UTC)
    assert add_interval(jan31, 10, "days") == datetime(2026, 2, 10, 9, 0, tzinfo=UTC)


def test_the_most_specific_scope_wins_per_task_type() -> None:
    model = Schedule("cleaning", "model", "A920", 6, "months")
    region = Schedule("cleaning", "region", "north", 3, "months")
    site = Schedule("cleaning", "site", "s-1", 2, "weeks")
    printer = Schedule("printer", "model", "A920", usage_metric="receipts", usage_limit=5e4)
    other = Schedule("cleaning", "site", "s-2", 1, "days")
    got = applicable([model, region, site, printer, other], "A920", "north", "s-1")
    assert got == {"cleaning": site, "printer": printer}
    assert applicable([model, region], "A920", "south", "s-9") == {"cleaning": model}
    assert applicable([model], "P400", "north", "s-1") == {}


def test_usage_counts_from_the_task_not_from_install_and_a_reset_counter_from_zero() -> None:
    s = Schedule("printer", "model", "A920", usage_metric="receipts", usage_limit=1000)
    done = Done(NOW - timedelta(days=30), receipts_at=9_500)
    assert task_due(s, done, None, Counters(receipts=10_400), NOW).state is DueState.DUE_SOON
    due = task_due(s, done, None, Counters(receipts=10_500), NOW)
    assert (due.state, due.triggers) == (DueState.OVERDUE, (Trigger.RECEIPTS,))
    # A replaced printer reports from zero: 300 since, not -9,200.
    assert task_due(s, done, None, Counters(receipts=300), NOW).state is DueState.OK


def test_a_full_service_later_than_the_tasks_own_record_restarts_the_task() -> None:
    s = Schedule("inspection", "region", "north", 90, "days")
    usage = Usage(install_date=NOW - timedelta(days=400), last_service_at=NOW - timedelta(days=10))
    old = {"inspection": Done(NOW - timedelta(days=200))}
    state, due_at, reason = device_due(None, [s], ("A920", "north", "s-1"), usage, old, NOW)
    assert (state, due_at, reason) == (DueState.OK, NOW + timedelta(days=80), "")
    state, _, reason = device_due(None, [s], ("A920", "north", "s-1"), Usage(
        install_date=NOW - timedelta(days=400)), old, NOW)  # fmt: skip
    assert (state, reason) == (DueState.OVERDUE, "inspection: interval")


def test_the_worst_of_the_model_policy_and_the_tasks_is_the_devices_state() -> None:
    policy = MaintenancePolicy("A920", service_interval_days=365)
    battery = Schedule("battery", "model", "A920", usage_metric="battery_health", usage_limit=70)
    usage = Usage(last_service_at=NOW - timedelta(days=30), battery_health_pct=64.0)
    state, due_at, reason = device_due(policy, [battery], ("A920", "n", "s"), usage, {}, NOW)
    assert (state, reason) == (DueState.OVERDUE, "battery: battery")
    assert due_at == NOW + timedelta(days=335)
    assert device_due(None, [], ("A920", "n", "s"), usage, {}, NOW)[0] is DueState.UNKNOWN
