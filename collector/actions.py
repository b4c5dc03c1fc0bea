"""Operator actions as store writes (the dashboard calls these; the alert engine reads them).

Every action checks the actor's role, writes its rows and one ``audit_log`` row in a single
transaction, and returns what it wrote. Nothing here talks to MQTT or pages anyone: the alert
engine picks acknowledgements, suspensions and windows up from the store on its tick.

Exceptions::

    ActionError                 the action was not applied; retrying the same call won't help
    ├── PermissionDenied        the actor's role may not do this
    ├── NotFound                the alert / window / incident / subject does not exist
    └── InvalidAction           bad input (end before start, unknown scope, resolved alert...)
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from collector.inventory import INVENTORY_COLUMNS, InventoryError, upsert_rows


class Role(IntEnum):
    """Ordered: a role may do everything the roles below it may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise InvalidAction(f"unknown role {name!r}; use viewer, operator or admin") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    role: Role


class ActionError(Exception):
    """An operator action that was not applied."""


class PermissionDenied(ActionError):
    pass


class NotFound(ActionError):
    pass


class InvalidAction(ActionError):
    pass


SCOPE_TYPES = ("terminal", "gateway", "site", "region", "model")
SUBJECT_TABLES = {"gateway": ("gateways", "gateway_id"), "terminal": ("terminals", "terminal_id")}
FAULT_CATEGORIES = ("hardware", "software", "network", "power", "")


def ts(when: datetime) -> str:
    """The store's time format: ISO-8601 UTC with microseconds (sorts as text)."""
    if when.tzinfo is None:
        raise InvalidAction(f"naive datetime {when!r}: pass an aware UTC time")
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _require(actor: Actor, role: Role, action: str) -> None:
    if actor.role < role:
        raise PermissionDenied(
            f"{actor.name} ({actor.role.label}) may not {action}: needs {role.label}"
        )


def _audit(
    conn: sqlite3.Connection,
    actor: Actor,
    action: str,
    subject: str,
    now: datetime,
    details: dict[str, Any],
) -> None:
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)",
        (ts(now), actor.name, action, subject, json.dumps(details, sort_keys=True, default=str)),
    )


def acknowledge_alert(
    conn: sqlite3.Connection, actor: Actor, alert_id: int, note: str, now: datetime
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
            (actor.name, ts(now), note, alert_id),
        )
        if cur.rowcount != 1:
            raise InvalidAction(f"alert {alert_id} changed while acknowledging; reload")
        conn.execute(
            "INSERT INTO alert_events (alert_id, at, from_state, to_state, actor, note) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (alert_id, ts(now), state, state, actor.name, f"acknowledged: {note}"),
        )
        _audit(
            conn,
            actor,
            "alert.acknowledge",
            f"alert:{alert_id}",
            now,
            {"kind": kind, "subject_id": subject_id, "note": note},
        )


def set_suspended(
    conn: sqlite3.Connection,
    actor: Actor,
    subject_type: str,
    subject_id: str,
    suspended: bool,
    reason: str,
    now: datetime,
) -> None:
    """Suspend (administratively stop) or unsuspend a gateway or terminal."""
    _require(actor, Role.OPERATOR, "suspend or unsuspend")
    if subject_type not in SUBJECT_TABLES:
        raise InvalidAction(f"cannot suspend a {subject_type!r}; only gateway or terminal")
    if suspended and not reason.strip():
        raise InvalidAction("a suspension needs a reason (the merchant will ask)")
    table, key = SUBJECT_TABLES[subject_type]
    with conn:
        cur = conn.execute(
            f"UPDATE {table} SET suspended = ?, suspended_reason = ? WHERE {key} = ?",
            (1 if suspended else 0, reason if suspended else None, subject_id),
        )
        if cur.rowcount != 1:
            raise NotFound(f"{subject_type} {subject_id} does not exist")
        _audit(
            conn,
            actor,
            "suspend" if suspended else "unsuspend",
            f"{subject_type}:{subject_id}",
            now,
            {"reason": reason},
        )


def create_window(
    conn: sqlite3.Connection,
    actor: Actor,
    *,
    scope_type: str,
    scope_id: str,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    now: datetime,
    recurrence: str | None = None,
    tz: str = "UTC",
) -> int:
    """A one-off window, or a recurring one (cron of start times, each lasting as the first)."""
    _require(actor, Role.OPERATOR, "schedule maintenance windows")
    if scope_type not in SCOPE_TYPES:
        raise InvalidAction(f"scope {scope_type!r} unknown; use one of {', '.join(SCOPE_TYPES)}")
    if not scope_id.strip():
        raise InvalidAction("a window needs a scope id")
    if ends_at <= starts_at:
        raise InvalidAction(f"window ends ({ts(ends_at)}) before it starts ({ts(starts_at)})")
    duration = (ends_at - starts_at).total_seconds()
    if recurrence:
        from croniter import croniter  # server extra; only recurring windows need it

        if not croniter.is_valid(recurrence):
            raise InvalidAction(f"recurrence {recurrence!r} is not a 5-field cron expression")
    with conn:
        cur = conn.execute(
            "INSERT INTO maintenance_windows (scope_type, scope_id, starts_at, ends_at, "
            "recurrence, duration_s, tz, reason, created_by, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                scope_type,
                scope_id,
                ts(starts_at),
                ts(ends_at),
                recurrence or None,
                duration if recurrence else None,
                tz,
                reason,
                actor.name,
                ts(now),
            ),
        )
        window_id = int(cur.lastrowid or 0)
        _audit(
            conn,
            actor,
            "window.create",
            f"{scope_type}:{scope_id}",
            now,
            {
                "window_id": window_id,
                "starts_at": ts(starts_at),
                "ends_at": ts(ends_at),
                "recurrence": recurrence,
                "reason": reason,
            },
        )
    return window_id


def open_window(conn: sqlite3.Connection, window_id: int) -> dict[str, Any]:
    """A maintenance window that has not been ended early, as a dict of its columns
    (scope_type, scope_id, starts_at, ends_at, recurrence, tz, ...); ``NotFound`` or
    ``InvalidAction`` otherwise. The one lookup every window action starts from."""
    cur = conn.execute("SELECT * FROM maintenance_windows WHERE id = ?", (window_id,))
    row = cur.fetchone()
    if row is None:
        raise NotFound(f"maintenance window {window_id} does not exist")
    window = dict(zip([d[0] for d in cur.description], row, strict=True))
    if window["ended_early_at"] is not None:
        raise InvalidAction(
            f"maintenance window {window_id} already ended at {window['ended_early_at']}"
        )
    return window


def edit_window(
    conn: sqlite3.Connection,
    actor: Actor,
    window_id: int,
    *,
    now: datetime,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    reason: str | None = None,
) -> None:
    """New times or reason. A window that has begun keeps its start (what it covered is
    history): only its end and reason change. A recurring window's occurrences take the
    new length."""
    _require(actor, Role.OPERATOR, "edit maintenance windows")
    with conn:
        window = open_window(conn, window_id)
        old_start, old_end = window["starts_at"], window["ends_at"]
        scope_type, scope_id = window["scope_type"], window["scope_id"]
        new_start = ts(starts_at) if starts_at else old_start
        new_end = ts(ends_at) if ends_at else old_end
        if new_start != old_start and datetime.fromisoformat(old_start) <= now:
            raise InvalidAction(
                f"maintenance window {window_id} began at {old_start}: its start cannot move; "
                "end it early and schedule a new one"
            )
        if new_end <= new_start:
            raise InvalidAction(f"window ends ({new_end}) before it starts ({new_start})")
        length = (
            datetime.fromisoformat(new_end) - datetime.fromisoformat(new_start)
        ).total_seconds()
        conn.execute(
            "UPDATE maintenance_windows SET starts_at = ?, ends_at = ?, "
            "reason = COALESCE(?, reason), "
            "duration_s = CASE WHEN recurrence IS NULL THEN duration_s ELSE ? END WHERE id = ?",
            (new_start, new_end, reason, length, window_id),
        )
        _audit(
            conn,
            actor,
            "window.edit",
            f"{scope_type}:{scope_id}",
            now,
            {"window_id": window_id, "starts_at": new_start, "ends_at": new_end, "reason": reason},
        )


def end_window_early(conn: sqlite3.Connection, actor: Actor, window_id: int, now: datetime) -> None:
    """Close a window now; what is still down then fires as new (the alert engine's job)."""
    _require(actor, Role.OPERATOR, "end maintenance windows")
    with conn:
        window = open_window(conn, window_id)
        scope_type, scope_id = window["scope_type"], window["scope_id"]
        conn.execute(
            "UPDATE maintenance_windows SET ended_early_at = ?, ended_early_by = ? "
            "WHERE id = ? AND ended_early_at IS NULL",
            (ts(now), actor.name, window_id),
        )
        _audit(
            conn,
            actor,
            "window.end_early",
            f"{scope_type}:{scope_id}",
            now,
            {"window_id": window_id},
        )


def record_service(
    conn: sqlite3.Connection,
    actor: Actor,
    *,
    subject_type: str,
    subject_id: str,
    work: str,
    now: datetime,
    parts_replaced: str = "",
    fault_category: str = "",
    performed_at: datetime | None = None,
) -> int:
    """Record a service visit; resets the calendar and, for terminals, the usage counters."""
    _require(actor, Role.OPERATOR, "record services")
    if subject_type not in SUBJECT_TABLES:
        raise InvalidAction(f"cannot service a {subject_type!r}; only gateway or terminal")
    if fault_category not in FAULT_CATEGORIES:
        raise InvalidAction(
            f"fault category {fault_category!r} unknown; use hardware, software, network, power"
        )
    when = ts(performed_at or now)
    table, key = SUBJECT_TABLES[subject_type]
    with conn:
        if subject_type == "terminal":
            # Baselines: usage since this service = device counter - counter now.
            cur = conn.execute(
                "UPDATE terminals SET last_service_at = ?, "
                "receipts_at_service = receipts_printed, errors_at_service = error_count "
                "WHERE terminal_id = ?",
                (when, subject_id),
            )
        else:
            cur = conn.execute(
                f"UPDATE {table} SET last_service_at = ? WHERE {key} = ?", (when, subject_id)
            )
        if cur.rowcount != 1:
            raise NotFound(f"{subject_type} {subject_id} does not exist")
        ins = conn.execute(
            "INSERT INTO services (subject_type, subject_id, performed_at, performed_by, work, "
            "parts_replaced, fault_category) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (subject_type, subject_id, when, actor.name, work, parts_replaced, fault_category),
        )
        service_id = int(ins.lastrowid or 0)
        _audit(
            conn,
            actor,
            "service.record",
            f"{subject_type}:{subject_id}",
            now,
            {
                "service_id": service_id,
                "work": work,
                "parts_replaced": parts_replaced,
                "fault_category": fault_category,
                "performed_at": when,
            },
        )
    return service_id


def update_incident(
    conn: sqlite3.Connection,
    actor: Actor,
    incident_id: int,
    *,
    cause: str,
    expected_recovery_at: datetime | None,
    now: datetime,
    notes: str | None = None,
) -> None:
    """Fill what the NOC tells the merchant: cause and expected recovery."""
    _require(actor, Role.OPERATOR, "edit incidents")
    with conn:
        row = conn.execute(
            "SELECT subject_type, subject_id FROM incidents WHERE id = ?", (incident_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"incident {incident_id} does not exist")
        recovery = ts(expected_recovery_at) if expected_recovery_at else None
        conn.execute(
            "UPDATE incidents SET cause = ?, expected_recovery_at = ?, "
            "notes = COALESCE(?, notes) WHERE id = ?",
            (cause, recovery, notes, incident_id),
        )
        _audit(
            conn,
            actor,
            "incident.update",
            f"{row[0]}:{row[1]}",
            now,
            {
                "incident_id": incident_id,
                "cause": cause,
                "expected_recovery_at": recovery,
                "notes": notes,
            },
        )


def import_inventory(
    conn: sqlite3.Connection,
    actor: Actor,
    table: str,
    rows: Iterable[dict[str, str]],
    now: datetime,
) -> int:
    """Upsert inventory rows (one CSV's worth) and audit the import."""
    _require(actor, Role.ADMIN, "import inventory")
    if table not in INVENTORY_COLUMNS:
        raise InvalidAction(f"table {table!r} is not inventory; use {', '.join(INVENTORY_COLUMNS)}")
    try:
        with conn:
            count = upsert_rows(conn, table, rows)
            _audit(conn, actor, "inventory.import", table, now, {"rows": count})
    except InventoryError as exc:
        raise InvalidAction(str(exc)) from exc
    return count


def record_audit(
    conn: sqlite3.Connection,
    actor_name: str,
    action: str,
    subject: str,
    now: datetime,
    details: dict[str, Any],
) -> None:
    """One ``audit_log`` row in its own transaction, for services that are not console
    actions (posfleet-notify records each delivery, failure and ack link here)."""
    with conn:
        _audit(conn, Actor(actor_name, Role.VIEWER), action, subject, now, details)
