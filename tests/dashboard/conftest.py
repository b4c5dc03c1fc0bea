"""Fixtures for the console tests: a seeded store and an AppTest per page; for the tests in
Chromium, the browser and the store the real collector wrote (tests/support/shift.py).

``fleet`` is built on each backend (``store_url``: an SQLite file, then a PostgreSQL
database), so every test that reads or renders it runs on both engines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from support import shift
from support.console import CHROMIUM, chromium
from support.services import missing

from collector.store import db
from collector.store.times import to_db
from dashboard.auth import add_user
from simulators.broker import BrokerError, MosquittoProcess, find_mosquitto
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


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, one per test."""
    if not Path(CHROMIUM).exists():
        missing(CHROMIUM)
    with chromium() as b:
        yield b


@pytest.fixture(scope="session")
def fleet_store(tmp_path_factory: pytest.TempPathFactory) -> shift.FleetStore:
    """The store a real collector wrote from a simulated fleet over a real Mosquitto, built
    once: each test works on its own ``copy``."""
    if find_mosquitto() is None:
        missing("mosquitto")
    work = tmp_path_factory.mktemp("shift-fleet")
    try:
        broker = MosquittoProcess(workdir=work / "mosquitto").start()
    except BrokerError as exc:
        pytest.fail(str(exc))
    try:
        return shift.build_store(work, broker)
    finally:
        broker.close()
