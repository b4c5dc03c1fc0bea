"""The real thing: ``posfleet-dashboard`` served over HTTP, driven by Debian's Chromium.

Takes a screenshot of every page. A test run leaves the tree clean, so they go to the test's
temporary directory; ``POSFLEET_UPDATE_SCREENSHOTS=1`` writes them over the committed ones in
docs/screenshots/ instead (then look at them before committing).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.console import CHROMIUM, served
from support.services import missing

from collector.store import db as store_db
from collector.store.times import to_db
from simulators.stack.seeded_store import NOW

DOC_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# url path -> text that proves the page rendered its data, not just its frame.
PAGES = {
    "": "Regions at a glance",  # the default page (Overview) lives at /
    "alerts": "active alerts match",
    "detail?id=GW000000": "Status timeline (30 days)",
    "incidents": "Cause and expected recovery",
    "firmware": "Rollout progress",
    "maintenance": "Maintenance windows (active and upcoming)",
    "inventory": "Reporting but not in the inventory",
    "audit": "entries",
}

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """SQLite only: Chromium is the costly part here, and the pages' reads run on both
    engines in the AppTest modules (test_dashboard_pages.py)."""
    return str(tmp_path / "posfleet.sqlite")


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: the docs only when asked to update them."""
    where = DOC_SHOTS if os.environ.get("POSFLEET_UPDATE_SCREENSHOTS") == "1" else tmp_path
    where.mkdir(parents=True, exist_ok=True)
    return where


@contextmanager
def serve(db: Path, refresh_s: float) -> Iterator[str]:
    """``posfleet-dashboard`` on a free port, as an operator would start it."""
    if not Path(CHROMIUM).exists():
        missing(CHROMIUM)
    env = {
        **os.environ,
        "POSFLEET_DASHBOARD_NOW": to_db(NOW),
        "POSFLEET_DASHBOARD_REFRESH_S": str(refresh_s),
    }
    with served(db, env, start_s=30, stop_s=10, what="dashboard") as url:
        yield url


@pytest.fixture
def console(fleet) -> Iterator[str]:
    with serve(fleet.path, refresh_s=600) as url:
        yield url


def _settled(page: object, marker: str) -> None:
    page.get_by_text(marker).first.wait_for(timeout=30_000)  # type: ignore[attr-defined]
    # Streamlit marks the app root when a script run is over; skeletons and stale (greyed)
    # elements mean a run or a fragment is still drawing.
    page.wait_for_function(  # type: ignore[attr-defined]
        """() => document.querySelector(
                '[data-testid="stApp"][data-test-script-state="notRunning"]')
            && !document.querySelector('[data-testid="stSkeleton"]')
            && !document.querySelector('[data-stale="true"]')""",
        timeout=30_000,
    )


def test_every_page_renders_in_chromium_and_is_screenshotted(console, browser, shots) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 2000})  # type: ignore[attr-defined]
    for path, marker in PAGES.items():
        page.goto(f"{console}/{path}")
        _settled(page, marker)
        assert page.locator('[data-testid="stException"]').count() == 0, path
        name = path.split("?")[0] or "overview"
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        assert (shots / f"{name}.png").stat().st_size > 10_000
    page.close()


def test_the_overview_charts_are_drawn_and_a_site_page_opens_from_the_search(
    console, browser, shots
) -> None:
    """The charts are server-drawn SVG: Streamlit's sanitisers must keep them (st.html drops
    inline SVG, so the map is an image and the bars go through Markdown)."""
    page = browser.new_page(viewport={"width": 1440, "height": 2000})  # type: ignore[attr-defined]
    page.goto(console + "/")
    _settled(page, "Regions at a glance")
    img = page.locator('img[alt="sites by worst status"]')
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.querySelector('img[alt=\"sites by worst status\"]')?.naturalWidth > 0",
        timeout=10_000,
    )
    box = img.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 150
    bars = page.locator('svg[aria-label="new outages per day"] rect title')
    assert bars.count() > 0
    # From the map to a store that is down.
    down = page.locator('a[href^="/detail?id=S"]').first
    href = down.get_attribute("href")
    assert href is not None
    assert down.get_attribute("target") == "_blank"  # Streamlit's Markdown links: a new tab
    with page.context.expect_page() as opened:
        down.click()
    site_page = opened.value
    _settled(site_page, "Gateways and terminals")
    assert site_page.get_by_text(f"site {href.split('=')[1]}").count() > 0
    site_page.close()
    # A store, from the search box to its page.
    site = "S000001"
    page.get_by_label("Search id, serial or merchant").fill(site)
    page.keyboard.press("Enter")
    page.get_by_role("link", name=f"site {site}").first.click()
    _settled(page, "Gateways and terminals")
    assert page.get_by_text(f"site {site}").count() > 0
    page.screenshot(path=str(shots / "site.png"), full_page=True)
    page.close()


def test_operator_logs_in_and_acknowledges_in_the_browser(console, browser, fleet, shots) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 2000})  # type: ignore[attr-defined]
    page.goto(f"{console}/alerts?severity=critical")
    _settled(page, "active alerts match")
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_label("User").fill("olga")
    sidebar.get_by_label("Password", exact=True).fill("correct horse battery")
    sidebar.get_by_role("button", name="Log in").click()
    page.get_by_text("Logged in:").wait_for(timeout=30_000)
    assert "severity=critical" in page.url  # the filter survived the rerun
    page.get_by_label("Note (who is on it, what is known)").fill("browser ack")
    page.get_by_role("button", name="Acknowledge").click()
    page.get_by_text("acknowledge alert: done").wait_for(timeout=30_000)
    page.screenshot(path=str(shots / "alerts-acknowledged.png"), full_page=True)
    conn = store_db.connect(fleet.path)
    try:
        acked = conn.execute(
            "SELECT COUNT(*) FROM alerts WHERE acked_by = 'olga' AND ack_note = 'browser ack'"
        ).fetchone()[0]
    finally:
        conn.close()
    assert acked == 1
    page.close()


def test_page_refreshes_by_itself_and_keeps_the_filter_in_the_url(browser, fleet) -> None:
    with serve(fleet.path, refresh_s=1) as url:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})  # type: ignore[attr-defined]
        page.goto(f"{url}/alerts?severity=critical")
        _settled(page, "active alerts match")
        assert page.get_by_text("GWX-ROGUE1").count() == 0
        conn = store_db.connect(fleet.path)
        try:
            with conn:  # what the alert engine would write while the NOC watches
                conn.execute(
                    "INSERT INTO alerts (kind, subject_type, subject_id, severity, state, "
                    "region_id, gateway_id, summary, started_at, fired_at) VALUES ('gateway_down',"
                    " 'gateway', 'GWX-ROGUE1', 'critical', 'firing', 'R01', 'GWX-ROGUE1',"
                    " 'Gateway GWX-ROGUE1 down (will)', ?, ?)",
                    (to_db(NOW), to_db(NOW)),
                )
        finally:
            conn.close()
        # No reload, no click: the fragment's own timer brings the new alert in.
        # (glide-data-grid draws on a canvas; its cells live in a hidden accessible table.)
        # The console says it from the alert's fields, on its clock (UTC here).
        text = f"Gateway GWX-ROGUE1 (R01) down since {NOW:%Y-%m-%d %H:%M}"
        page.get_by_text(text).wait_for(state="attached", timeout=20_000)
        assert page.url.endswith("/alerts?severity=critical")
        page.close()


def test_hostile_store_strings_show_as_text_on_the_detail_pages(browser, fleet) -> None:
    """Telemetry, inventory and operator strings written through their real paths
    (tests/dashboard/hostile.py) never become a link, bold text, a tag or a script."""
    import hostile

    hostile.plant(fleet)
    with serve(fleet.path, refresh_s=600) as url:
        page = browser.new_page(viewport={"width": 1440, "height": 2000})  # type: ignore[attr-defined]
        for ident, literal in [
            (fleet.gateway_ids[0], hostile.FIRMWARE),
            (fleet.terminal_ids[0], hostile.TERMINAL_FIRMWARE),
            (hostile.SITE, hostile.SITE_NAME),
        ]:
            page.goto(f"{url}/detail?id={ident}")
            _settled(page, "Gateways and terminals" if ident == hostile.SITE else "Firmware")
            assert page.locator('[data-testid="stException"]').count() == 0, ident
            links = page.locator('a[href*="evil"], a[href^="javascript"]')
            assert links.count() == 0, [
                links.nth(i).evaluate("e => e.outerHTML") for i in range(links.count())
            ]
            assert (
                page.locator("b, strong, em, h1, li, del, code").filter(has_text="PWNED").count()
                == 0
            ), ident
            assert page.locator('img[src="x"], svg[onload]').count() == 0, ident
            assert not page.evaluate(  # type: ignore[attr-defined]
                "() => [...document.scripts].some(s => s.textContent.includes('PWNED'))"
            )
            # ... and the viewer reads the very characters that were sent (the console puts
            # an invisible word joiner inside "://", which GitHub Markdown would link).
            shown = page.evaluate("() => document.body.innerText").replace("\u2060", "")
            assert literal in shown, (ident, literal)
            if ident == fleet.gateway_ids[0]:
                assert f"Suspended: {hostile.REASON}" in shown
        page.close()


@pytest.fixture
def shanghai(fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    """The console started with POSFLEET_TZ=Asia/Shanghai (after the fleet's UTC default)."""
    monkeypatch.setenv("POSFLEET_TZ", "Asia/Shanghai")


def test_the_console_in_chinese_keeps_its_language_across_pages_in_chromium(
    shanghai, console, browser, shots
) -> None:
    """``?lang=zh-CN``: Chinese text, Beijing time, and the language still in the URL after a
    page switch through the navigation (Streamlit drops a page's parameters there). The
    screenshots need a CJK font to be readable (Debian: fonts-wqy-microhei)."""
    page = browser.new_page(viewport={"width": 1440, "height": 2000})  # type: ignore[attr-defined]
    page.goto(f"{console}/?lang=zh-CN")
    _settled(page, "各区域概况")
    assert page.title() == "posfleet 监控中心"
    assert page.get_by_text("今日可用率").count() == 1
    assert page.locator('img[alt="门店最差状态分布图"]').count() == 1
    # The store's clock is 09:00 UTC: 17:00 in Shanghai, the zone said once.
    assert page.get_by_text("截至 2026-11-22 17:00（Asia/Shanghai (CST, UTC+08:00)）").count() == 1
    page.screenshot(path=str(shots / "overview-zh-CN.png"), full_page=True)
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.get_by_role("link", name="告警").click()
    _settled(page, "条活动告警符合条件")
    assert "lang=zh-CN" in page.url
    assert page.locator("h1", has_text="告警").count() == 1
    page.screenshot(path=str(shots / "alerts-zh-CN.png"), full_page=True)
    page.close()
