"""The maintenance windows table says when a recurring window next runs, on the viewer's
clock and on its own zone's: a daily 02:00 for a Shanghai store, scheduled from a console
that reads UTC, runs 18:00-20:00 UTC, 02:00-04:00 in the store (issue #15, item 2)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from collector.actions import Actor, Role, create_window
from collector.store import db as store_db
from simulators.stack.seeded_store import NOW, Fleet

OLGA = Actor("olga", Role.OPERATOR)


@pytest.fixture
def shanghai_window(fleet: Fleet) -> str:
    conn = store_db.connect(fleet.path)
    try:
        site = conn.execute("SELECT site_id FROM sites ORDER BY site_id").fetchone()[0]
        with conn:  # the store moved to Shanghai (an inventory import would write the same)
            conn.execute("UPDATE sites SET tz = 'Asia/Shanghai' WHERE site_id = ?", (site,))
        create_window(
            conn, OLGA, scope_type="site", scope_id=site, starts_at=NOW,
            ends_at=NOW + timedelta(hours=2), reason="nightly restart", now=NOW,
            recurrence="0 2 * * *",
        )  # fmt: skip
    finally:
        conn.close()
    return str(site)


@pytest.mark.parametrize(
    ("viewer", "starts", "ends"),
    [("UTC", "2026-11-22 18:00", "2026-11-22 20:00"),
     ("Asia/Shanghai", "2026-11-23 02:00", "2026-11-23 04:00")],
)  # fmt: skip
def test_a_recurring_window_shows_its_next_run_on_the_viewers_clock_and_the_stores(
    shanghai_window: str, open_page, monkeypatch, viewer: str, starts: str, ends: str
) -> None:
    monkeypatch.setenv("POSFLEET_TZ", viewer)
    at = open_page("views/maintenance.py")
    table = next(d.value for d in at.dataframe if "scope_id" in d.value.columns)
    rows = table[table["scope_id"] == shanghai_window].to_dict("records")
    assert [(r["zone"], r["zone_hours"], r["next_start"], r["next_end"]) for r in rows] == [
        ("Asia/Shanghai", "02:00-04:00", starts, ends)
    ]
