"""Console sessions (issue #15, item 8): a signed, expiring token, checked against the store.

The token rules on their own, then the console through AppTest with its clock moved
(``POSFLEET_DASHBOARD_NOW``). Reloads and shared links, which need a browser's cookie, are
in test_dashboard_browser_session.py."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from collector.store import db as store_db
from collector.store.times import to_db
from dashboard import session
from dashboard.auth import add_user, remove_user
from dashboard.session import Claims, Rejected, SessionPolicy
from simulators.stack.seeded_store import NOW

# As in tests/dashboard/conftest.py (a test module must not import "conftest": in a whole run
# that name is whichever conftest.py was imported first).
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:altair.*")

SECRET = b"k" * 32
POLICY = SessionPolicy(idle=timedelta(hours=8), max_age=timedelta(hours=12))


def _claims(**kw: Any) -> Claims:
    return Claims(**{"user": "olga", "issued_at": NOW, "seen": NOW, "key": "abc", **kw})


def test_a_token_reads_back_and_any_change_to_it_is_refused() -> None:
    token = session.sign(SECRET, _claims())
    assert session.read(SECRET, token) == _claims()
    body, sig = token.split(".")
    raw = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw["u"] = "ada"  # an operator making herself admin
    forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).rstrip(b"=").decode()
    assert session.read(SECRET, f"{forged}.{sig}") == Rejected("tampered")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    assert session.read(SECRET, f"{body}.{flipped}") == Rejected("tampered")
    assert session.read(b"another secret", token) == Rejected("tampered")
    for junk in ("", "nodot", "a.b.c", "!!!.???", "x" * 5000):
        assert isinstance(session.read(SECRET, junk), Rejected), junk


def test_a_token_ends_after_the_idle_time_and_after_its_absolute_age() -> None:
    fresh = _claims(seen=NOW + timedelta(hours=7))
    assert session.check(fresh, NOW + timedelta(hours=11, minutes=59), POLICY) is None
    assert session.check(fresh, NOW + timedelta(hours=12), POLICY) == Rejected("expired")
    idle = _claims()
    assert session.check(idle, NOW + timedelta(hours=7, minutes=59), POLICY) is None
    assert session.check(idle, NOW + timedelta(hours=8), POLICY) == Rejected("idle")


# ------------------------------------------------------------------ the console
def _log_in(at: AppTest, name: str = "olga") -> AppTest:
    at.sidebar.text_input(key="login_user").input(name)
    at.sidebar.text_input(key="login_password").input(PASSWORD)
    at.sidebar.button[0].click().run()
    assert not at.exception, at.exception
    return at


def _logged_in(at: AppTest) -> str | None:
    shown = [m.value for m in at.sidebar.markdown if m.value.startswith("Logged in:")]
    return shown[0] if shown else None


def _at(monkeypatch: pytest.MonkeyPatch, when: Any) -> None:
    monkeypatch.setenv("POSFLEET_DASHBOARD_NOW", to_db(when))


def _audit(fleet: Any, action: str) -> list[tuple[str, str]]:
    conn = store_db.connect(fleet.path)
    try:
        return conn.execute(
            "SELECT actor, subject FROM audit_log WHERE action = ? ORDER BY id", (action,)
        ).fetchall()
    finally:
        conn.close()


@pytest.fixture
def app(fleet: Any) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def test_the_console_logs_out_after_eight_idle_hours(app, fleet, monkeypatch) -> None:
    _log_in(app)
    assert _logged_in(app) == "Logged in: **olga** (operator)"
    _at(monkeypatch, NOW + timedelta(hours=7))  # used after 7 h: still in, activity noted
    app.run()
    assert _logged_in(app)
    _at(monkeypatch, NOW + timedelta(hours=14, minutes=59))  # 7 h 59 min idle since
    app.switch_page("views/alerts.py").run()
    assert not _logged_in(app), "12 h after the login the session is over, active or not"
    assert any("session ended" in i.value for i in app.sidebar.info)


def test_an_idle_session_cannot_act_any_more(app, fleet, monkeypatch) -> None:
    _log_in(app)
    _at(monkeypatch, NOW + timedelta(hours=8))
    app.run()
    assert not _logged_in(app)
    assert any("session ended" in i.value for i in app.sidebar.info)
    assert app.sidebar.text_input(key="login_user")  # the login form again
    assert _audit(fleet, "login") == [("olga", "user:olga")]


def test_logout_is_audited_and_the_token_stops_working_everywhere(app, fleet) -> None:
    _log_in(app)
    token = app.session_state["session_token"]
    conn = store_db.connect(fleet.path)
    try:
        assert isinstance(session.resume(conn, token, NOW, POLICY, None), session.Session)
        next(b for b in app.sidebar.button if b.label == "Log out").click().run()
        assert not _logged_in(app)
        assert _audit(fleet, "logout") == [("olga", "user:olga")]
        # A copy of the cookie (another tab, another browser) is dead too.
        assert session.resume(conn, token, NOW, POLICY, None) == Rejected("revoked")
        _log_in(app)  # and she can log in again at once
        assert _logged_in(app)
        assert _audit(fleet, "login") == [("olga", "user:olga"), ("olga", "user:olga")]
    finally:
        conn.close()


def test_a_removed_user_or_a_reset_password_ends_the_session(app, fleet) -> None:
    _log_in(app, "vic")
    conn = store_db.connect(fleet.path)
    try:
        remove_user(conn, "vic", NOW)
    finally:
        conn.close()
    app.run()
    assert not _logged_in(app)
    _log_in(app, "olga")
    assert _logged_in(app)
    conn = store_db.connect(fleet.path)
    try:
        add_user(conn, "olga", "operator", PASSWORD + " new", NOW)  # the reset command
    finally:
        conn.close()
    app.run()
    assert not _logged_in(app)


def test_a_role_change_applies_to_an_open_session(app, fleet) -> None:
    _log_in(app, "vic")
    conn = store_db.connect(fleet.path)
    try:
        with conn:  # the password hash stays: the session goes on, with the new role
            conn.execute("UPDATE users SET role = 'operator' WHERE username = 'vic'")
    finally:
        conn.close()
    app.run()
    assert _logged_in(app) == "Logged in: **vic** (operator)"


def test_the_secret_is_kept_in_the_store_unless_configured(fleet, monkeypatch) -> None:
    conn = store_db.connect(fleet.path)
    try:
        assert session.stored_secret(conn, None) is None  # nobody has logged in
        first = session.ensure_secret(conn, None)
        assert len(first) >= 32
        assert session.ensure_secret(conn, None) == first  # one per store
        assert session.ensure_secret(conn, "from-env") == b"from-env"
        started = session.start(conn, "olga", NOW, "from-env")
        assert isinstance(started, session.Session)
        # A token signed with the configured secret is not one of the store's.
        assert session.resume(conn, started.token, NOW, POLICY, None) == Rejected("tampered")
    finally:
        conn.close()
