"""Maintenance schedules per task type (pure): which schedule applies to a device, and when
each task falls due.

A schedule says "do <task> on <scope> every N days/weeks/months and/or after <usage>". Task
types are the built-in ones (printer, battery, inspection, cleaning) and those an operator
adds. Scopes are a model, a region or a store (site); for one device and task the most
specific scope wins (site, then region, then model), so a store can have its own cleaning
cycle while its model keeps the fleet's.

Usage triggers are only those the wire contract carries as counters the store keeps per
terminal (docs/protocol.md "hardware"): receipts printed and errors counted since the task
was last done, and battery health below a floor. Hours powered is not offered: ``uptime_s``
restarts at every boot, so no cumulative figure exists. Transactions are not offered: their
windows are pruned after the rollup retention, so a count since a service a year ago cannot
be computed.

A task is last done at the later of its own record (``maintenance_done``) and the device's
last full service (``last_service_at``: a service that names no task covers them all);
never done, it counts from install.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from collector.maintenance import Due, DueState, MaintenancePolicy, Trigger, Usage, compute_due

BUILTIN_TASKS = ("printer", "battery", "inspection", "cleaning")
UNITS = ("days", "weeks", "months")
USAGE_METRICS = ("receipts", "errors", "battery_health")
SCOPE_TYPES = ("model", "region", "site")
_SPECIFIC = {"site": 0, "region": 1, "model": 2}
_TRIGGER = {
    "receipts": Trigger.RECEIPTS,
    "errors": Trigger.ERRORS,
    "battery_health": Trigger.BATTERY,
}


@dataclass(frozen=True, slots=True)
class Schedule:
    """One row of ``maintenance_schedules``."""

    task_type: str
    scope_type: str
    scope_id: str
    every_n: int | None = None
    every_unit: str = ""
    usage_metric: str = ""
    usage_limit: float | None = None
    due_soon_days: int = 14


@dataclass(frozen=True, slots=True)
class Done:
    """When a task (or a full service) was last done on a device, with the counters then."""

    at: datetime
    receipts_at: int | None = None
    errors_at: int | None = None


@dataclass(frozen=True, slots=True)
class Counters:
    """A terminal's current readings."""

    receipts: int | None = None
    errors: int | None = None
    battery_health: float | None = None


def add_interval(start: datetime, n: int, unit: str) -> datetime:
    """``start`` plus ``n`` days, weeks or calendar months (the 31st + 1 month is the
    30th or 28th/29th: the month's last day)."""
    if unit == "days":
        return start + timedelta(days=n)
    if unit == "weeks":
        return start + timedelta(weeks=n)
    if unit != "months":
        raise ValueError(f"unit {unit!r}: use one of {', '.join(UNITS)}")
    months = start.month - 1 + n
    year, month = start.year + months // 12, months % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def applicable(
    schedules: Iterable[Schedule], model: str, region: str, site: str
) -> dict[str, Schedule]:
    """The schedule per task type for a device at (model, region, site): the most specific."""
    ids = {"model": model, "region": region, "site": site}
    out: dict[str, Schedule] = {}
    for s in schedules:
        if not ids.get(s.scope_type) or ids[s.scope_type] != s.scope_id:
            continue
        have = out.get(s.task_type)
        if have is None or _SPECIFIC[s.scope_type] < _SPECIFIC[have.scope_type]:
            out[s.task_type] = s
    return out


def last_done(task: Done | None, full: Done | None) -> Done | None:
    """The later of the task's own record and the last full service."""
    if task is None or (full is not None and full.at > task.at):
        return full
    return task


def _since(counter: int | None, baseline: int | None) -> int | None:
    if counter is None:
        return None
    if baseline is None or counter < baseline:  # device replaced or reset: from zero
        return counter
    return counter - baseline


def task_due(
    s: Schedule, done: Done | None, install: datetime | None, now: Counters, at: datetime
) -> Due:
    """The state of one task on one device at ``at``."""
    overdue: list[Trigger] = []
    soon: list[Trigger] = []
    due_at = None
    start = done.at if done is not None else install
    if s.every_n and s.every_unit and start is not None:
        due_at = add_interval(start, s.every_n, s.every_unit)
        if due_at <= at:
            overdue.append(Trigger.INTERVAL)
        elif due_at <= at + timedelta(days=s.due_soon_days):
            soon.append(Trigger.INTERVAL)
    if s.usage_metric and s.usage_limit is not None:
        trigger = _TRIGGER[s.usage_metric]
        if s.usage_metric == "battery_health":
            if now.battery_health is not None:
                if now.battery_health < s.usage_limit:
                    overdue.append(trigger)
                elif now.battery_health < s.usage_limit + 5:
                    soon.append(trigger)
        else:
            counter, base = (
                (now.receipts, done.receipts_at if done else None)
                if s.usage_metric == "receipts"
                else (now.errors, done.errors_at if done else None)
            )
            used = _since(counter, base)
            if used is not None:
                if used >= s.usage_limit:
                    overdue.append(trigger)
                elif used >= 0.9 * s.usage_limit:
                    soon.append(trigger)
    if overdue:
        return Due(DueState.OVERDUE, due_at, tuple(overdue), tuple(soon))
    if soon:
        return Due(DueState.DUE_SOON, due_at, (), tuple(soon))
    if due_at is None and not (s.usage_metric and s.usage_limit is not None):
        return Due(DueState.UNKNOWN, None, ())
    return Due(DueState.OK, due_at, ())


_RANK = {DueState.OVERDUE: 0, DueState.DUE_SOON: 1, DueState.OK: 2, DueState.UNKNOWN: 3}


def combine(parts: dict[str, Due]) -> tuple[DueState, datetime | None, str]:
    """One device's state from its legacy model policy ('' key) and its tasks: the worst
    state, the earliest calendar date, and what is due ("printer: receipts; interval")."""
    if not parts:
        return DueState.UNKNOWN, None, ""
    state = min((d.state for d in parts.values()), key=_RANK.__getitem__)
    dates = [d.due_at for d in parts.values() if d.due_at is not None]
    reasons = [
        f"{task}: {d.reason}" if task else d.reason
        for task, d in sorted(parts.items())
        if d.state is state and d.reason
    ]
    return state, min(dates, default=None), "; ".join(reasons)


def device_due(
    policy: MaintenancePolicy | None,
    schedules: Iterable[Schedule],
    place: tuple[str, str, str],
    usage: Usage,
    done: dict[str, Done],
    now: datetime,
) -> tuple[DueState, datetime | None, str]:
    """A terminal's maintenance state: its model's policy (``maintenance_policy``) and each
    task's schedule that applies at ``place`` (model, region, site), combined."""
    parts: dict[str, Due] = {}
    if policy is not None:
        parts[""] = compute_due(policy, usage, now)
    full = (
        Done(usage.last_service_at, usage.receipts_at_service, usage.errors_at_service)
        if usage.last_service_at
        else None
    )
    counters = Counters(usage.receipts_printed, usage.error_count, usage.battery_health_pct)
    for task, s in applicable(schedules, *place).items():
        parts[task] = task_due(
            s, last_done(done.get(task), full), usage.install_date, counters, now
        )
    return combine(parts)
