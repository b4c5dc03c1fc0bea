"""Fixtures for the console tests: a seeded store and an AppTest per page.

``fleet`` is built on each backend (``store_url``: an SQLite file, then a PostgreSQL
database), so every test that reads or renders it runs on both engines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from collector.store import db
from collector.store.times import to_db
from dashboard.auth import add_user
from simulators.stack.seeded_store import NOW, Fleet, build_store

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PASSWORD = "correct horse battery"


@pytest.fixture
def fleet(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Fleet:
    built = build_store(store_url if db.is_postgres(store_url) else Path(store_url))
    conn = db.connect(built.path)
    try:
        add_user(conn, "olga", "operator", PASSWORD, NOW)
        add_user(conn, "vic", "viewer", PASSWORD, NOW)
        add_user(conn, "ada", "admin", PASSWORD, NOW)
    finally:
        conn.close()
    monkeypatch.setenv("POSFLEET_DB", str(built.path))
    monkeypatch.setenv("POSFLEET_DASHBOARD_NOW", to_db(NOW))
    # The console's defaults, whatever the developer's shell says: English, times in UTC.
    monkeypatch.delenv("POSFLEET_LANG", raising=False)
    monkeypatch.setenv("POSFLEET_TZ", "UTC")
    return built


@pytest.fixture
def open_page(fleet: Fleet) -> Callable[..., AppTest]:
    """Run the app, switch to ``page`` with ``query`` params, optionally logged in."""

    def _open(page: str, query: dict[str, str] | None = None, login: str = "") -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=30)
        at.run()
        assert not at.exception, at.exception
        if login:
            at.sidebar.text_input(key="login_user").input(login)
            at.sidebar.text_input(key="login_password").input(PASSWORD)
            at.sidebar.button[0].click()  # the form's submit button
            at.run()
            assert not at.exception, at.exception
        if query:
            at.query_params.update(query)
        if page != "views/overview.py" or query:
            at.switch_page(page)
            at.run()
        assert not at.exception, at.exception
        return at

    return _open
