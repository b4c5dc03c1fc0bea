"""Console sessions that survive a reload or a shared link: a signed, expiring token.

A login issues a token, kept by the browser in the ``posfleet_session`` cookie::

    base64url(JSON claims) "." base64url(HMAC-SHA256(secret, JSON claims))

Claims: ``u`` the user, ``iat`` when they logged in, ``seen`` their last activity (the token
is re-issued as they use the console), ``k`` a binding to the account as it stands: an HMAC
of the user's password hash and session generation. A token is refused when its signature
does not match (tampered), when ``seen + idle`` or ``iat + max_age`` has passed, when the
user no longer exists, and when ``k`` no longer matches: a password reset (``add-user``) or a
logout (which bumps the generation) ends every session of that user, in every browser.

The secret: ``POSFLEET_DASHBOARD_SECRET`` (or ``..._SECRET_FILE``), else one generated at the
first login and kept in the store's ``meta`` table (key ``dashboard_session_secret``), so
every console process on that store shares it and a restart keeps everyone logged in.

Pure functions (``sign``, ``read``, ``check``) and thin store reads/writes; no Streamlit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from collector.actions import Actor, Role
from collector.store.db import Connection

COOKIE = "posfleet_session"
SECRET_KEY = "dashboard_session_secret"
# Activity moves ``seen`` forward at most this often: the cookie is not rewritten on every
# click, and the idle timeout is exact to within this.
REFRESH = timedelta(minutes=1)
_TOKEN_MAX = 2048  # a cookie value longer than this is not ours


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = timedelta(hours=8)  # one shift without a page load or an action
    max_age: timedelta = timedelta(hours=12)  # a shift and its handover, whatever happens


@dataclass(frozen=True)
class Claims:
    user: str
    issued_at: datetime
    seen: datetime
    key: str


@dataclass(frozen=True)
class Rejected:
    reason: str  # tampered | malformed | idle | expired | unknown_user | revoked | no_secret


@dataclass(frozen=True)
class Session:
    actor: Actor
    claims: Claims
    token: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


def sign(secret: bytes, claims: Claims) -> str:
    body = json.dumps(
        {
            "u": claims.user,
            "iat": _epoch(claims.issued_at),
            "seen": _epoch(claims.seen),
            "k": claims.key,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    return f"{_b64(body)}.{_b64(hmac.new(secret, body, hashlib.sha256).digest())}"


def read(secret: bytes, token: str) -> Claims | Rejected:
    """The claims of a token signed with ``secret``; the signature is checked before the
    body is parsed."""
    if len(token) > _TOKEN_MAX or token.count(".") != 1:
        return Rejected("malformed")
    body_text, sig_text = token.split(".")
    try:
        body, sig = _unb64(body_text), _unb64(sig_text)
    except ValueError:
        return Rejected("malformed")
    if not hmac.compare_digest(sig, hmac.new(secret, body, hashlib.sha256).digest()):
        return Rejected("tampered")
    try:
        raw = json.loads(body)
        return Claims(
            user=str(raw["u"]),
            issued_at=datetime.fromtimestamp(int(raw["iat"]), UTC),
            seen=datetime.fromtimestamp(int(raw["seen"]), UTC),
            key=str(raw["k"]),
        )
    except (ValueError, KeyError, TypeError, OverflowError):
        return Rejected("malformed")


def check(claims: Claims, now: datetime, policy: SessionPolicy) -> Rejected | None:
    """Expiry only (pure): absolute age from the login, idle time from the last activity."""
    if now >= claims.issued_at + policy.max_age:
        return Rejected("expired")
    if now >= claims.seen + policy.idle:
        return Rejected("idle")
    return None


def account_key(secret: bytes, password_hash: str, generation: int) -> str:
    """Binds a token to the account as it stands: changes with the password and at logout."""
    mac = hmac.new(secret, f"{password_hash}|{generation}".encode(), hashlib.sha256)
    return _b64(mac.digest()[:16])


# ------------------------------------------------------------------ store
def _generation_key(user: str) -> str:
    return f"dashboard_session_gen:{user}"


def stored_secret(conn: Connection, configured: str | None) -> bytes | None:
    """The signing secret: the configured one, else the store's (None: no login yet)."""
    if configured:
        return configured.encode()
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (SECRET_KEY,)).fetchone()
    return str(row[0]).encode() if row else None


def ensure_secret(conn: Connection, configured: str | None) -> bytes:
    """``stored_secret``, generating and keeping one at the first login (two consoles
    racing here keep the first one written)."""
    if configured:
        return configured.encode()
    with conn:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
            (SECRET_KEY, secrets.token_urlsafe(32)),
        )
    found = stored_secret(conn, None)
    assert found is not None  # written just above, or by a racing console
    return found


def _account(conn: Connection, user: str) -> tuple[Role, str, int] | None:
    row = conn.execute(
        "SELECT role, password_hash FROM users WHERE username = ?", (user,)
    ).fetchone()
    if row is None:
        return None
    gen = conn.execute("SELECT value FROM meta WHERE key = ?", (_generation_key(user),)).fetchone()
    return Role.parse(row[0]), str(row[1]), int(gen[0]) if gen else 0


def start(conn: Connection, user: str, now: datetime, configured: str | None) -> Session | Rejected:
    """A new session for ``user``, who has just proved who they are (``auth.login``)."""
    secret = ensure_secret(conn, configured)
    account = _account(conn, user)
    if account is None:
        return Rejected("unknown_user")
    role, password_hash, gen = account
    at = now.astimezone(UTC).replace(microsecond=0)
    claims = Claims(user, at, at, account_key(secret, password_hash, gen))
    return Session(Actor(user, role), claims, sign(secret, claims))


def resume(
    conn: Connection,
    token: str,
    now: datetime,
    policy: SessionPolicy,
    configured: str | None,
) -> Session | Rejected:
    """The session a token stands for at ``now``, with the user's current role; its token is
    re-issued with ``seen = now`` when the last one is older than ``REFRESH``."""
    secret = stored_secret(conn, configured)
    if secret is None:
        return Rejected("no_secret")
    claims = read(secret, token)
    if isinstance(claims, Rejected):
        return claims
    expired = check(claims, now, policy)
    if expired is not None:
        return expired
    account = _account(conn, claims.user)
    if account is None:
        return Rejected("unknown_user")
    role, password_hash, gen = account
    if not hmac.compare_digest(claims.key, account_key(secret, password_hash, gen)):
        return Rejected("revoked")
    if now - claims.seen >= REFRESH:
        claims = replace(claims, seen=now.astimezone(UTC).replace(microsecond=0))
        token = sign(secret, claims)
    return Session(Actor(claims.user, role), claims, token)


def end_all(conn: Connection, user: str) -> None:
    """Every token of ``user`` stops working (logout): the session generation moves on.
    Inside the caller's transaction."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE SET "
        "value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)",
        (_generation_key(user),),
    )
