"""Maintenance calendar: one-off and recurring (cron, in the window's time zone) windows.

Pure: rows in, "is this subject covered now?" out. ``ended_early_at`` ends the window for
good, including every later occurrence of a recurring one (the dashboard refuses to end a
window twice, so ending a series is the only reading that stays consistent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from collector.alerts.model import Place
from collector.model import SubjectType

SCOPES = ("terminal", "gateway", "site", "region", "model")


@dataclass(frozen=True, slots=True)
class Window:
    id: int
    scope_type: str
    scope_id: str
    starts_at: datetime
    ends_at: datetime
    recurrence: str | None = None
    duration_s: float | None = None
    tz: str = "UTC"
    reason: str = ""
    ended_early_at: datetime | None = None

    def occurrence(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence (start, end) containing ``now``, if any. A recurring window's
        occurrences are its cron's starts (in ``tz``) from ``starts_at`` on."""
        if now < self.starts_at:
            return None
        if not self.recurrence:
            start, end = self.starts_at, self.ends_at
        else:
            zone, duration = self._zone(), self._duration()
            # The latest start at or before now, computed in local time so "every Sunday
            # 02:00" stays 02:00 local across DST changes.
            local_now = now.astimezone(zone)
            it = croniter(self.recurrence, local_now + timedelta(seconds=1))
            start = it.get_prev(datetime).astimezone(now.tzinfo)
            # ``starts_at`` opens the series; its occurrences are the cron's starts only. A
            # start typed on another clock than the scope's (02:00 on a UTC console for a
            # Shanghai store) is no occurrence of its own: it would be 10:00 in the store.
            if start < self.starts_at:
                return None
            end = start + duration
        if not start <= now < end:
            return None
        if self.ended_early_at is not None and self.ended_early_at <= now:
            return None
        return start, end

    def active(self, now: datetime) -> bool:
        return self.occurrence(now) is not None

    def upcoming(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence containing ``now``, else the next one; None once the window is
        over (or ended early). What a person scheduling around it needs to see."""
        current = self.occurrence(now)
        if current is not None:
            return current
        if not self.recurrence:
            found = (self.starts_at, self.ends_at) if now < self.starts_at else None
        else:
            zone = self._zone()
            after = max(now, self.starts_at)
            # croniter's next is strictly after its base: a start exactly at ``after`` counts.
            it = croniter(self.recurrence, after.astimezone(zone) - timedelta(seconds=1))
            start = it.get_next(datetime).astimezone(now.tzinfo)
            found = (start, start + self._duration())
        if found and self.ended_early_at is not None and self.ended_early_at <= found[0]:
            return None
        return found

    def _zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.tz or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def _duration(self) -> timedelta:
        return timedelta(seconds=self.duration_s or (self.ends_at - self.starts_at).total_seconds())

    def covers(self, subject_type: SubjectType, subject_id: str, place: Place) -> bool:
        sid = self.scope_id
        match self.scope_type:
            case "terminal":
                return subject_type is SubjectType.TERMINAL and subject_id == sid
            case "gateway":
                return place.gateway_id == sid or (
                    subject_type is SubjectType.GATEWAY and subject_id == sid
                )
            case "site":
                return place.site_id == sid
            case "region":
                return place.region_id == sid
            case "model":
                return subject_type is not SubjectType.SITE and place.model == sid
        return False


def valid_recurrence(expr: str) -> bool:
    return bool(croniter.is_valid(expr))


class Calendar:
    """The current windows; ``active_ids`` is recomputed once per tick with one ``now``."""

    def __init__(self, windows: list[Window] | None = None) -> None:
        self.windows: list[Window] = list(windows or [])
        self.active: list[Window] = []

    def replace(self, windows: list[Window], now: datetime) -> None:
        self.windows = list(windows)
        self.refresh(now)

    def refresh(self, now: datetime) -> bool:
        """Recompute the active set; True when it changed."""
        active = [w for w in self.windows if w.active(now)]
        changed = [w.id for w in active] != [w.id for w in self.active]
        self.active = active
        return changed

    def covering(self, subject_type: SubjectType, subject_id: str, place: Place) -> Window | None:
        for w in self.active:
            if w.covers(subject_type, subject_id, place):
                return w
        return None
