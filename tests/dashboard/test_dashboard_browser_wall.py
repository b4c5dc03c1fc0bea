"""The wall screen in Chromium (issue #15, item 12): no sidebar, counts big enough to read
across the room, in the Overview's colours and figures, refreshed without a reload."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_dashboard_browser import DOC_SHOTS, _settled, serve

from collector.store import db as store_db
from collector.store.times import to_db
from simulators.stack.seeded_store import NOW

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _tile(page: Any, row: int, status: str) -> int:
    tile = page.locator(".wall-row").nth(row).locator(f'.wall-tile[data-status="{status}"]')
    return int(tile.locator(".wall-n").inner_text().replace(",", ""))


def _overview(page: Any, url: str) -> dict[str, dict[str, int]]:
    """The Overview's metrics, as the same browser shows them."""
    page.goto(url + "/")
    _settled(page, "Regions at a glance")
    metrics = page.locator('[data-testid="stMetric"]')
    out: dict[str, dict[str, int]] = {"gateways": {}, "terminals": {}}
    for i in range(14):  # gateways then terminals, one metric per status
        m = metrics.nth(i)
        label = m.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        value = m.locator('[data-testid="stMetricValue"]').inner_text().strip()
        out["gateways" if i < 7 else "terminals"][label] = int(value.replace(",", ""))
    return out


def _online_store_outside_windows(db: Path) -> tuple[str, list[str]]:
    """A store whose gateways are all online, and no maintenance window on any of them."""
    conn = store_db.connect(db)
    try:
        row = conn.execute(
            "SELECT g.site_id FROM gateways g GROUP BY g.site_id HAVING SUM(CASE WHEN "
            "g.status = 'online' AND g.registered = 1 AND g.suspended = 0 AND "
            "g.decommissioned = 0 AND NOT EXISTS (SELECT 1 FROM maintenance_windows w "
            "WHERE w.ended_early_at IS NULL AND ("
            " (w.scope_type = 'site' AND w.scope_id = g.site_id) OR"
            " (w.scope_type = 'region' AND w.scope_id = g.region_id) OR"
            " (w.scope_type = 'model' AND w.scope_id = g.model) OR"
            " (w.scope_type = 'gateway' AND w.scope_id = g.gateway_id))) "
            "THEN 1 ELSE 0 END) = COUNT(*) ORDER BY g.site_id LIMIT 1"
        ).fetchone()
        assert row is not None
        gateways = conn.execute(
            "SELECT gateway_id FROM gateways WHERE site_id = ?", (row[0],)
        ).fetchall()
    finally:
        conn.close()
    return str(row[0]), [str(g) for (g,) in gateways]


def test_the_wall_has_no_sidebar_big_counts_and_refreshes_by_itself(
    fleet, browser, tmp_path
) -> None:
    shots = DOC_SHOTS if os.environ.get("POSFLEET_UPDATE_SCREENSHOTS") == "1" else tmp_path
    with serve(fleet.path, refresh_s=1) as url:
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        expected = _overview(page, url)
        page.goto(url + "/wall")
        _settled(page, "Fleet wall")
        assert page.locator('[data-testid="stException"]').count() == 0
        # No sidebar: no navigation, no search, no login; nor a button to open one.
        for testid in ("stSidebar", "stSidebarCollapsedControl", "stExpandSidebarButton"):
            assert not page.locator(f'[data-testid="{testid}"]').is_visible(), testid
        assert page.get_by_role("button").count() == 0
        for row, subject in enumerate(("gateways", "terminals")):
            for status in ("down", "late", "online", "unknown"):
                assert _tile(page, row, status) == expected[subject][status], (subject, status)
        # Readable across the room: the figures are at least 80 px tall at 1920 px wide.
        size = page.locator(".wall-n").first.evaluate("e => getComputedStyle(e).fontSize")
        assert float(size.removesuffix("px")) >= 80, size
        colour = page.locator('.wall-tile[data-status="down"]').first.evaluate(
            "e => getComputedStyle(e).backgroundColor"
        )
        assert colour == "rgb(214, 39, 40)"  # red
        # A store goes down while the wall is watched: no reload, no click.
        before = _tile(page, 0, "down")
        assert page.get_by_text("No store is down.").count() == 1
        site, gateways = _online_store_outside_windows(fleet.path)
        conn = store_db.connect(fleet.path)
        try:
            with conn:
                conn.executemany(
                    "UPDATE gateways SET status = 'down', status_since = ? WHERE gateway_id = ?",
                    [(to_db(NOW - timedelta(minutes=75)), g) for g in gateways],
                )
        finally:
            conn.close()
        page.wait_for_function(
            """n => Number(document.querySelector(
                '.wall-row .wall-tile[data-status="down"] .wall-n').innerText
                .replace(/,/g, '')) === n""",
            arg=before + len(gateways),
            timeout=20_000,
        )
        page.get_by_text("Stores down: 1").wait_for(timeout=20_000)
        row = page.locator("table.wall-stores tbody tr")
        assert row.count() == 1
        assert row.first.inner_text().split()[0] == site
        assert "07:45 (75 minutes ago)" in row.first.inner_text()  # since, and for how long
        page.screenshot(path=str(shots / "wall.png"), full_page=True)
        assert page.url.endswith("/wall")
        page.close()
