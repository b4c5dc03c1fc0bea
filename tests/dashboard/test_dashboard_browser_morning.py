"""The morning check in Chromium at 1600 px (issue #15, item 4): the table of what is down
fits the screen without sideways scrolling, long cells wrap, and two selected rows are
acknowledged in one action, each audited."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from test_dashboard_browser import DOC_SHOTS, _settled, serve

from collector.store import db as store_db

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HEADER_H, ROW_H = 36, 76  # px: the grid's header, its rows (dashboard/views/morning.py)
LONG_MERCHANT = "Golden Dragon Noodle House and Convenience Store (Pudong New Area branch)"
LONG_CAUSE = "router power supply failed; the merchant was told a technician brings a new one"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """SQLite only: the page's reads run on both engines in test_dashboard_morning.py and the
    actions in test_morning_actions.py."""
    return str(tmp_path / "posfleet.sqlite")


def _lengthen(db: Path) -> None:
    """The longest strings a store really has, on every store with a down gateway: a long
    merchant name and a cause as the NOC types it."""
    conn = store_db.connect(db)
    try:
        with conn:
            conn.execute(
                "UPDATE sites SET merchant_name = ? WHERE site_id IN "
                "(SELECT site_id FROM gateways WHERE status = 'down')",
                (LONG_MERCHANT,),
            )
            conn.execute("UPDATE incidents SET cause = ? WHERE ended_at IS NULL", (LONG_CAUSE,))
    finally:
        conn.close()


def _no_sideways_scroll(page: Any) -> dict[str, int]:
    return dict(
        page.evaluate(
            """() => {
            const doc = document.documentElement;
            const grid = document.querySelector('[data-testid="stDataFrame"] .dvn-scroller');
            return {doc_scroll: doc.scrollWidth, doc_client: doc.clientWidth,
                    grid_scroll: grid ? grid.scrollWidth : -1,
                    grid_client: grid ? grid.clientWidth : -1};
        }"""
        )
    )


def _tile(page: Any, key: str) -> int:
    text = page.locator(f'.mc-tile[data-count="{key}"] .mc-n').inner_text()
    return int(text.replace(",", ""))


def test_the_morning_check_fits_1600_px_and_acknowledges_two_rows_at_once(
    fleet, browser, tmp_path
) -> None:
    shots = DOC_SHOTS if os.environ.get("POSFLEET_UPDATE_SCREENSHOTS") == "1" else tmp_path
    _lengthen(fleet.path)
    with serve(fleet.path, refresh_s=600) as url:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(url + "/morning")
        _settled(page, "Morning check")
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_label("User").fill("olga")
        sidebar.get_by_label("Password", exact=True).fill("correct horse battery")
        sidebar.get_by_role("button", name="Log in").click()
        page.get_by_text("Logged in:").wait_for(timeout=30_000)
        _settled(page, "Select rows")
        assert page.locator('[data-testid="stException"]').count() == 0
        grid = page.locator('[data-testid="stDataFrame"]')
        grid.wait_for(timeout=30_000)
        page.screenshot(path=str(shots / "morning.png"), full_page=True)
        sizes = _no_sideways_scroll(page)
        assert sizes["doc_scroll"] <= sizes["doc_client"], sizes
        assert 0 < sizes["grid_scroll"] <= sizes["grid_client"], sizes  # the table's own
        assert _tile(page, "paging") == 2
        # Select the two most urgent rows (the checkboxes at the table's left edge: the
        # grid is a canvas, so by position) and acknowledge them in one action.
        box = grid.bounding_box()
        for row in (0, 1):
            page.mouse.click(box["x"] + 17, box["y"] + HEADER_H + ROW_H * row + ROW_H / 2)
            page.get_by_text(f"{row + 1} rows selected").wait_for(timeout=30_000)
        page.get_by_label("Note (who is on it, what is known)").fill("morning check")
        page.get_by_role("button", name="Acknowledge selected").click()
        page.get_by_text("acknowledge alerts: done").wait_for(timeout=30_000)
        _settled(page, "Select rows")
        assert _tile(page, "paging") == 0
        sizes = _no_sideways_scroll(page)
        assert sizes["doc_scroll"] <= sizes["doc_client"], sizes
        page.close()
    conn = store_db.connect(fleet.path)
    try:
        acked = conn.execute(
            "SELECT kind, acked_by FROM alerts WHERE ack_note = 'morning check'"
        ).fetchall()
        audited = conn.execute(
            "SELECT COUNT(*) FROM audit_log WHERE actor = 'olga' AND action = 'alert.acknowledge'"
        ).fetchone()[0]
    finally:
        conn.close()
    assert acked == [("gateway_down", "olga")] * 2
    assert audited == 2
