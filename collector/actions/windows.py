"""Maintenance windows: create, edit, reschedule (one transaction), end early."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from collector.actions.base import Actor, InvalidAction, NotFound, Role, _audit, _require
from collector.store import db
from collector.store.times import from_db, to_db

SCOPE_TYPES = ("terminal", "gateway", "site", "region", "model")
# Where a scope id must exist: a window on an id nobody has (a typo, ``s-99999``) would
# cover nothing and say it did.
_SCOPE_LOOKUPS = {
    "terminal": ("SELECT 1 FROM terminals WHERE terminal_id = ?",),
    "gateway": ("SELECT 1 FROM gateways WHERE gateway_id = ?",),
    "site": ("SELECT 1 FROM sites WHERE site_id = ?",),
    "region": (  # a region with stores counts, even before its row is imported
        "SELECT 1 FROM regions WHERE region_id = ?",
        "SELECT 1 FROM sites WHERE region_id = ? LIMIT 1",
    ),
    "model": (
        "SELECT 1 FROM gateways WHERE model = ? LIMIT 1",
        "SELECT 1 FROM terminals WHERE model = ? LIMIT 1",
    ),
}


def create_window(
    conn: db.Connection,
    actor: Actor,
    *,
    scope_type: str,
    scope_id: str,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    now: datetime,
    recurrence: str | None = None,
    tz: str = "",
) -> int:
    """A one-off window, or a recurring one (cron of start times, each lasting as the first).

    ``tz``: the zone the recurrence is read in; '' (the default) is the scope's own zone
    (the store's; for region and model scopes the deployment's ``POSFLEET_DEFAULT_TZ``),
    resolved when the window is evaluated, so a store that changes zone takes its windows
    along."""
    _require(actor, Role.OPERATOR, "schedule maintenance windows")
    _check_window(conn, scope_type, scope_id, starts_at, ends_at, recurrence)
    if tz:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidAction(
                f"time zone {tz!r} unknown; use an IANA name (Asia/Shanghai), or none for "
                "the scope's own zone"
            ) from None
    with conn:
        return _insert_window(
            conn, actor, scope_type, scope_id, starts_at, ends_at, reason, now, recurrence, tz
        )


def _check_window(
    conn: db.Connection,
    scope_type: str,
    scope_id: str,
    starts_at: datetime,
    ends_at: datetime,
    recurrence: str | None,
) -> None:
    if scope_type not in SCOPE_TYPES:
        raise InvalidAction(f"scope {scope_type!r} unknown; use one of {', '.join(SCOPE_TYPES)}")
    if not scope_id.strip():
        raise InvalidAction("a window needs a scope id")
    if not any(conn.execute(sql, (scope_id,)).fetchone() for sql in _SCOPE_LOOKUPS[scope_type]):
        raise NotFound(
            f"{scope_type} {scope_id!r} is not in the inventory: check the id (the sidebar "
            "search finds ids, serials and store names)"
        )
    if ends_at <= starts_at:
        raise InvalidAction(f"window ends ({to_db(ends_at)}) before it starts ({to_db(starts_at)})")
    if recurrence:
        from croniter import croniter  # server extra; only recurring windows need it

        if not croniter.is_valid(recurrence):
            raise InvalidAction(f"recurrence {recurrence!r} is not a 5-field cron expression")


def _insert_window(
    conn: db.Connection,
    actor: Actor,
    scope_type: str,
    scope_id: str,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    now: datetime,
    recurrence: str | None,
    tz: str,
) -> int:
    """The window row and its audit row, inside the caller's transaction."""
    duration = (ends_at - starts_at).total_seconds()
    cur = conn.execute(
        "INSERT INTO maintenance_windows (scope_type, scope_id, starts_at, ends_at, "
        "recurrence, duration_s, tz, reason, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            scope_type,
            scope_id,
            to_db(starts_at),
            to_db(ends_at),
            recurrence or None,
            duration if recurrence else None,
            tz,
            reason,
            actor.name,
            to_db(now),
        ),
    )
    window_id = int(cur.fetchone()[0])
    _audit(
        conn,
        actor,
        "window.create",
        f"{scope_type}:{scope_id}",
        now,
        {
            "window_id": window_id,
            "starts_at": to_db(starts_at),
            "ends_at": to_db(ends_at),
            "recurrence": recurrence,
            "reason": reason,
        },
    )
    return window_id


def open_window(conn: db.Connection, window_id: int) -> dict[str, Any]:
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
    conn: db.Connection,
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
        new_start = to_db(starts_at) if starts_at else old_start
        new_end = to_db(ends_at) if ends_at else old_end
        if new_start != old_start and from_db(old_start) <= now:
            raise InvalidAction(
                f"maintenance window {window_id} began at {old_start}: its start cannot move; "
                "end it early and schedule a new one"
            )
        if new_end <= new_start:
            raise InvalidAction(f"window ends ({new_end}) before it starts ({new_start})")
        length = (from_db(new_end) - from_db(new_start)).total_seconds()
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


def end_window_early(conn: db.Connection, actor: Actor, window_id: int, now: datetime) -> None:
    """Close a window now; what is still down then fires as new (the alert engine's job)."""
    _require(actor, Role.OPERATOR, "end maintenance windows")
    with conn:
        _end_window(conn, actor, window_id, now)


def _end_window(conn: db.Connection, actor: Actor, window_id: int, now: datetime) -> None:
    """Inside the caller's transaction. The conditional UPDATE decides: a window that another
    operator ended meanwhile is not ended (nor audited) twice."""
    window = open_window(conn, window_id)
    scope_type, scope_id = window["scope_type"], window["scope_id"]
    ended = conn.execute(
        "UPDATE maintenance_windows SET ended_early_at = ?, ended_early_by = ? "
        "WHERE id = ? AND ended_early_at IS NULL",
        (to_db(now), actor.name, window_id),
    ).rowcount
    if ended != 1:
        raise InvalidAction(f"maintenance window {window_id} was ended by someone else")
    _audit(
        conn,
        actor,
        "window.end_early",
        f"{scope_type}:{scope_id}",
        now,
        {"window_id": window_id},
    )


def reschedule_window(
    conn: db.Connection,
    actor: Actor,
    window_id: int,
    *,
    scope_type: str,
    scope_id: str,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    now: datetime,
) -> int:
    """Edit a window that has not started: scope, start, end and reason. Returns the id of
    the window as it now stands.

    ``edit_window`` changes times and reason in place but cannot move a window to another
    scope; so a new scope, or new times for a recurring window (its occurrences are computed
    from them), replace the window: the new one is created and the old one ended before it
    ever started, both audited, in one transaction (both or neither)."""
    _require(actor, Role.OPERATOR, "edit maintenance windows")
    window = open_window(conn, window_id)
    old_scope, old_id = window["scope_type"], window["scope_id"]
    old_start, old_end = window["starts_at"], window["ends_at"]
    recurrence, tz = window["recurrence"], window["tz"]
    if old_start <= to_db(now):
        raise InvalidAction(
            f"maintenance window {window_id} started at {old_start}: only its end can change "
            "now (or end it early)"
        )
    if starts_at <= now:
        raise InvalidAction(f"new start {to_db(starts_at)} is not in the future")
    scope_id = scope_id.strip()
    same_times = (to_db(starts_at), to_db(ends_at)) == (old_start, old_end)
    if (scope_type, scope_id) == (old_scope, old_id) and (not recurrence or same_times):
        edit_window(
            conn, actor, window_id, now=now, starts_at=starts_at, ends_at=ends_at, reason=reason
        )
        return window_id
    _check_window(conn, scope_type, scope_id, starts_at, ends_at, recurrence)
    with conn:
        new_id = _insert_window(
            conn,
            actor,
            scope_type,
            scope_id,
            starts_at,
            ends_at,
            reason,
            now,
            recurrence,
            tz or "",
        )
        _end_window(conn, actor, window_id, now)
    return new_id
