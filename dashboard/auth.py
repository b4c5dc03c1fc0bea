"""Console users: salted scrypt password hashes in the ``users`` table (stdlib only)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
from datetime import datetime

from collector.actions import Actor, InvalidAction, Role
from collector.store.times import to_db

# scrypt cost: ~50 ms per login on a small server, 16 MiB of memory per attempt, which makes
# offline guessing of a stolen users table expensive without making the login feel slow.
_N, _R, _P = 2**14, 8, 1
MIN_PASSWORD = 8


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
    conn: sqlite3.Connection, name: str, role: str, password: str, now: datetime, by: str = "cli"
) -> None:
    """Create or replace a user (password and role); audited."""
    parsed = Role.parse(role)
    if not name.strip():
        raise InvalidAction("a user needs a name")
    if len(password) < MIN_PASSWORD:
        raise InvalidAction(f"password too short: at least {MIN_PASSWORD} characters")
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


def authenticate(conn: sqlite3.Connection, name: str, password: str) -> Actor | None:
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


def record_login(conn: sqlite3.Connection, name: str, ok: bool, now: datetime) -> None:
    """Logins and failed attempts land in the audit log too (who could act, and when)."""
    with conn:
        conn.execute(
            "INSERT INTO audit_log (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)",
            (to_db(now), name, "login" if ok else "login.failed", f"user:{name}", "{}"),
        )
