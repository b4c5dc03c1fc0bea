"""Actions on gateways and terminals: suspension, service visits, incident notes."""

from __future__ import annotations

from datetime import datetime

from collector import places
from collector.actions.base import Actor, InvalidAction, NotFound, Role, _audit, _require
from collector.store import db
from collector.store.times import to_db

SUBJECT_TABLES = {"gateway": ("gateways", "gateway_id"), "terminal": ("terminals", "terminal_id")}


FAULT_CATEGORIES = ("hardware", "software", "network", "power", "")


def set_suspended(
    conn: db.Connection,
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
        _split_incident(conn, subject_type, subject_id, suspended, reason, now)
        _audit(
            conn,
            actor,
            "suspend" if suspended else "unsuspend",
            f"{subject_type}:{subject_id}",
            now,
            {"reason": reason},
        )


def _split_incident(
    conn: db.Connection,
    subject_type: str,
    subject_id: str,
    suspended: bool,
    reason: str,
    now: datetime,
) -> None:
    """A subject suspended while down: its open fault incident ends at the suspension and an
    administrative one (excluded from the SLA) runs from it; unsuspended while still down:
    the administrative one ends and a fault one runs from then. The time before the
    suspension stays a fault: it was one."""
    table, key = SUBJECT_TABLES[subject_type]
    closing, opening = ("fault", "administrative") if suspended else ("administrative", "fault")
    at = to_db(now)
    cur = conn.execute(
        "UPDATE incidents SET ended_at = ?, notes = CASE WHEN notes = '' THEN ? ELSE notes END "
        "WHERE subject_type = ? AND subject_id = ? AND ended_at IS NULL AND class = ?",
        (at, "suspended" if suspended else "unsuspended", subject_type, subject_id, closing),
    )
    if cur.rowcount != 1:  # nothing open of that class: nothing to split
        return
    # Only a subject that is still down goes on with an incident.
    site, region = (places.of_table(table, "x", c) for c in places.PLACE_COLUMNS)
    conn.execute(
        "INSERT INTO incidents (subject_type, subject_id, site_id, region_id, model, "
        "started_at, class, fault_category, detected_by, cause) "
        f"SELECT ?, x.{key}, {site}, {region}, x.model, ?, ?, ?, 'admin', ? FROM {table} x "
        f"WHERE x.{key} = ? AND x.status IN ('down', 'late')",
        (
            subject_type,
            at,
            opening,
            "unknown",
            f"suspended: {reason}" if suspended else "",
            subject_id,
        ),
    )


def record_service(
    conn: db.Connection,
    actor: Actor,
    *,
    subject_type: str,
    subject_id: str,
    work: str,
    now: datetime,
    parts_replaced: str = "",
    fault_category: str = "",
    performed_at: datetime | None = None,
    task_type: str = "",
) -> int:
    """Record a service visit; resets the calendar and, for terminals, the usage counters.

    ``task_type`` '' is a full service (every task and the model's policy start again);
    a task type (printer, battery, ...) starts only that task's schedule again."""
    _require(actor, Role.OPERATOR, "record services")
    if subject_type not in SUBJECT_TABLES:
        raise InvalidAction(f"cannot service a {subject_type!r}; only gateway or terminal")
    if task_type:
        from collector.store.policies import task_types

        known = task_types(conn)
        if task_type not in known:
            raise InvalidAction(f"task type {task_type!r} unknown; use one of {', '.join(known)}")
    if fault_category not in FAULT_CATEGORIES:
        raise InvalidAction(
            f"fault category {fault_category!r} unknown; use hardware, software, network, power"
        )
    when = to_db(performed_at or now)
    table, key = SUBJECT_TABLES[subject_type]
    with conn:
        if task_type:
            # One task: its own record (and its counters now), not the full-service calendar.
            counters = (
                "receipts_printed, error_count" if subject_type == "terminal" else "NULL, NULL"
            )
            cur = conn.execute(
                "INSERT INTO maintenance_done (subject_type, subject_id, task_type, done_at, "
                f"receipts_at, errors_at) SELECT ?, {key}, ?, ?, {counters} FROM {table} "
                f"WHERE {key} = ? ON CONFLICT (subject_type, subject_id, task_type) DO UPDATE "
                "SET done_at = excluded.done_at, receipts_at = excluded.receipts_at, "
                "errors_at = excluded.errors_at",
                (subject_type, task_type, when, subject_id),
            )
        elif subject_type == "terminal":
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
            "parts_replaced, fault_category, task_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "RETURNING id",
            (
                subject_type,
                subject_id,
                when,
                actor.name,
                work,
                parts_replaced,
                fault_category,
                task_type,
            ),
        )
        service_id = int(ins.fetchone()[0])
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
                "task_type": task_type,
            },
        )
    return service_id


def update_incident(
    conn: db.Connection,
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
            "SELECT subject_type, subject_id, ended_at FROM incidents WHERE id = ?",
            (incident_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"incident {incident_id} does not exist")
        if row[2] is None and expected_recovery_at is not None and expected_recovery_at <= now:
            raise InvalidAction(
                f"expected recovery {to_db(expected_recovery_at)} is not in the future: the "
                "merchant would be told a time already past"
            )
        recovery = to_db(expected_recovery_at) if expected_recovery_at else None
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
