"""Acknowledging an alert: the engine keeps paging state, operators add who is on it."""

from __future__ import annotations

from datetime import datetime

from collector.actions.base import Actor, InvalidAction, NotFound, Role, _audit, _require
from collector.store import db
from collector.store.times import to_db


def acknowledge_alert(
    conn: db.Connection, actor: Actor, alert_id: int, note: str, now: datetime
) -> None:
    """Set ``acked_by/acked_at/ack_note`` and add an ``alert_events`` row (state unchanged)."""
    _require(actor, Role.OPERATOR, "acknowledge alerts")
    with conn:
        row = conn.execute(
            "SELECT state, acked_at, kind, subject_id FROM alerts WHERE id = ?", (alert_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"alert {alert_id} does not exist")
        state, acked_at, kind, subject_id = row
        if state == "resolved":
            raise InvalidAction(f"alert {alert_id} is resolved; nothing to acknowledge")
        if acked_at is not None:
            raise InvalidAction(f"alert {alert_id} was already acknowledged at {acked_at}")
        # Conditional update: two operators acking at once, one wins, the other is told.
        cur = conn.execute(
            "UPDATE alerts SET acked_by = ?, acked_at = ?, ack_note = ? "
            "WHERE id = ? AND acked_at IS NULL AND state != 'resolved'",
            (actor.name, to_db(now), note, alert_id),
        )
        if cur.rowcount != 1:
            raise InvalidAction(f"alert {alert_id} changed while acknowledging; reload")
        conn.execute(
            "INSERT INTO alert_events (alert_id, at, from_state, to_state, actor, note) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (alert_id, to_db(now), state, state, actor.name, f"acknowledged: {note}"),
        )
        _audit(
            conn,
            actor,
            "alert.acknowledge",
            f"alert:{alert_id}",
            now,
            {"kind": kind, "subject_id": subject_id, "note": note},
        )
