"""Console users: salted scrypt password hashes in the ``users`` table (stdlib only); logins
throttled per account and per client (``dashboard.throttle``) and audited."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from collector.actions import Actor, InvalidAction, NotFound, Role
from collector.store.db import Connection
from collector.store.times import to_db
from dashboard import session, throttle
from dashboard.throttle import LoginPolicy

# scrypt cost: ~50 ms per login on a small server, 16 MiB of memory per attempt, which makes
# offline guessing of a stolen users table expensive without making the login feel slow.
_N, _R, _P = 2**14, 8, 1
# NIST SP 800-63B asks for at least 8; 12 keeps a console that can suspend terminals out of
# reach of the common-password lists that online guessing starts with.
MIN_PASSWORD = 12
# The actor of a failed login: the typed name is data, never an actor (see record_attempt).
ANONYMOUS = "anonymous"
TYPED_NAME_MAX = 64


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def add_user(
    conn: Connection, name: str, role: str, password: str, now: datetime, by: str = "cli"
) -> None:
    """Create or replace a user (password and role); audited."""
    parsed = Role.parse(role)
    if not name.strip():
        raise InvalidAction("a user needs a name")
    if name == ANONYMOUS:
        raise InvalidAction(f"{ANONYMOUS!r} is reserved: the audit log's actor of failed logins")
    if len(password) < MIN_PASSWORD:
        raise InvalidAction(
            f"password too short: {len(password)} characters, at least {MIN_PASSWORD} needed "
            "(a passphrase of three or four words is easy to type and hard to guess)"
        )
    with conn:
        conn.execute(
            "INSERT INTO users (username, role, password_hash) VALUES (?, ?, ?) "
            "ON CONFLICT(username) DO UPDATE SET role = excluded.role, "
            "password_hash = excluded.password_hash",
            (name, parsed.label, hash_password(password)),
        )
        conn.execute(
            "INSERT INTO audit_log (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)",
            (to_db(now), by, "user.set", f"user:{name}", json.dumps({"role": parsed.label})),
        )


def authenticate(conn: Connection, name: str, password: str) -> Actor | None:
    row = conn.execute(
        "SELECT role, password_hash FROM users WHERE username = ?", (name,)
    ).fetchone()
    if row is None:
        # Same work as a real check, so a missing user is not told apart by timing.
        verify_password(password, hash_password("x", salt=b"0" * 16))
        return None
    if not verify_password(password, row[1]):
        return None
    return Actor(name=name, role=Role.parse(row[0]))


@dataclass(frozen=True)
class LoginResult:
    actor: Actor | None
    # Set when the attempt was refused, or the failure locked the account or client.
    locked_until: datetime | None = None
    checked: bool = True  # False: refused by the throttle, the password was not looked at


def login(
    conn: Connection,
    name: str,
    password: str,
    client: str,
    now: datetime,
    policy: LoginPolicy | None = None,
) -> LoginResult:
    """One login attempt from ``client`` (its address): throttled, checked, audited."""
    policy = policy or LoginPolicy()
    exists = conn.execute("SELECT 1 FROM users WHERE username = ?", (name,)).fetchone()
    keys = [throttle.client_key(client)] + ([throttle.user_key(name)] if exists else [])
    until = throttle.locked_until(conn, keys, now, policy)
    if until is not None:
        # Not written: the failure that set the lock is audited with its end, and a
        # refused attempt must not let anyone grow the audit log at will.
        return LoginResult(None, until, checked=False)
    actor = authenticate(conn, name, password)  # ~50 ms of scrypt, outside any transaction
    with conn:
        if actor is not None:
            throttle.clear(conn, keys)
            record_login(conn, name, now)
            return LoginResult(actor)
        failures = throttle.record_failure(conn, keys, now, policy)
        until = throttle.locked_until(conn, keys, now, policy)
        record_attempt(conn, name, client, now, failures=failures, locked_until=until)
    return LoginResult(None, until)


def record_attempt(
    conn: Connection,
    typed: str,
    client: str,
    now: datetime,
    *,
    failures: int,
    locked_until: datetime | None,
) -> None:
    """A failed login, as an attempt: the actor is ``anonymous`` (nobody proved who they
    are), the name typed is data (truncated), and a name that is no account's is no
    subject either."""
    exists = conn.execute("SELECT 1 FROM users WHERE username = ?", (typed,)).fetchone()
    details = {
        "typed_name": typed[:TYPED_NAME_MAX],
        "client": client,
        "failures_in_a_row": failures,
        "locked_until": to_db(locked_until) if locked_until else None,
    }
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)",
        (
            to_db(now),
            ANONYMOUS,
            "login.failed",
            f"user:{typed}" if exists else "",
            json.dumps(details, ensure_ascii=False),
        ),
    )


def record_login(conn: Connection, name: str, now: datetime) -> None:
    """A successful login (who could act, and when); failures go through record_attempt."""
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)",
        (to_db(now), name, "login", f"user:{name}", "{}"),
    )


def logout(conn: Connection, name: str, now: datetime) -> None:
    """A logout: every session token of ``name`` stops working (this browser's and any
    other's, ``session.end_all``), audited."""
    with conn:
        session.end_all(conn, name)
        conn.execute(
            "INSERT INTO audit_log (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)",
            (to_db(now), name, "logout", f"user:{name}", "{}"),
        )


def remove_user(conn: Connection, name: str, now: datetime, by: str = "cli") -> None:
    """Delete an account; its open sessions end at their next page load or action."""
    with conn:
        if conn.execute("DELETE FROM users WHERE username = ?", (name,)).rowcount != 1:
            raise NotFound(f"user {name!r} does not exist")
        conn.execute(
            "INSERT INTO audit_log (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)",
            (to_db(now), by, "user.remove", f"user:{name}", "{}"),
        )
