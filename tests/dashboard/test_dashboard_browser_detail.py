"""The device page in Chromium: after a recovery, its header follows its timeline without a
reload (one source of truth per page: both come from one fresh read every refresh)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from test_dashboard_browser import _settled, serve

from collector.store import db as store_db
from collector.store.times import to_db
from simulators.stack.seeded_store import NOW

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """SQLite only: Chromium is the costly part here, and the pages' reads run on both
    engines in the AppTest modules (test_dashboard_pages.py)."""
    return str(tmp_path / "posfleet.sqlite")


def _status(page: object) -> object:
    label = page.locator(  # type: ignore[attr-defined]
        '[data-testid="stMetricLabel"]', has_text=re.compile(r"^\s*Status\s*$")
    )
    metric = page.locator('[data-testid="stMetric"]', has=label)  # type: ignore[attr-defined]
    return metric.locator('[data-testid="stMetricValue"]')


def test_the_header_follows_a_recovery_without_a_reload(browser, fleet) -> None:
    with serve(fleet.path, refresh_s=1) as url:
        page = browser.new_page(viewport={"width": 1440, "height": 1400})  # type: ignore[attr-defined]
        page.goto(f"{url}/detail?id=GW000000")  # the fleet's gateway that is always down
        _settled(page, "Status timeline (30 days)")
        assert _status(page).inner_text().strip() == "down"
        back = NOW - timedelta(minutes=1)
        conn = store_db.connect(fleet.path)
        try:
            with conn:  # what the collector writes when the gateway's birth arrives
                conn.execute(
                    "UPDATE gateways SET status = 'online', status_since = ?, "
                    "status_reason = 'birth' WHERE gateway_id = 'GW000000'",
                    (to_db(back),),
                )
                conn.execute(
                    "INSERT INTO state_changes (subject_type, subject_id, from_status, "
                    "to_status, at, reason) VALUES ('gateway', 'GW000000', 'down', 'online', "
                    "?, 'recovery-marker')",
                    (to_db(back),),
                )
        finally:
            conn.close()
        # No reload: the fragment's timer brings the new timeline row in ...
        page.get_by_text("recovery-marker").wait_for(state="attached", timeout=20_000)
        # ... and the header above it says the same, on the same refresh or the next.
        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m =>
                m.querySelector('[data-testid="stMetricLabel"]')?.innerText.trim() === 'Status'
                && m.querySelector('[data-testid="stMetricValue"]')?.innerText.trim()
                   === 'online')""",
            timeout=10_000,
        )
        assert page.url.endswith("/detail?id=GW000000")
        page.close()
