"""Flap detection: more than N down/up changes within a window (pure)."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from collector.model import SubjectType

Subject = tuple[SubjectType, str]


class FlapDetector:
    """Keeps recent change times only for subjects that changed within the window.

    Memory is bounded by the subjects that actually changed recently, never the fleet.
    """

    def __init__(self, changes: int, window_s: float, quiet_s: float) -> None:
        self.changes = changes
        self.window = timedelta(seconds=window_s)
        self.quiet = timedelta(seconds=quiet_s)
        self._recent: dict[Subject, deque[datetime]] = {}

    def record(self, subject: Subject, at: datetime) -> bool:
        """Record one change; True when the subject is now flapping (> N in the window)."""
        times = self._recent.setdefault(subject, deque())
        times.append(at)
        while times and at - times[0] > self.window:
            times.popleft()
        return len(times) > self.changes

    def last_change(self, subject: Subject) -> datetime | None:
        times = self._recent.get(subject)
        return times[-1] if times else None

    def seed(self, subject: Subject, last_change: datetime) -> None:
        """Restore after a restart: the quiet period counts from the last stored change."""
        self._recent.setdefault(subject, deque()).append(last_change)

    def count(self, subject: Subject) -> int:
        return len(self._recent.get(subject, ()))

    def is_quiet(self, subject: Subject, now: datetime) -> bool:
        last = self.last_change(subject)
        return last is None or now - last >= self.quiet

    def prune(self, now: datetime) -> None:
        horizon = max(self.window, self.quiet)
        stale = [s for s, t in self._recent.items() if not t or now - t[-1] > horizon]
        for s in stale:
            del self._recent[s]

    def __len__(self) -> int:
        return len(self._recent)
