"""The store's one time codec (collector.store.times), and that it is the only one."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.store.times import NaiveTimeError, from_db, from_db_opt, to_db

ROOT = Path(__file__).resolve().parents[1]
aware = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(9998, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))]),
)


def test_a_shanghai_time_is_stored_as_the_same_instant_in_utc() -> None:
    shanghai = timezone(timedelta(hours=8))
    assert to_db(datetime(2026, 11, 30, 10, 0, tzinfo=shanghai)) == (
        "2026-11-30T02:00:00.000000+00:00"
    )


def test_a_naive_time_is_refused_on_the_way_in() -> None:
    with pytest.raises(NaiveTimeError, match="naive"):
        to_db(datetime(2026, 11, 30, 10, 0))


def test_a_naive_text_is_read_as_utc_never_as_local_time() -> None:
    assert from_db("2026-11-30T02:00:00") == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    assert from_db_opt(None) is None
    assert from_db_opt("") is None


@given(aware, aware)
def test_text_order_is_time_order_and_the_round_trip_keeps_the_instant(
    a: datetime, b: datetime
) -> None:
    assert from_db(to_db(a)) == a
    assert (to_db(a) < to_db(b)) == (a < b)
    assert len(to_db(a)) == len(to_db(b))


def test_no_other_module_formats_or_parses_stored_times() -> None:
    """collector/ and dashboard/ go through the codec: no second format can creep in."""
    pattern = re.compile(r"isoformat\(timespec=|fromisoformat\(")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for package in ("collector", "dashboard")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "times.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
