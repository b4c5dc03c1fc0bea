"""The "Since" of a device shown in maintenance is when the maintenance began (the current
occurrence of its window), not when its link status last changed (issue #15, item 5)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from collector.actions import Actor, Role, create_window
from collector.store import db
from simulators.stack.seeded_store import NOW

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:altair.*")
OLGA = Actor("olga", Role.OPERATOR)


def _metric(at, label: str) -> str:
    found = [str(m.value) for m in at.metric if m.label == label]
    assert found, (label, [m.label for m in at.metric])
    return found[0].replace("\\", "")  # markdown-escaped


def test_a_gateway_in_a_recurring_window_is_in_maintenance_since_the_occurrence_began(
    open_page, fleet
) -> None:
    conn = db.connect(fleet.path)
    try:
        gw, site, status_since = conn.execute(
            "SELECT gateway_id, site_id, status_since FROM gateways WHERE status = 'online' "
            "AND site_id NOT IN (SELECT scope_id FROM maintenance_windows) "
            "AND region_id NOT IN (SELECT scope_id FROM maintenance_windows) "
            "ORDER BY gateway_id LIMIT 1"
        ).fetchone()
        # Every day 08:30-10:30 UTC, from three days ago: NOW (09:00 UTC) is in today's.
        first = NOW.replace(hour=8, minute=30) - timedelta(days=3)
        create_window(
            conn, OLGA, scope_type="site", scope_id=site, starts_at=first,
            ends_at=first + timedelta(hours=2), reason="router swap", now=NOW - timedelta(days=4),
            recurrence="30 8 * * *", tz="UTC",
        )  # fmt: skip
    finally:
        conn.close()
    assert not str(status_since).startswith("2026-11-22T08:30")  # the test tells them apart
    at = open_page("views/detail.py", {"id": gw})
    assert _metric(at, "Status") == "maintenance"
    assert _metric(at, "Since") == "2026-11-22 08:30"
    members = open_page("views/detail.py", {"id": site}).dataframe
    rows = next(d.value for d in members if "type" in d.value.columns)
    row = rows[rows["id"] == gw].iloc[0]
    assert str(row["status"]) == "maintenance"
    assert "2026-11-22 08:30" in str(row["status_since"])
