"""One alert engine for several collectors on one PostgreSQL store (``--share-group``).

The engine (collector/alerts/engine.py) lives in memory and needs every input: a gateway that
went down through collector A and came back through B, a site whose gateways' wills were
spread over A, B and C. So exactly one collector runs it, the *leader*: the holder of a
session-level advisory lock (``LEADER_LOCK_KEY``) on its store connection. At the start of
each batch transaction (``begin``):

- a collector that is not the leader tries ``pg_try_advisory_lock``; once it has it, it builds
  a fresh engine from the store with the startup path (``AlertListener.load``: inventory,
  operator data, active alerts; it pages nobody);
- the leader confirms it still holds the lock (``pg_locks``): a reconnect after a PostgreSQL
  restart loses it silently; then it drops its engine and competes again;
- the leader consumes the inbox (below) in id order and applies it through the engine's own
  entry points, before its batch's own inputs. Its ticks (timers, escalation, windows,
  maintenance, silence, spikes) run only there.

The others' listener calls append what the engine needs to ``alert_inbox`` in the batch's
transaction: every liveness transition, and the messages whose rules matter (network,
hardware, firmware, and heartbeats whose clock skew is at or past the raise threshold: the
leader sees a share of every gateway's heartbeats itself, enough to clear a skew alert).
Batches commit one at a time under the store's write lock (``db.WRITE_LOCK_KEY``), so id order
is commit order; consuming deletes the rows in the leader's transaction, so an input is
applied exactly once, with the alerts it causes.

A killed leader's lock goes with its connection; the next collector whose batch runs takes
over, with no handover: its engine is loaded from the store and the inbox holds everything the
old leader had not applied. A *hung* leader keeps its session and its lock: a follower that
sees the inbox's oldest row stay ``takeover_s`` (30 s) ends that session
(``pg_terminate_backend``), and the lock goes as if it had been killed. Cost of a leader
change: one load (as a collector's start), and detection delayed by at most one batch (the
inbox is read at the leader's next batch, at least once a second with its tick).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from collector.alerts.listener import AlertListener
from collector.model import DetectedBy, Liveness, SubjectType, Transition
from collector.store import db
from collector.store.times import from_db, to_db
from telemetry.codec import Decoded, Rejected, decode, encode
from telemetry.models import Firmware, Hardware, Heartbeat, Network
from telemetry.topics import topic_for

log = logging.getLogger(__name__)

# Session-level advisory lock of the alert leader ("posalert" in ASCII); distinct from the
# store's write lock, db.WRITE_LOCK_KEY.
LEADER_LOCK_KEY = 0x706F73616C657274
_KEY_HIGH, _KEY_LOW = LEADER_LOCK_KEY >> 32, LEADER_LOCK_KEY & 0xFFFFFFFF

TRANSITION = "transition"
MESSAGE = "message"


class SharedAlerts:
    """The ``collector.hooks.BatchListener`` of a collector in a share group."""

    def __init__(
        self,
        build: Callable[[db.Connection, datetime], AlertListener],
        *,
        clock_skew_raise_s: float,
        consume_max: int = 5000,
        takeover_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._build = build
        # A leader that holds the lock but reads no inbox for this long (hung: its session
        # stays open, so its lock stays) has its session ended by the next follower.
        self.takeover_s = takeover_s
        self._mono = monotonic
        self._oldest: tuple[int | None, float] = (None, 0.0)  # oldest inbox id, seen since
        self._alerts: AlertListener | None = None
        self._gauge = Gauge(
            "posfleet_collector_alert_leader",
            "1 on the collector of a share group that runs the alert engine, else 0",
            registry=registry,
        )
        self.skew_raise_s = clock_skew_raise_s
        self.consume_max = consume_max

    @property
    def alerts(self) -> AlertListener | None:
        """The engine's listener, while this collector is the leader."""
        return self._alerts

    @alerts.setter
    def alerts(self, value: AlertListener | None) -> None:
        self._alerts = value
        self._gauge.set(0 if value is None else 1)

    @property
    def leader(self) -> bool:
        return self._alerts is not None

    # ------------------------------------------------------------ BatchListener protocol
    def begin(self, conn: db.Connection, now: datetime) -> None:
        if self.alerts is not None and not _holds_lock(conn):
            log.warning("alert leadership lost (new store session): competing again")
            self.alerts = None
        if self.alerts is None:
            if not _try_lock(conn):
                self._watch_leader(conn)
                return
            log.info("alert leader: loading the alert engine from the store")
            self.alerts = self._build(conn, now)
        try:
            self._consume(conn, now)
        except BaseException:
            # The loop rolls this call back (the inbox rows come back); the engine's memory
            # took some of them: rebuild it from the store at the next batch.
            self.alerts = None
            raise

    def on_transitions(
        self, conn: db.Connection, transitions: Sequence[Transition], now: datetime
    ) -> None:
        if self.alerts is not None:
            self.alerts.on_transitions(conn, transitions, now)
            return
        created = to_db(now)
        conn.executemany(
            "INSERT INTO alert_inbox (kind, body, created) VALUES (?, ?, ?)",
            [(TRANSITION, _transition_body(t), created) for t in transitions],
        )

    def on_messages(
        self, conn: db.Connection, messages: Sequence[tuple[Decoded, datetime]], now: datetime
    ) -> None:
        if self.alerts is not None:
            self.alerts.on_messages(conn, messages, now)
            return
        rows = [
            (MESSAGE, _message_body(d, at), to_db(now))
            for d, at in messages
            if self._matters(d, at)
        ]
        if rows:
            conn.executemany("INSERT INTO alert_inbox (kind, body, created) VALUES (?, ?, ?)", rows)

    def tick(self, conn: db.Connection, now: datetime) -> None:
        if self.alerts is not None:
            self.alerts.tick(conn, now)

    # ------------------------------------------------------------ internals
    def _matters(self, decoded: Decoded, received_at: datetime) -> bool:
        """Is this message an input of a rule (collector.alerts.rules)?"""
        msg = decoded.message
        if msg.historical:
            return False  # the rules ignore back-filled data
        if isinstance(msg, Heartbeat):
            return abs((msg.ts - received_at).total_seconds()) >= self.skew_raise_s
        return isinstance(msg, Network | Hardware | Firmware)

    def _watch_leader(self, conn: db.Connection) -> None:
        """The leader reads the inbox at each of its batches (at least once a second): an
        oldest row that stays for ``takeover_s`` on this collector's clock means it is hung
        with its session open. End that session: its lock goes with it, and a batch (this
        collector's next, or another's) takes the lead."""
        (oldest,) = conn.execute("SELECT min(id) FROM alert_inbox").fetchone()
        mono = self._mono()
        if oldest is None or oldest != self._oldest[0]:
            self._oldest = (oldest, mono)
            return
        if mono - self._oldest[1] < self.takeover_s:
            return
        self._oldest = (oldest, mono)  # the next attempt, if any, a full period later
        for (pid,) in conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid::bigint = ? "
            "AND objid::bigint = ? AND objsubid = 1 AND granted",
            (_KEY_HIGH, _KEY_LOW),
        ).fetchall():
            log.error(
                "the alert leader (PostgreSQL backend %s) has read no inbox for %.0f s: "
                "ending its session so that another collector leads",
                pid,
                self.takeover_s,
            )
            conn.execute("SELECT pg_terminate_backend(?)", (pid,))

    def _consume(self, conn: db.Connection, now: datetime) -> None:
        alerts = self.alerts
        assert alerts is not None
        rows = conn.execute(
            "DELETE FROM alert_inbox WHERE id IN "
            "(SELECT id FROM alert_inbox ORDER BY id LIMIT ?) RETURNING id, kind, body",
            (self.consume_max,),
        ).fetchall()
        if not rows:
            return
        rows.sort(key=lambda r: int(r[0]))
        # Consecutive runs of one kind go to the engine together, in commit order.
        run_kind = ""
        transitions: list[Transition] = []
        messages: list[tuple[Decoded, datetime]] = []

        def flush() -> None:
            if transitions:
                alerts.on_transitions(conn, transitions, now)
                transitions.clear()
            if messages:
                alerts.on_messages(conn, messages, now)
                messages.clear()

        for row_id, kind, body in rows:
            if kind != run_kind:
                flush()
                run_kind = kind
            try:
                data = json.loads(body)
                if kind == TRANSITION:
                    transitions.append(_transition_of(data))
                elif kind == MESSAGE:
                    messages.append(_message_of(data))
                else:
                    raise ValueError(f"unknown kind {kind!r}")
            except (ValueError, KeyError, TypeError) as exc:
                # Written by this module only: a row it cannot read is a bug or a newer
                # release's; dropped with a log line rather than blocking the inbox forever.
                log.error("alert inbox row %s unreadable, dropped: %s", row_id, exc)
        flush()


def _try_lock(conn: db.Connection) -> bool:
    (got,) = conn.execute("SELECT pg_try_advisory_lock(?)", (LEADER_LOCK_KEY,)).fetchone()
    return bool(got)


def _holds_lock(conn: db.Connection) -> bool:
    # A bigint key shows in pg_locks as classid (high 32 bits), objid (low), objsubid 1.
    row = conn.execute(
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
        "AND classid::bigint = ? AND objid::bigint = ? AND objsubid = 1 AND granted",
        (_KEY_HIGH, _KEY_LOW),
    ).fetchone()
    return row is not None


def _transition_body(t: Transition) -> str:
    return json.dumps(
        {
            "subject_type": t.subject_type.value,
            "subject_id": t.subject_id,
            "gateway_id": t.gateway_id,
            "from": t.from_status.value,
            "to": t.to_status.value,
            "at": to_db(t.at),
            "detected_by": t.detected_by.value,
            "reason": t.reason,
            "planned": t.planned,
        },
        separators=(",", ":"),
    )


def _transition_of(data: dict[str, Any]) -> Transition:
    return Transition(
        SubjectType(data["subject_type"]),
        str(data["subject_id"]),
        Liveness(data["from"]),
        Liveness(data["to"]),
        from_db(data["at"]),
        DetectedBy(data["detected_by"]),
        reason=str(data["reason"]),
        planned=bool(data["planned"]),
        gateway_id=str(data["gateway_id"]),
    )


def _message_body(decoded: Decoded, received_at: datetime) -> str:
    ref = decoded.ref
    return json.dumps(
        {
            "topic": topic_for(ref.gateway_id, ref.kind, ref.terminal_id),
            "payload": encode(decoded.message).decode(),
            "received_at": to_db(received_at),
        },
        separators=(",", ":"),
    )


def _message_of(data: dict[str, Any]) -> tuple[Decoded, datetime]:
    payload = str(data["payload"]).encode()
    result = decode(str(data["topic"]), payload, max_bytes=len(payload))
    if isinstance(result, Rejected):
        raise ValueError(f"message refused by the codec: {result.reason.value} {result.detail}")
    return result, from_db(data["received_at"])
