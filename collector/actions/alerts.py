"""Acknowledging and snoozing alerts: the engine keeps paging state, operators add who is on
it (an acknowledgement stops the escalation climb for good) or when to look again (a snooze
stops it until a time; then it resumes by itself)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from collector.actions.base import (
    ActionError,
    Actor,
    InvalidAction,
    NotFound,
    PermissionDenied,
    Role,
    _audit,
    _require,
)
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


SNOOZE_MAX = timedelta(days=7)  # longer than a week is a maintenance window or a suspension


@dataclass(frozen=True)
class Bulk:
    """What an action on several alerts did: the alerts it was applied to, and why it was
    not applied to the others (acknowledged or resolved meanwhile, gone)."""

    done: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def _each(ids: Iterable[int], one: Callable[[int], None]) -> Bulk:
    """``one(alert_id)`` for each id, each in its own transaction with its own audit row;
    refusals are collected, not raised, unless nothing was applied at all."""
    out = Bulk()
    for alert_id in dict.fromkeys(int(i) for i in ids):  # once each, in the order given
        try:
            one(alert_id)
        except PermissionDenied:
            raise
        except ActionError as exc:
            out.refused[alert_id] = str(exc)
        else:
            out.done.append(alert_id)
    if not out.done:
        if not out.refused:
            raise InvalidAction("no alert selected")
        raise InvalidAction("; ".join(out.refused.values()))
    return out


def acknowledge_alerts(
    conn: db.Connection, actor: Actor, alert_ids: Iterable[int], note: str, now: datetime
) -> Bulk:
    """``acknowledge_alert`` for several alerts (the morning check's bulk acknowledge): each
    its own transaction and audit row; one already acknowledged or resolved meanwhile is
    reported in ``Bulk.refused`` and the others are still acknowledged."""
    _require(actor, Role.OPERATOR, "acknowledge alerts")
    return _each(alert_ids, lambda i: acknowledge_alert(conn, actor, i, note, now))


def snooze_alert(
    conn: db.Connection,
    actor: Actor,
    alert_id: int,
    until: datetime,
    now: datetime,
    note: str = "",
) -> None:
    """Hold an active alert's escalation until ``until`` (aware; stored in UTC); the engine
    resumes the climb by itself once it has passed. Setting it again moves the time."""
    _require(actor, Role.OPERATOR, "snooze alerts")
    _check_until(until, now)
    with conn:
        row = conn.execute(
            "SELECT state, kind, subject_id, snoozed_until FROM alerts WHERE id = ?", (alert_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"alert {alert_id} does not exist")
        state, kind, subject_id, before = row
        if state == "resolved":
            raise InvalidAction(f"alert {alert_id} is resolved; nothing to snooze")
        cur = conn.execute(
            "UPDATE alerts SET snoozed_until = ?, snoozed_by = ? "
            "WHERE id = ? AND state != 'resolved'",
            (to_db(until), actor.name, alert_id),
        )
        if cur.rowcount != 1:
            raise InvalidAction(f"alert {alert_id} changed while snoozing; reload")
        conn.execute(
            "INSERT INTO alert_events (alert_id, at, from_state, to_state, actor, note) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (alert_id, to_db(now), state, state, actor.name,
             f"snoozed until {to_db(until)}: {note}"),
        )  # fmt: skip
        _audit(
            conn,
            actor,
            "alert.snooze",
            f"alert:{alert_id}",
            now,
            {"kind": kind, "subject_id": subject_id, "until": to_db(until),
             "before": before, "note": note},
        )  # fmt: skip


def snooze_alerts(
    conn: db.Connection,
    actor: Actor,
    alert_ids: Iterable[int],
    until: datetime,
    now: datetime,
    note: str = "",
) -> Bulk:
    """``snooze_alert`` for several alerts, each audited; a bad time refuses them all."""
    _require(actor, Role.OPERATOR, "snooze alerts")
    _check_until(until, now)
    return _each(alert_ids, lambda i: snooze_alert(conn, actor, i, until, now, note))


def _check_until(until: datetime, now: datetime) -> None:
    if until.tzinfo is None:
        raise InvalidAction("a snooze time needs its time zone")
    shown = until.strftime("%Y-%m-%d %H:%M %Z").strip()
    if until <= now:
        raise InvalidAction(f"snooze until {shown} is in the past: pick a later time")
    if until - now > SNOOZE_MAX:
        raise InvalidAction(
            f"snooze until {shown} is more than {SNOOZE_MAX.days} days away: "
            "open a maintenance window or suspend the device instead"
        )
