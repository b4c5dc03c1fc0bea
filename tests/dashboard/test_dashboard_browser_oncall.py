"""The On-call page's forms in Chromium (issue #15, item 9): what was typed is gone from the
browser's boxes after a successful save. AppTest cannot see this: a key the server forgot
still shows its old text in the browser, only a value the server sets reaches it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from test_dashboard_browser import _settled, serve

from collector.store import db as store_db

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MARKER = "Next handovers (14 days)"  # the On-call page rendered its data


@pytest.fixture
def store_url(tmp_path: Any) -> str:
    """SQLite only: Chromium is the costly part; the page's reads run on both engines in
    test_dashboard_oncall.py."""
    return str(tmp_path / "posfleet.sqlite")


@pytest.fixture
def console(fleet: Any) -> Iterator[str]:
    with serve(fleet.path, refresh_s=600) as url:
        yield url


def test_the_oncall_forms_are_empty_in_the_browser_after_a_save(console, browser, fleet) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 2000})
    page.goto(f"{console}/oncall")
    _settled(page, MARKER)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_label("User").fill("olga")
    sidebar.get_by_label("Password", exact=True).fill("correct horse battery")
    sidebar.get_by_role("button", name="Log in").click()
    page.get_by_text("Logged in:").wait_for(timeout=30_000)
    _settled(page, MARKER)

    override = page.locator('[data-testid="stForm"]').filter(has_text="Add an override")
    override.get_by_label("Name", exact=True).fill("Qian")
    override.get_by_label("Mobile", exact=True).fill("13900000009")
    override.get_by_label("Note", exact=True).fill("covers the night")
    override.get_by_role("button", name="Add override").click()
    _settled(page, "add override: done")
    conn = store_db.connect(fleet.path)
    try:
        saved = conn.execute("SELECT name, phone, note FROM oncall_overrides").fetchall()
    finally:
        conn.close()
    assert [tuple(r) for r in saved] == [("Qian", "13900000009", "covers the night")]
    # The run that empties the boxes has ended, but React may draw the new values a frame
    # later than the flash: wait for them (a box that keeps its text fails after 10 s).
    for label in ("Name", "Mobile", "Note"):
        expect(override.get_by_label(label, exact=True)).to_have_value("", timeout=10_000)

    rotation = page.locator('[data-testid="stForm"]').filter(has_text="Set a rotation")
    members = rotation.get_by_label("People in order, one per line: name, mobile, chat user id")
    members.fill("Ma, 13900000001\nNiu, 13900000002")
    rotation.get_by_role("button", name="Save rotation").click()
    _settled(page, "set rotation: done")
    expect(members).to_have_value("", timeout=10_000)
    # The zone keeps its value: an empty zone would be the next save's mistake.
    assert rotation.get_by_label("Time zone", exact=True).input_value() == "Asia/Shanghai"
    page.close()
