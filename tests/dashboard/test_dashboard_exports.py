"""Exports and scale: a paged table's CSV download holds every row its filters match, not the
page on screen; the sidebar search says how many more hits there are and shows them."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from collector.store import db
from collector.store.times import to_db
from simulators.stack.seeded_store import NOW

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:altair.*")


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], Any]]:
    """The CSV builders the pages hand to their download buttons, by file name: called here
    as a click would (AppTest has no browser to click with)."""
    builders: dict[str, Callable[[], Any]] = {}
    original = MediaFileManager.add_deferred

    def record(self: MediaFileManager, data: Callable[[], Any], *a: Any, **kw: Any) -> str:
        builders[str(kw.get("file_name"))] = data
        return original(self, data, *a, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return builders


def _csv(build: Callable[[], Any]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(str(build()))))


def _ids(store: Any, sql: str, *args: object) -> list[int]:
    conn = db.connect(store)
    try:
        return sorted(int(r[0]) for r in conn.execute(sql, args))
    finally:
        conn.close()


def test_the_incidents_csv_holds_every_incident_of_the_period_not_the_page(
    open_page: Callable[..., AppTest],
    fleet: Any,
    downloads: dict[str, Callable[[], Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POSFLEET_DASHBOARD_PAGE_SIZE", "5")
    at = open_page("views/incidents.py", {"days": "30"})
    shown = next(d.value for d in at.dataframe if "class" in d.value.columns)
    assert len(shown) == 5
    since = NOW.replace(second=0, microsecond=0) - timedelta(days=30)
    expected = _ids(fleet.path, "SELECT id FROM incidents WHERE started_at >= ?", to_db(since))
    assert len(expected) > 5
    exported = _csv(downloads["incidents.csv"])
    assert sorted(int(r["id"]) for r in exported) == expected


def test_the_alerts_csv_holds_every_alert_the_filters_match(
    open_page: Callable[..., AppTest],
    fleet: Any,
    downloads: dict[str, Callable[[], Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POSFLEET_DASHBOARD_PAGE_SIZE", "5")
    at = open_page("views/alerts.py", {"ack": "unacked"})
    shown = next(d.value for d in at.dataframe if "kind" in d.value.columns)
    expected = _ids(
        fleet.path,
        "SELECT id FROM alerts WHERE state IN ('firing', 'pending') AND acked_at IS NULL",
    )
    assert len(shown) == min(5, len(expected)) < len(expected)
    assert sorted(int(r["id"]) for r in _csv(downloads["alerts.csv"])) == expected


def test_search_beyond_twenty_hits_says_how_many_and_shows_more(
    open_page: Callable[..., AppTest], fleet: Any
) -> None:
    at = open_page("views/overview.py")
    conn = db.connect(fleet.path)
    try:
        (total,) = conn.execute(
            "SELECT (SELECT COUNT(*) FROM gateways WHERE gateway_id LIKE 'GW00%' "
            "OR serial LIKE 'GW00%') + (SELECT COUNT(*) FROM terminals WHERE terminal_id "
            "LIKE 'GW00%' OR serial LIKE 'GW00%') + (SELECT COUNT(*) FROM sites WHERE "
            "site_id LIKE 'GW00%' OR merchant_name LIKE 'GW00%' OR name LIKE 'GW00%')"
        ).fetchone()
    finally:
        conn.close()
    assert total > 20
    at.query_params["q"] = "GW00"
    at.run()
    assert not at.exception, at.exception
    assert len(at.sidebar.get("page_link")) == 20
    assert f"20 of {total} matches" in [c.value for c in at.sidebar.caption]
    more = [b for b in at.sidebar.button if b.label == "more"]
    assert more, [b.label for b in at.sidebar.button]
    more[0].click()
    at.run()
    assert not at.exception, at.exception
    assert len(at.sidebar.get("page_link")) == min(40, total)
    if total > 40:
        assert f"40 of {total} matches" in [c.value for c in at.sidebar.caption]
