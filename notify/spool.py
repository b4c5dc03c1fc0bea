"""The spool: notifications stored before they are acknowledged to Alertmanager.

One connection, guarded by a lock: the HTTP handler threads write incoming notifications and
acks, the sender thread claims and marks deliveries. SQLite serialises writers anyway; the
lock keeps one Python connection safe across threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from notify import SpoolError
from notify.payload import Notification, idempotency_key, parse

DEDUP_WINDOW_S = 3600.0  # a retry comes within minutes; a repeat_interval reminder after hours


@dataclass(frozen=True)
class Pending:
    delivery_id: int
    inbox_id: int
    channel: str
    attempts: int
    created_at: float
    notification: Notification


@dataclass(frozen=True)
class Stored:
    inbox_id: int
    duplicate: bool
    deliveries: int


class Spool:
    def __init__(self, path: Path) -> None:
        if not path.parent.exists():
            raise SpoolError(
                f"directory {path.parent} of the spool does not exist: create it or set "
                "relay.spool to a path in an existing directory"
            )
        try:
            self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a notification acknowledged to Alertmanager must survive a power cut.
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA busy_timeout=10000")
            self.conn.executescript(
                resources.files("notify").joinpath("spool.sql").read_text(encoding="utf-8")
            )
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot open the spool at {path} ({exc}): fix relay.spool") from exc
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def store(self, n: Notification, raw: bytes, channels: tuple[str, ...], now: float) -> Stored:
        """Write the notification and what each channel is owed, in one transaction."""
        key = idempotency_key(n)
        with self._tx() as c:
            row = c.execute(
                "SELECT id FROM inbox WHERE idem_key = ? AND received_at > ? LIMIT 1",
                (key, now - DEDUP_WINDOW_S),
            ).fetchone()
            if row is not None:
                return Stored(int(row[0]), True, 0)
            inbox_id = int(
                c.execute(
                    "INSERT INTO inbox (idem_key, receiver, status, received_at, payload) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (key, n.receiver, n.status, now, raw.decode("utf-8", "replace")),
                ).lastrowid
                or 0
            )
            c.executemany(
                "INSERT INTO deliveries (inbox_id, channel, created_at, next_at) VALUES (?, ?, ?, ?)",
                [(inbox_id, ch, now, now) for ch in channels],
            )
            for a in n.alerts:
                c.execute(
                    "INSERT INTO alerts (fingerprint, starts_at, alertname, status, labels, "
                    "last_seen_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint, starts_at) "
                    "DO UPDATE SET status = excluded.status, labels = excluded.labels, "
                    "last_seen_at = excluded.last_seen_at",
                    (
                        a.fingerprint,
                        a.starts_at,
                        a.labels.get("alertname", ""),
                        a.status,
                        json.dumps(a.labels, sort_keys=True),
                        now,
                    ),
                )
            return Stored(inbox_id, False, len(channels))

    def pending(self, channel: str, now: float, limit: int = 1000) -> list[Pending]:
        """Due deliveries of one channel, oldest first."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT d.id, d.inbox_id, d.attempts, d.created_at, i.payload FROM deliveries d "
                "JOIN inbox i ON i.id = d.inbox_id WHERE d.channel = ? AND d.state = 'pending' "
                "AND d.next_at <= ? ORDER BY d.id LIMIT ?",
                (channel, now, limit),
            ).fetchall()
        out: list[Pending] = []
        for did, iid, attempts, created, payload in rows:
            n = parse(payload.encode())
            if isinstance(n, Notification):
                out.append(Pending(did, iid, channel, attempts, created, n))
        return out

    def next_due(self, channel: str) -> float | None:
        with self._lock:
            row = self.conn.execute(
                "SELECT min(next_at) FROM deliveries WHERE channel = ? AND state = 'pending'",
                (channel,),
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def depth(self) -> dict[str, int]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT channel, count(*) FROM deliveries WHERE state = 'pending' GROUP BY channel"
            ).fetchall()
        return {str(ch): int(n) for ch, n in rows}

    def record_attempt(
        self,
        channel: str,
        kind: str,
        items: list[Pending],
        sent_at: float,
        result: str,
        error: str,
        retry_at: float | None,
        give_up_before: float,
    ) -> tuple[list[Pending], list[Pending]]:
        """The request's outcome and its deliveries' new state, in one transaction.

        ``result == 'ok'`` marks the deliveries delivered; otherwise each gets ``retry_at``,
        unless it has been pending since before ``give_up_before`` (then it is failed).
        Returns (delivered, failed).
        """
        delivered: list[Pending] = []
        failed: list[Pending] = []
        with self._tx() as c:
            msg_id = c.execute(
                "INSERT INTO messages (channel, sent_at, kind, alerts, result, error) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    channel,
                    sent_at,
                    kind,
                    sum(len(p.notification.alerts) for p in items),
                    result,
                    error,
                ),
            ).lastrowid
            for p in items:
                if result == "ok":
                    cur = c.execute(
                        "UPDATE deliveries SET state = 'delivered', done_at = ?, message_id = ?, "
                        "attempts = attempts + 1 WHERE id = ? AND state = 'pending'",
                        (sent_at, msg_id, p.delivery_id),
                    )
                    if cur.rowcount == 1:
                        delivered.append(p)
                        c.execute(
                            "UPDATE alerts SET first_paged_at = coalesce(first_paged_at, ?) "
                            "WHERE (fingerprint, starts_at) IN "
                            "(SELECT value ->> '$.fingerprint', value ->> '$.startsAt' "
                            " FROM json_each((SELECT payload FROM inbox WHERE id = ?), '$.alerts'))",
                            (sent_at, p.inbox_id),
                        )
                elif p.created_at < give_up_before:
                    cur = c.execute(
                        "UPDATE deliveries SET state = 'failed', done_at = ?, last_error = ?, "
                        "attempts = attempts + 1 WHERE id = ? AND state = 'pending'",
                        (sent_at, error, p.delivery_id),
                    )
                    if cur.rowcount == 1:
                        failed.append(p)
                else:
                    c.execute(
                        "UPDATE deliveries SET next_at = ?, last_error = ?, attempts = attempts + 1 "
                        "WHERE id = ? AND state = 'pending'",
                        (retry_at, error, p.delivery_id),
                    )
        return delivered, failed

    def recent_sends(self, channel: str, since: float) -> list[float]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT sent_at FROM messages WHERE channel = ? AND sent_at > ? ORDER BY sent_at",
                (channel, since),
            ).fetchall()
        return [float(r[0]) for r in rows]

    def ack(
        self, fingerprint: str, starts_at: str, by: str, channel: str, note: str, now: float
    ) -> str:
        """Record an acknowledgement: 'acked', 'already' or 'unknown'."""
        with self._tx() as c:
            cur = c.execute(
                "UPDATE alerts SET acked_at = ?, acked_by = ?, ack_channel = ?, ack_note = ? "
                "WHERE fingerprint = ? AND starts_at = ? AND acked_at IS NULL",
                (now, by, channel, note, fingerprint, starts_at),
            )
            if cur.rowcount == 1:
                return "acked"
            row = c.execute(
                "SELECT 1 FROM alerts WHERE fingerprint = ? AND starts_at = ?",
                (fingerprint, starts_at),
            ).fetchone()
            return "already" if row else "unknown"

    def alert_labels(self, fingerprint: str, starts_at: str) -> dict[str, str]:
        with self._lock:
            row = self.conn.execute(
                "SELECT labels FROM alerts WHERE fingerprint = ? AND starts_at = ?",
                (fingerprint, starts_at),
            ).fetchone()
        return {str(k): str(v) for k, v in json.loads(row[0]).items()} if row else {}

    def prune(self, before: float) -> int:
        """Forget finished work older than ``before`` (unix seconds); pending rows stay,
        however old. Returns the number of notifications removed."""
        with self._tx() as c:
            old = (
                "SELECT id FROM inbox WHERE received_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM deliveries d WHERE d.inbox_id = inbox.id AND d.state = 'pending')"
            )
            c.execute(f"DELETE FROM deliveries WHERE inbox_id IN ({old})", (before,))
            n = c.execute(f"DELETE FROM inbox WHERE id IN ({old})", (before,)).rowcount
            c.execute(
                "DELETE FROM messages WHERE sent_at < ? AND id NOT IN "
                "(SELECT message_id FROM deliveries WHERE message_id IS NOT NULL)",
                (before,),
            )
            c.execute("DELETE FROM alerts WHERE last_seen_at < ?", (before,))
        return int(n)

    def ack_state(self, fingerprint: str, starts_at: str) -> tuple[float | None, str | None] | None:
        with self._lock:
            row = self.conn.execute(
                "SELECT acked_at, acked_by FROM alerts WHERE fingerprint = ? AND starts_at = ?",
                (fingerprint, starts_at),
            ).fetchone()
        return None if row is None else (row[0], row[1])
