"""Pure retention logic: cutoffs, hour buckets, which values a rollup keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.store.retention import (
    RetentionPolicy,
    cutoffs,
    hour_bucket,
    metric_values,
)
from collector.store.times import to_db

NOW = datetime(2026, 11, 22, 9, 37, 12, 345_000, tzinfo=UTC)


def test_raw_cutoff_is_the_window_rounded_down_to_a_whole_hour() -> None:
    cut = cutoffs(NOW, RetentionPolicy(raw_keep=timedelta(days=2), rollup_keep=timedelta(days=30)))
    assert cut.raw_before == "2026-11-20T09:00:00.000000+00:00"
    assert cut.rollup_before == "2026-10-23T09:37:12.345000+00:00"


def test_cutoffs_of_a_non_utc_now_are_expressed_in_utc() -> None:
    paris = NOW.astimezone(timezone(timedelta(hours=1)))
    assert cutoffs(paris, RetentionPolicy()) == cutoffs(NOW, RetentionPolicy())


def test_a_policy_keeping_rollups_shorter_than_raw_rows_is_refused() -> None:
    with pytest.raises(ValueError, match="rollup_keep"):
        RetentionPolicy(raw_keep=timedelta(days=10), rollup_keep=timedelta(days=1))


@given(st.datetimes(timezones=st.just(UTC)))
def test_a_time_falls_in_the_bucket_of_its_own_hour(moment: datetime) -> None:
    bucket = hour_bucket(to_db(moment))
    start = datetime.fromisoformat(bucket)
    assert start <= moment < start + timedelta(hours=1)
    assert bucket == to_db(start)


def test_rollups_keep_numbers_and_booleans_but_not_identity_text_or_nested_values() -> None:
    payload: dict[str, object] = {
        "v": 1,
        "gw": "gw-1",
        "ts": "2026-11-22T09:00:00+00:00",
        "session": 4,
        "seq": 88,
        "load1": 0.5,
        "uptime_s": 3600,
        "dns_ok": True,
        "charging": False,
        "link": "wifi",
        "errors": {"probe": "boom"},
    }
    assert metric_values(payload) == {
        "load1": 0.5,
        "uptime_s": 3600.0,
        "dns_ok": 1.0,
        "charging": 0.0,
    }
