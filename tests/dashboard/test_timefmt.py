"""Every time the console shows (dashboard/timefmt.py): expected values written by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dashboard import timefmt

SHANGHAI = timefmt.zone("Asia/Shanghai")
BERLIN = timefmt.zone("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_stored_time_is_shanghai_wall_time_to_the_minute() -> None:
    stored = "2026-11-30T06:04:30.123456+00:00"  # the store's format, microseconds and all
    assert timefmt.local(stored, SHANGHAI) == "2026-11-30 14:04"
    assert timefmt.local(utc(2026, 11, 30, 16, 30), SHANGHAI) == "2026-12-01 00:30"
    assert timefmt.local(None, SHANGHAI) == ""
    assert timefmt.local("", SHANGHAI) == ""
    # A naive text (only a hand-edited row) is read as UTC, the only zone the store writes.
    assert timefmt.local("2026-11-30T06:04:00", SHANGHAI) == "2026-11-30 14:04"


def test_berlin_wall_time_across_the_autumn_switch() -> None:
    # 2026-10-25 03:00 CEST becomes 02:00 CET at 01:00 UTC: 02:30 happens twice.
    assert timefmt.local(utc(2026, 10, 25, 0, 30), BERLIN) == "2026-10-25 02:30"
    assert timefmt.local(utc(2026, 10, 25, 1, 30), BERLIN) == "2026-10-25 02:30"
    assert timefmt.zone_caption(utc(2026, 10, 25, 0, 30), "Europe/Berlin") == (
        "Europe/Berlin (CEST, UTC+02:00)"
    )
    assert timefmt.zone_caption(utc(2026, 10, 25, 1, 30), "Europe/Berlin") == (
        "Europe/Berlin (CET, UTC+01:00)"
    )


def test_berlin_wall_time_across_the_spring_switch() -> None:
    # 2026-03-29 02:00 CET jumps to 03:00 CEST at 01:00 UTC: 02:xx never happens.
    assert timefmt.local(utc(2026, 3, 29, 0, 59), BERLIN) == "2026-03-29 01:59"
    assert timefmt.local(utc(2026, 3, 29, 1, 0), BERLIN) == "2026-03-29 03:00"


def test_zone_captions_say_the_zone_once() -> None:
    now = utc(2026, 11, 30, 6, 0)
    assert timefmt.zone_caption(now, "Asia/Shanghai") == "Asia/Shanghai (CST, UTC+08:00)"
    assert timefmt.zone_caption(now, "UTC") == "UTC (UTC+00:00)"
    assert timefmt.zone_caption(now, "Asia/Kolkata") == "Asia/Kolkata (IST, UTC+05:30)"
    assert timefmt.zone_caption(now, "America/Sao_Paulo") == "America/Sao_Paulo (UTC-03:00)"


def test_today_starts_at_local_midnight_not_at_0800_beijing_time() -> None:
    # 23:59 in Shanghai on 30 November: today began at 16:00 UTC the day before.
    assert timefmt.day_start(utc(2026, 11, 30, 15, 59), "Asia/Shanghai") == utc(2026, 11, 29, 16)
    # One minute later it is 1 December in Shanghai: a new day and a new month.
    assert timefmt.day_start(utc(2026, 11, 30, 16, 0), "Asia/Shanghai") == utc(2026, 11, 30, 16)
    assert timefmt.month_start(utc(2026, 11, 30, 16, 0), "Asia/Shanghai") == utc(2026, 11, 30, 16)
    assert timefmt.month_start(utc(2026, 11, 30, 15, 59), "Asia/Shanghai") == utc(2026, 10, 31, 16)
    assert timefmt.day_start(utc(2026, 11, 30, 15, 59), "UTC") == utc(2026, 11, 30)
    assert timefmt.local_day("2026-11-30T16:00:00.000000+00:00", "Asia/Shanghai") == "2026-12-01"


def test_berlin_days_around_the_switch_are_25_and_23_hours_long() -> None:
    # 25 October 2026 began at 00:00 CEST (22:00 UTC) and ended at 00:00 CET (23:00 UTC).
    assert timefmt.day_start(utc(2026, 10, 25, 12), "Europe/Berlin") == utc(2026, 10, 24, 22)
    assert timefmt.day_start(utc(2026, 10, 26, 12), "Europe/Berlin") == utc(2026, 10, 25, 23)
    # 29 March 2026 began at 00:00 CET (23:00 UTC) and ended at 00:00 CEST (22:00 UTC).
    assert timefmt.day_start(utc(2026, 3, 29, 12), "Europe/Berlin") == utc(2026, 3, 28, 23)
    assert timefmt.day_start(utc(2026, 3, 30, 12), "Europe/Berlin") == utc(2026, 3, 29, 22)


@pytest.mark.parametrize(
    ("ago", "en", "zh"),
    [
        (timedelta(minutes=12), "12 minutes ago", "12分钟前"),
        (timedelta(minutes=90), "90 minutes ago", "90分钟前"),
        (timedelta(hours=3), "3 hours ago", "3小时前"),
        (timedelta(days=3, hours=5), "3 days ago", "3天前"),
        (timedelta(seconds=50), "50 seconds ago", "50秒钟前"),
        (timedelta(0), "1 second ago", "1秒钟前"),
        (-timedelta(hours=2), "in 2 hours", "2小时后"),
    ],
)
def test_relative_times_in_both_languages(ago: timedelta, en: str, zh: str) -> None:
    now = utc(2026, 11, 30, 6, 16)
    assert timefmt.relative(now - ago, now, "en") == en
    assert timefmt.relative(now - ago, now, "zh-CN") == zh
    # The store's text form reads the same.
    assert timefmt.relative((now - ago).isoformat(), now, "zh-CN") == zh


def test_relative_of_nothing_is_empty() -> None:
    assert timefmt.relative(None, utc(2026, 11, 30), "zh-CN") == ""


def test_a_table_shows_stored_times_as_wall_time_and_leaves_dates_and_text_alone() -> None:
    df = pd.DataFrame(
        {
            "id": [1, 2],
            "started_at": ["2026-11-30T06:04:30.123456+00:00", None],
            "due_at": ["2026-12-01", "2026-12-02"],  # dates stay dates
            "summary": ["Gateway GW1 down", "2026 plan"],
        }
    )
    shown = timefmt.frame(df, "Asia/Shanghai")
    assert shown["started_at"].tolist() == ["2026-11-30 14:04", ""]
    assert shown["due_at"].tolist() == ["2026-12-01", "2026-12-02"]
    assert shown["summary"].tolist() == ["Gateway GW1 down", "2026 plan"]
    assert df["started_at"][0] == "2026-11-30T06:04:30.123456+00:00"  # the CSV's data: as stored


@pytest.mark.parametrize("bad", ["Asia/Beijing", "", "/etc/localtime", "utc+8"])
def test_an_unknown_zone_is_refused_by_name(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        timefmt.zone(bad)
