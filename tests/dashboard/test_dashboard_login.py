"""Console logins: throttled per account and per client in the store, failed attempts audited
as attempts, passwords of at least 12 characters."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from collector.actions import InvalidAction
from collector.store import db
from dashboard.auth import add_user, login
from dashboard.throttle import LoginPolicy
from simulators.stack.seeded_store import NOW, apply_schema

PW = "correct horse battery"
POLICY = LoginPolicy()  # 5 free, then 30 s, 60 s, ... up to 15 min


@pytest.fixture
def conn(store_url):
    c = db.connect(store_url)
    apply_schema(c)
    add_user(c, "olga", "operator", PW, NOW)
    add_user(c, "vic", "viewer", PW, NOW)
    try:
        yield c
    finally:
        c.close()


def _audit(conn: db.Connection, action: str) -> list[tuple[str, str, dict[str, object]]]:
    rows = conn.execute(
        "SELECT actor, subject, details FROM audit_log WHERE action = ? ORDER BY id", (action,)
    ).fetchall()
    return [(a, s, json.loads(d)) for a, s, d in rows]


def test_25_wrong_passwords_then_the_right_one_does_not_log_in(conn) -> None:
    for i in range(25):
        assert login(conn, "olga", f"guess number {i}", "10.0.0.9", NOW).actor is None
    refused = login(conn, "olga", PW, "10.0.0.9", NOW + timedelta(seconds=1))
    assert refused.actor is None
    assert not refused.checked  # the password was not even looked at
    assert refused.locked_until == NOW + timedelta(seconds=30)  # 5th failure: 30 s
    # Refused attempts were not counted: the lock ends when it said, and then she is in.
    assert login(conn, "olga", PW, "10.0.0.9", NOW + timedelta(seconds=30)).actor is not None


def test_the_lock_doubles_with_each_failure_and_is_capped(conn) -> None:
    now = NOW
    for _ in range(5):
        login(conn, "olga", "wrong wrong wrong", "10.0.0.9", now)
    waits = []
    for _ in range(8):
        result = login(conn, "olga", "wrong wrong wrong", "10.0.0.9", now)
        assert result.locked_until is not None
        if result.checked:  # a failure counted: a new, longer lock from now
            waits.append((result.locked_until - now).total_seconds())
        now = result.locked_until
    assert waits == [60, 120, 240, 480, 900, 900, 900]


def test_an_account_is_throttled_whatever_client_tries_it(conn) -> None:
    for i in range(5):
        login(conn, "olga", "wrong wrong wrong", f"10.0.1.{i}", NOW)
    assert login(conn, "olga", PW, "10.0.2.1", NOW).actor is None  # a new address: still no
    assert login(conn, "vic", PW, "10.0.2.1", NOW).actor is not None  # another account: yes


def test_a_client_is_throttled_whatever_names_it_types(conn) -> None:
    for name in ("root", "admin", "olga", "nobody", "ops"):
        login(conn, name, "wrong wrong wrong", "10.0.0.66", NOW)
    assert login(conn, "vic", PW, "10.0.0.66", NOW).actor is None  # this address: no
    assert login(conn, "vic", PW, "10.0.0.7", NOW).actor is not None  # the NOC: yes


def test_the_throttle_lives_in_the_store_for_every_console_process(conn, store_url) -> None:
    for _ in range(5):
        login(conn, "olga", "wrong wrong wrong", "10.0.0.9", NOW)
    other = db.connect(store_url)  # another console process, or this one restarted
    try:
        assert login(other, "olga", PW, "10.0.0.10", NOW).actor is None
    finally:
        other.close()


def test_the_count_is_forgotten_after_an_hour_and_cleared_by_a_success(conn) -> None:
    for _ in range(4):
        login(conn, "olga", "wrong wrong wrong", "10.0.0.9", NOW)
    assert login(conn, "olga", PW, "10.0.0.9", NOW).actor is not None
    for _ in range(4):  # four more in a row: not five, since the success cleared the count
        login(conn, "olga", "wrong wrong wrong", "10.0.0.9", NOW)
    assert login(conn, "olga", PW, "10.0.0.9", NOW).actor is not None
    for _ in range(4):
        login(conn, "vic", "wrong wrong wrong", "10.0.0.8", NOW)
    later = NOW + timedelta(hours=1)
    login(conn, "vic", "wrong wrong wrong", "10.0.0.8", later)  # 1st of a new run, not 5th
    assert login(conn, "vic", PW, "10.0.0.8", later).actor is not None
    assert conn.execute("SELECT count(*) FROM login_failures").fetchone() == (0,)


def test_a_failed_login_is_an_attempt_not_an_action_of_the_name_typed(conn) -> None:
    login(conn, "olga", "wrong wrong wrong", "10.0.0.9", NOW)
    login(conn, "mallory'); DROP TABLE users;--", "x" * 20, "10.0.0.9", NOW)
    failed = _audit(conn, "login.failed")
    assert [(actor, subject) for actor, subject, _ in failed] == [
        ("anonymous", "user:olga"),
        ("anonymous", ""),  # no account of that name: no subject
    ]
    assert failed[1][2]["typed_name"] == "mallory'); DROP TABLE users;--"
    assert failed[1][2]["client"] == "10.0.0.9"
    assert conn.execute("SELECT count(*) FROM audit_log WHERE actor = 'olga'").fetchone() == (0,)
    # An unknown name creates nothing: no user, no throttle row of its own.
    assert conn.execute("SELECT username FROM users ORDER BY 1").fetchall() == [
        ("olga",),
        ("vic",),
    ]
    keys = {k for (k,) in conn.execute("SELECT key FROM login_failures")}
    assert keys == {"user:olga", "client:10.0.0.9"}


def test_the_failure_that_locks_says_until_when(conn) -> None:
    for _ in range(5):
        login(conn, "olga", "wrong wrong wrong", "10.0.0.9", NOW)
    *_, (_, _, details) = _audit(conn, "login.failed")
    assert details["failures_in_a_row"] == 5
    assert details["locked_until"] == "2026-11-22T09:00:30.000000+00:00"


def test_passwords_need_twelve_characters_at_add_user(conn) -> None:
    with pytest.raises(InvalidAction, match=r"11 characters, at least 12"):
        add_user(conn, "ada", "admin", "12345678901", NOW)
    with pytest.raises(InvalidAction, match="at least 12"):
        add_user(conn, "ada", "admin", "12345678", NOW)
    add_user(conn, "ada", "admin", "123456789012", NOW)
    # a password reset is the same command: the same rule
    with pytest.raises(InvalidAction, match="at least 12"):
        add_user(conn, "olga", "operator", "short one", NOW)


def test_anonymous_is_not_a_user_name(conn) -> None:
    with pytest.raises(InvalidAction, match="reserved"):
        add_user(conn, "anonymous", "viewer", PW, NOW)
