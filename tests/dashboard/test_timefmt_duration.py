"""``timefmt.duration``: how long an outage has lasted, in the NOC's shorthand, both
languages (values written by hand)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.timefmt import duration

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ago", "en", "zh"),
    [
        (timedelta(seconds=0), "<1 min", "<1分"),
        (timedelta(seconds=59), "<1 min", "<1分"),
        (timedelta(minutes=5, seconds=59), "5 min", "5分"),
        (timedelta(hours=2), "2 h", "2小时"),
        (timedelta(hours=2, minutes=5, seconds=30), "2 h 5 min", "2小时5分"),
        (timedelta(days=1, hours=23, minutes=59), "1 d 23 h", "1天23小时"),
        (timedelta(days=3, minutes=7), "3 d", "3天"),
        (timedelta(minutes=-10), "<1 min", "<1分"),  # a time to come: nothing yet
    ],
)
def test_duration_in_both_languages(ago: timedelta, en: str, zh: str) -> None:
    since = NOW - ago
    assert duration(since, NOW, "en") == en
    assert duration(since.isoformat(), NOW, "zh-CN") == zh


def test_no_time_is_no_duration() -> None:
    assert duration(None, NOW, "en") == ""
