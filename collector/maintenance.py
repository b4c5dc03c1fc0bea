"""Maintenance due dates: pure functions of a model's policy, a device's usage and ``now``.

A terminal (or gateway) is due for preventive service when the first of these comes:

- the calendar: ``service_interval_days`` after the last service (or after install when it
  was never serviced);
- usage since the last service: receipts printed (paper path, print head), errors counted;
- battery health below the policy's minimum (a worn battery: it is the reading that resets,
  when a new battery reports, not the service record);
- firmware end of support for the model (only a firmware or hardware swap clears it).

Recording a service resets the calendar and the usage counters: the store keeps the device's
cumulative counters at the time of the service as baselines (``receipts_at_service``,
``errors_at_service``), so usage = counter now - counter at service. Counters that went
backwards (device replaced or factory reset) count from zero instead of going negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class DueState(StrEnum):
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    OK = "ok"
    UNKNOWN = "unknown"  # no policy for the model and no date to count from


class Trigger(StrEnum):
    INTERVAL = "interval"
    RECEIPTS = "receipts"
    BATTERY = "battery"
    ERRORS = "errors"
    FIRMWARE_EOS = "firmware_end_of_support"


@dataclass(frozen=True, slots=True)
class MaintenancePolicy:
    """One row of ``maintenance_policy`` plus the model's firmware end of support."""

    model: str
    service_interval_days: int = 365
    max_receipts: int | None = None
    min_battery_health_pct: float | None = None
    max_error_count: int | None = None
    due_soon_days: int = 30
    end_of_support: datetime | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """What the store knows about one device."""

    install_date: datetime | None = None
    last_service_at: datetime | None = None
    receipts_printed: int | None = None  # cumulative counter from the device
    receipts_at_service: int | None = None  # the counter when last serviced
    error_count: int | None = None
    errors_at_service: int | None = None
    battery_health_pct: float | None = None


@dataclass(frozen=True, slots=True)
class Due:
    state: DueState
    due_at: datetime | None  # earliest date a calendar trigger falls due (None: usage only)
    triggers: tuple[Trigger, ...]  # what is overdue now (empty when ok / due soon by date)
    soon: tuple[Trigger, ...] = ()  # what falls due within ``due_soon_days``

    @property
    def reason(self) -> str:
        names = [t.value for t in self.triggers] or [t.value for t in self.soon]
        return ", ".join(names)


def _since(counter: int | None, baseline: int | None) -> int | None:
    if counter is None:
        return None
    if baseline is None or counter < baseline:
        return counter
    return counter - baseline


def compute_due(policy: MaintenancePolicy | None, usage: Usage, now: datetime) -> Due:
    """The maintenance state of one device at ``now`` (aware UTC)."""
    if policy is None:
        return Due(DueState.UNKNOWN, None, ())
    overdue: list[Trigger] = []
    soon: list[Trigger] = []
    soon_edge = now + timedelta(days=policy.due_soon_days)

    # Calendar triggers give a date.
    dates: list[tuple[datetime, Trigger]] = []
    start = usage.last_service_at or usage.install_date
    if start is not None:
        dates.append((start + timedelta(days=policy.service_interval_days), Trigger.INTERVAL))
    if policy.end_of_support is not None:
        dates.append((policy.end_of_support, Trigger.FIRMWARE_EOS))
    for when, trigger in dates:
        if when <= now:
            overdue.append(trigger)
        elif when <= soon_edge:
            soon.append(trigger)

    # Usage triggers are due now or not at all: their rate is not known well enough to
    # forecast a date, and a wrong forecast sends a technician for nothing. "Soon" is 90%.
    receipts = _since(usage.receipts_printed, usage.receipts_at_service)
    errors = _since(usage.error_count, usage.errors_at_service)
    for value, limit, trigger in (
        (receipts, policy.max_receipts, Trigger.RECEIPTS),
        (errors, policy.max_error_count, Trigger.ERRORS),
    ):
        if value is None or limit is None:
            continue
        if value >= limit:
            overdue.append(trigger)
        elif value >= 0.9 * limit:
            soon.append(trigger)
    health, floor = usage.battery_health_pct, policy.min_battery_health_pct
    if health is not None and floor is not None:
        if health < floor:
            overdue.append(Trigger.BATTERY)
        elif health < floor + 5:
            soon.append(Trigger.BATTERY)

    due_at = min((when for when, _ in dates), default=None)
    if overdue:
        return Due(DueState.OVERDUE, due_at, tuple(overdue), tuple(soon))
    if soon:
        return Due(DueState.DUE_SOON, due_at, (), tuple(soon))
    if start is None and not dates:
        return Due(DueState.UNKNOWN, None, ())
    return Due(DueState.OK, due_at, ())
