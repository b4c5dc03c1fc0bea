"""Maintenance due dates: pure, fixed dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collector.maintenance import (
    DueState,
    MaintenancePolicy,
    Trigger,
    Usage,
    compute_due,
)
from collector.store.times import from_db_opt

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
POLICY = MaintenancePolicy(
    model="A920",
    service_interval_days=180,
    max_receipts=50_000,
    min_battery_health_pct=70.0,
    max_error_count=100,
    due_soon_days=30,
)


def test_serviced_recently_is_ok_with_due_date_one_interval_after_the_service() -> None:
    last = NOW - timedelta(days=10)
    due = compute_due(POLICY, Usage(last_service_at=last), NOW)
    assert due.state is DueState.OK
    assert due.due_at == last + timedelta(days=180)
    assert due.triggers == ()


def test_interval_elapsed_is_overdue() -> None:
    due = compute_due(POLICY, Usage(last_service_at=NOW - timedelta(days=181)), NOW)
    assert due.state is DueState.OVERDUE
    assert due.triggers == (Trigger.INTERVAL,)


def test_interval_ending_within_due_soon_days_is_due_soon() -> None:
    due = compute_due(POLICY, Usage(last_service_at=NOW - timedelta(days=160)), NOW)
    assert due.state is DueState.DUE_SOON
    assert due.soon == (Trigger.INTERVAL,)
    assert due.due_at == NOW + timedelta(days=20)


def test_never_serviced_counts_from_install_date() -> None:
    due = compute_due(POLICY, Usage(install_date=NOW - timedelta(days=200)), NOW)
    assert due.state is DueState.OVERDUE
    assert due.due_at == NOW - timedelta(days=20)


def test_receipts_since_last_service_over_the_limit_is_overdue() -> None:
    usage = Usage(
        last_service_at=NOW - timedelta(days=5),
        receipts_printed=130_000,
        receipts_at_service=80_000,
    )
    due = compute_due(POLICY, usage, NOW)
    assert due.state is DueState.OVERDUE
    assert due.triggers == (Trigger.RECEIPTS,)


def test_recording_a_service_resets_the_receipt_and_error_counters() -> None:
    before = Usage(
        last_service_at=NOW - timedelta(days=100),
        receipts_printed=60_000,
        receipts_at_service=0,
        error_count=150,
        errors_at_service=0,
    )
    assert set(compute_due(POLICY, before, NOW).triggers) == {Trigger.RECEIPTS, Trigger.ERRORS}
    after = Usage(
        last_service_at=NOW,
        receipts_printed=60_000,
        receipts_at_service=60_000,
        error_count=150,
        errors_at_service=150,
    )
    due = compute_due(POLICY, after, NOW)
    assert due.state is DueState.OK
    assert due.due_at == NOW + timedelta(days=180)


def test_a_counter_that_went_backwards_counts_from_zero() -> None:
    usage = Usage(
        last_service_at=NOW - timedelta(days=5),
        receipts_printed=100,
        receipts_at_service=40_000,
    )
    assert compute_due(POLICY, usage, NOW).state is DueState.OK


def test_receipts_at_ninety_percent_of_the_limit_is_due_soon() -> None:
    usage = Usage(last_service_at=NOW, receipts_printed=46_000, receipts_at_service=0)
    due = compute_due(POLICY, usage, NOW)
    assert due.state is DueState.DUE_SOON
    assert due.soon == (Trigger.RECEIPTS,)


def test_worn_battery_is_overdue_and_a_service_alone_does_not_clear_it() -> None:
    usage = Usage(last_service_at=NOW, battery_health_pct=60.0)
    due = compute_due(POLICY, usage, NOW)
    assert due.state is DueState.OVERDUE
    assert due.triggers == (Trigger.BATTERY,)


def test_firmware_end_of_support_passed_is_overdue_even_after_service() -> None:
    policy = MaintenancePolicy(model="A920", end_of_support=NOW - timedelta(days=1))
    due = compute_due(policy, Usage(last_service_at=NOW), NOW)
    assert due.state is DueState.OVERDUE
    assert Trigger.FIRMWARE_EOS in due.triggers


def test_earliest_calendar_trigger_is_the_due_date() -> None:
    policy = MaintenancePolicy(
        model="A920", service_interval_days=365, end_of_support=NOW + timedelta(days=10)
    )
    due = compute_due(policy, Usage(last_service_at=NOW), NOW)
    assert due.state is DueState.DUE_SOON
    assert due.due_at == NOW + timedelta(days=10)
    assert due.reason == "firmware_end_of_support"


def test_model_without_policy_is_unknown() -> None:
    assert compute_due(None, Usage(last_service_at=NOW), NOW).state is DueState.UNKNOWN


def test_store_dates_without_zone_are_read_as_utc() -> None:
    assert from_db_opt("2026-01-02") == datetime(2026, 1, 2, tzinfo=UTC)
    assert from_db_opt("2026-01-02T03:04:05+00:00") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert from_db_opt("") is None
