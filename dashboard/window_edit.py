"""Editing a maintenance window that has not started yet: scope, start, end and reason.

Built from the audited actions in ``collector.actions``. ``edit_window`` changes times and
reason in place (one ``window.edit`` row) but cannot move a window to another scope. So a new
scope, or new times for a recurring window (its occurrences are computed from them), replace
the window instead: the new one is created (``window.create``) and the old one ended before
it ever started (``window.end_early``), both audited, on one connection.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from collector.actions import (
    Actor,
    InvalidAction,
    create_window,
    edit_window,
    end_window_early,
    open_window,
    ts,
)


def reschedule_window(
    conn: sqlite3.Connection,
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
    """Returns the id of the window as it now stands (a new id when it was replaced)."""
    window = open_window(conn, window_id)
    old_scope, old_id = window["scope_type"], window["scope_id"]
    old_start, old_end = window["starts_at"], window["ends_at"]
    recurrence, tz = window["recurrence"], window["tz"]
    if old_start <= ts(now):
        raise InvalidAction(
            f"maintenance window {window_id} started at {old_start}: only its end can change "
            "now (or end it early)"
        )
    if starts_at <= now:
        raise InvalidAction(f"new start {ts(starts_at)} is not in the future")
    scope_id = scope_id.strip()
    same_times = (ts(starts_at), ts(ends_at)) == (old_start, old_end)
    if (scope_type, scope_id) == (old_scope, old_id) and (not recurrence or same_times):
        edit_window(
            conn, actor, window_id, now=now, starts_at=starts_at, ends_at=ends_at, reason=reason
        )
        return window_id
    new_id = create_window(
        conn,
        actor,
        scope_type=scope_type,
        scope_id=scope_id,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        now=now,
        recurrence=recurrence,
        tz=tz or "UTC",
    )
    end_window_early(conn, actor, window_id, now)
    return new_id
