"""Login throttling, per account and per client, kept in the store.

Kept in the store (``login_failures``), not in a process: a console restart forgets
nothing, and several console processes behind one address share one count.

The rule (``LoginPolicy``): ``free`` wrong passwords in a row cost nothing; each one after
that locks the key for ``base_delay * 2**(failures - free)`` (capped at ``max_delay``)
from the last failure. A locked key's attempts are refused without looking at the password
(so the right password does not get in either) and are not counted: the lock ends on its
own, so an attacker cannot keep a colleague locked out for longer than ``max_delay`` at a
time. The count is forgotten ``forget_after`` after the last failure, or at a success.

Keys: ``user:<name>`` for accounts that exist (a name that does not exist creates
nothing), and ``client:<address>`` for where the attempt came from, whatever name it typed.

The check and the count are two steps around a 50 ms scrypt (no write lock is held over it):
attempts racing in at the moment a lock begins may each still be checked, at most one per
concurrent session, which does not change what a guesser can do in an hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from collector.store.db import Connection
from collector.store.times import from_db, to_db


@dataclass(frozen=True)
class LoginPolicy:
    free: int = 5
    base_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=1)

    def locked_until(self, failures: int, last: datetime) -> datetime | None:
        """When a key with ``failures`` in a row, the last at ``last``, may try again."""
        if failures < self.free:
            return None
        exponent = min(failures - self.free, 30)  # 2**30 x 30 s is far past any cap
        return last + min(self.base_delay * (1 << exponent), self.max_delay)


def user_key(name: str) -> str:
    return f"user:{name}"


def client_key(address: str) -> str:
    return f"client:{address}"


def locked_until(
    conn: Connection, keys: list[str], now: datetime, policy: LoginPolicy
) -> datetime | None:
    """The latest lock among ``keys`` still in force at ``now``, or None."""
    until: datetime | None = None
    for key in keys:
        row = conn.execute(
            "SELECT failures, last_at FROM login_failures WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            continue
        last = from_db(row[1])
        if now - last >= policy.forget_after:
            continue
        lock = policy.locked_until(int(row[0]), last)
        if lock is not None and lock > now and (until is None or lock > until):
            until = lock
    return until


def record_failure(conn: Connection, keys: list[str], now: datetime, policy: LoginPolicy) -> int:
    """Count one wrong password against each key (one statement each, so concurrent
    consoles add up); returns the highest count in a row among them."""
    forget = to_db(now - policy.forget_after)
    worst = 0
    for key in keys:
        (failures,) = conn.execute(
            "INSERT INTO login_failures (key, failures, last_at) VALUES (?, 1, ?) "
            "ON CONFLICT(key) DO UPDATE SET last_at = excluded.last_at, failures = "
            "CASE WHEN login_failures.last_at <= ? THEN 1 ELSE login_failures.failures + 1 END "
            "RETURNING failures",
            (key, to_db(now), forget),
        ).fetchone()
        worst = max(worst, int(failures))
    # Bounded: what nobody would remember any more goes (any client address can write here).
    conn.execute("DELETE FROM login_failures WHERE last_at <= ?", (forget,))
    return worst


def clear(conn: Connection, keys: list[str]) -> None:
    conn.executemany("DELETE FROM login_failures WHERE key = ?", [(k,) for k in keys])
