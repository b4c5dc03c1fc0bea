"""Recurring windows are read in the zone of their scope (store, else the deployment's
default), whatever the window row says by default; on a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from collector.actions import Actor, Role, create_window
from collector.alerts.repository import load_windows
from collector.status import active_scopes
from collector.store import db

from .store import add_site, open_store

OLGA = Actor("olga", Role.OPERATOR)
SUNDAY_2AM = "0 2 * * 0"


@pytest.fixture
def conn(store_url: str) -> Iterator[db.Connection]:
    c = open_store(store_url)
    add_site(c, "SH01", ["GW-SH1"], tz="Asia/Shanghai")
    add_site(c, "NY01", ["GW-NY1"], tz="America/New_York")
    with c:
        c.execute(
            "INSERT INTO terminals (terminal_id, gateway_id, site_id, region_id, model) "
            "VALUES ('T-SH1', 'GW-SH1', 'SH01', 'north', 'P1')"
        )
        # listed with its gateway only (terminals.csv without a site): in the gateway's store
        c.execute("INSERT INTO terminals (terminal_id, gateway_id) VALUES ('T-SH2', 'GW-SH1')")
    try:
        yield c
    finally:
        c.close()


def _weekly(conn: db.Connection, scope: str, sid: str, first: datetime, **kw: str) -> int:
    return create_window(
        conn, OLGA, scope_type=scope, scope_id=sid, starts_at=first,
        ends_at=first + timedelta(hours=2), reason="weekly restart",
        now=first - timedelta(days=1), recurrence=SUNDAY_2AM, **kw,
    )  # fmt: skip


def _active(conn: db.Connection, at: datetime) -> set[tuple[str, str]]:
    return {(w.scope_type, w.scope_id) for w in load_windows(conn, at) if w.active(at)}


@pytest.mark.parametrize(
    ("scope", "sid"),
    [("site", "SH01"), ("gateway", "GW-SH1"), ("terminal", "T-SH1"), ("terminal", "T-SH2")],
)
def test_sunday_2am_for_a_shanghai_store_is_2_to_4_local_not_10(
    conn: db.Connection, scope: str, sid: str
) -> None:
    _weekly(conn, scope, sid, datetime(2026, 1, 3, 18, tzinfo=UTC))  # Sun 02:00 Shanghai
    # Sunday 2026-01-11 02:30 in Shanghai is Saturday 18:30 UTC.
    assert _active(conn, datetime(2026, 1, 10, 18, 30, tzinfo=UTC)) == {(scope, sid)}
    assert _active(conn, datetime(2026, 1, 10, 19, 59, tzinfo=UTC)) == {(scope, sid)}
    assert _active(conn, datetime(2026, 1, 10, 20, 0, tzinfo=UTC)) == set()
    # Sunday 02:30 UTC is 10:30 in Shanghai: peak trading, no window.
    assert _active(conn, datetime(2026, 1, 11, 2, 30, tzinfo=UTC)) == set()


def test_a_window_stored_with_the_old_default_utc_is_read_in_the_stores_zone(
    conn: db.Connection,
) -> None:
    # Every window created before this change has tz 'UTC' (the action's old default).
    _weekly(conn, "site", "SH01", datetime(2026, 1, 3, 18, tzinfo=UTC), tz="UTC")
    assert _active(conn, datetime(2026, 1, 10, 18, 30, tzinfo=UTC)) == {("site", "SH01")}
    assert _active(conn, datetime(2026, 1, 11, 2, 30, tzinfo=UTC)) == set()


def test_an_explicit_zone_on_the_window_wins_over_the_stores(conn: db.Connection) -> None:
    _weekly(conn, "site", "SH01", datetime(2026, 1, 4, 2, tzinfo=UTC), tz="Etc/UTC")
    assert _active(conn, datetime(2026, 1, 11, 2, 30, tzinfo=UTC)) == {("site", "SH01")}
    assert _active(conn, datetime(2026, 1, 10, 18, 30, tzinfo=UTC)) == set()


def test_a_new_york_store_keeps_2am_local_across_the_november_dst_change(
    conn: db.Connection,
) -> None:
    _weekly(conn, "site", "NY01", datetime(2026, 10, 25, 6, tzinfo=UTC))  # Sun 02:00 EDT
    edt = datetime(2026, 10, 25, 6, 30, tzinfo=UTC)  # Sun 25 Oct 02:30 EDT (UTC-4)
    est = datetime(2026, 11, 8, 7, 30, tzinfo=UTC)  # Sun 8 Nov 02:30 EST (UTC-5)
    assert _active(conn, edt) == {("site", "NY01")}
    assert _active(conn, est) == {("site", "NY01")}
    assert _active(conn, est - timedelta(hours=1, minutes=31)) == set()  # 00:59 EST
    assert _active(conn, est + timedelta(hours=1, minutes=31)) == set()  # 04:01 EST


def test_a_region_window_is_read_in_the_deployments_default_zone(
    conn: db.Connection,
) -> None:
    with conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('default_tz', 'Asia/Shanghai')")
    _weekly(conn, "region", "north", datetime(2026, 1, 3, 18, tzinfo=UTC))
    at = datetime(2026, 1, 10, 18, 30, tzinfo=UTC)  # Sunday 02:30 in Shanghai
    assert _active(conn, at) == {("region", "north")}
    # ... and the console's and the metrics' effective status see the same window.
    assert active_scopes(conn, at) == {"region": ["north"]}
    assert active_scopes(conn, datetime(2026, 1, 11, 2, 30, tzinfo=UTC)) == {}


def test_an_unknown_default_zone_is_refused_naming_the_setting() -> None:
    from collector.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match=r"POSFLEET_DEFAULT_TZ.*Mars/Olympus"):
        load_settings(default_tz="Mars/Olympus")


def test_a_window_with_an_unknown_zone_is_refused(conn: db.Connection) -> None:
    from collector.actions import InvalidAction

    with pytest.raises(InvalidAction, match="Mars/Olympus"):
        _weekly(conn, "site", "SH01", datetime(2026, 1, 3, 18, tzinfo=UTC), tz="Mars/Olympus")


def test_a_daily_2am_shanghai_window_typed_at_2am_utc_is_not_active_at_10_local_on_day_one(
    conn: db.Connection,
) -> None:
    """A console that reads UTC: the operator types the series' start as 02:00 (UTC) and the
    cron 02:00 (store time). The series starts then; its first occurrence is the next 02:00
    in Shanghai (18:00 UTC), never 02:00-04:00 UTC, which is 10:00-12:00 in the store."""
    first = datetime(2026, 1, 5, 2, tzinfo=UTC)  # 10:00 in Shanghai
    create_window(
        conn, OLGA, scope_type="site", scope_id="SH01", starts_at=first,
        ends_at=first + timedelta(hours=2), reason="nightly restart", now=first,
        recurrence="0 2 * * *",
    )  # fmt: skip
    assert _active(conn, first) == set()
    assert _active(conn, first + timedelta(hours=1, minutes=59)) == set()
    assert _active(conn, datetime(2026, 1, 5, 18, 0, tzinfo=UTC)) == {("site", "SH01")}
    assert _active(conn, datetime(2026, 1, 5, 19, 59, tzinfo=UTC)) == {("site", "SH01")}
    assert _active(conn, datetime(2026, 1, 6, 2, 0, tzinfo=UTC)) == set()
