"""A login survives reloads and shared links in the same browser (issue #15, item 8):
``posfleet-dashboard`` served over HTTP, driven by Debian's Chromium, the session cookie
written by the console and sent back by the browser."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from test_dashboard_browser import _settled, serve

from collector.store import db as store_db
from dashboard import session
from simulators.stack.seeded_store import NOW
from simulators.stack.wait import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "a secret for this test only, 32+ characters"
MARKER = "active alerts match"  # the Alerts page rendered its data


def _rows(db: Any, sql: str) -> list[tuple[Any, ...]]:
    conn = store_db.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _cookie(context: Any) -> str | None:
    found = [c["value"] for c in context.cookies() if c["name"] == session.COOKIE]
    return found[0] if found else None


def _who(page: Any, url: str) -> str:
    """Who the sidebar says is logged in after the page settled, or '' (the login form)."""
    page.goto(url)
    _settled(page, MARKER)
    sidebar = page.locator('[data-testid="stSidebar"]')
    if sidebar.get_by_role("button", name="Log in").count():
        return ""
    text = sidebar.get_by_text("Logged in:").first.inner_text()
    return str(text)


def _log_in(page: Any, url: str, name: str) -> None:
    page.goto(url)
    _settled(page, MARKER)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_label("User").fill(name)
    sidebar.get_by_label("Password", exact=True).fill("correct horse battery")
    sidebar.get_by_role("button", name="Log in").click()
    page.get_by_text("Logged in:").wait_for(timeout=30_000)


def test_a_login_survives_a_reload_and_a_shared_link_and_is_audited_once(
    fleet, browser, monkeypatch
) -> None:
    monkeypatch.setenv("POSFLEET_DASHBOARD_SECRET", SECRET)
    with serve(fleet.path, refresh_s=600) as url:
        context = browser.new_context(viewport={"width": 1440, "height": 1200})
        page = context.new_page()
        _log_in(page, f"{url}/alerts", "olga")
        wait_for(lambda: _cookie(context) is not None, 10, what="the session cookie")
        token = _cookie(context)
        assert "Logged in: olga (operator)" in _who(page, f"{url}/alerts")  # a reload
        page.reload()
        _settled(page, MARKER)
        assert page.get_by_text("Logged in:").count() == 1
        # A link shared in the NOC chat, opened in a new tab of the same browser.
        shared = context.new_page()
        assert "olga" in _who(shared, f"{url}/alerts?severity=critical")
        shared.close()
        # Three page loads, one login.
        assert _rows(fleet.path, "SELECT actor FROM audit_log WHERE action = 'login'") == [
            ("olga",)
        ]
        # Log out: audited, the cookie is gone, a reload stays logged out...
        page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Log out").click()
        page.get_by_role("button", name="Log in").wait_for(timeout=30_000)
        assert _rows(fleet.path, "SELECT actor FROM audit_log WHERE action = 'logout'") == [
            ("olga",)
        ]
        wait_for(lambda: _cookie(context) is None, 10, what="the cookie deleted")
        assert _who(page, f"{url}/alerts") == ""
        # ... and a copy of the old cookie (another browser, a stolen one) no longer works.
        context.add_cookies([{"name": session.COOKIE, "value": str(token), "url": url}])
        assert _who(page, f"{url}/alerts") == ""
        context.close()


def _forge(token: str, **changes: Any) -> str:
    body, sig = token.split(".")
    raw = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw.update(changes)
    new = base64.urlsafe_b64encode(json.dumps(raw).encode()).rstrip(b"=").decode()
    return f"{new}.{sig}"


def test_tampered_idle_and_expired_cookies_lead_to_the_login_form(
    fleet, browser, monkeypatch
) -> None:
    monkeypatch.setenv("POSFLEET_DASHBOARD_SECRET", SECRET)
    monkeypatch.setenv("POSFLEET_DASHBOARD_IDLE_TIMEOUT_S", "3600")
    conn = store_db.connect(fleet.path)
    try:

        def token_from(when: Any) -> str:
            started = session.start(conn, "olga", when, SECRET)
            assert isinstance(started, session.Session)
            return started.token

        fresh = token_from(NOW - timedelta(minutes=30))
        idle = token_from(NOW - timedelta(minutes=61))
    finally:
        conn.close()
    cases = {
        "fresh": (fresh, True),
        "idle for 61 min": (idle, False),
        "made an admin": (_forge(fresh, u="ada"), False),
        "seen moved forward": (_forge(idle, seen=int(NOW.timestamp())), False),
        "garbage": ("not.a-token", False),
    }
    with serve(fleet.path, refresh_s=600) as url:
        for case, (value, accepted) in cases.items():
            context = browser.new_context(viewport={"width": 1440, "height": 1200})
            context.add_cookies([{"name": session.COOKIE, "value": value, "url": url}])
            who = _who(context.new_page(), f"{url}/alerts")
            assert ("Logged in: olga" in who) is accepted, (case, who)
            if not accepted:  # the console deletes a cookie it refused
                wait_for(lambda c=context: _cookie(c) is None, 10, what=f"{case} cleared")
            context.close()
    assert _rows(fleet.path, "SELECT COUNT(*) FROM audit_log WHERE action = 'login'") == [(0,)]
