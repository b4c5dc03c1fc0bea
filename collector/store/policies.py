"""Reading the maintenance schedules, task types and per-task service records (both engines).

Written by ``collector.actions.policies`` (audited); read by the alert engine's overdue
sweep, the metrics and the console, which apply ``collector.schedules`` to them.
"""

from __future__ import annotations

from collections.abc import Sequence

from collector.schedules import BUILTIN_TASKS, Done, Schedule
from collector.store import db
from collector.store.times import from_db

SCHEDULE_COLUMNS = (
    "task_type, scope_type, scope_id, every_n, every_unit, usage_metric, usage_limit, due_soon_days"
)


def load_schedules(conn: db.Connection) -> list[Schedule]:
    rows = conn.execute(
        f"SELECT {SCHEDULE_COLUMNS} FROM maintenance_schedules "
        "ORDER BY task_type, scope_type, scope_id"
    ).fetchall()
    return [
        Schedule(
            str(r[0]),
            str(r[1]),
            str(r[2]),
            None if r[3] is None else int(r[3]),
            str(r[4] or ""),
            str(r[5] or ""),
            None if r[6] is None else float(r[6]),
            int(r[7]),
        )
        for r in rows
    ]


def task_types(conn: db.Connection) -> list[str]:
    """The built-in task types, then those operators added (alphabetical)."""
    added = [
        str(r[0])
        for r in conn.execute("SELECT name FROM maintenance_task_types ORDER BY name")
        if r[0] not in BUILTIN_TASKS
    ]
    return [*BUILTIN_TASKS, *added]


def load_done(
    conn: db.Connection, terminal_ids: Sequence[str] | None = None
) -> dict[str, dict[str, Done]]:
    """Per terminal, per task type: when it was last done (``None``: every terminal)."""
    sql = (
        "SELECT subject_id, task_type, done_at, receipts_at, errors_at FROM maintenance_done "
        "WHERE subject_type = 'terminal'"
    )
    params: list[str] = []
    if terminal_ids is not None:
        if not terminal_ids:
            return {}
        sql += f" AND subject_id IN ({', '.join('?' * len(terminal_ids))})"
        params = list(terminal_ids)
    out: dict[str, dict[str, Done]] = {}
    for sid, task, at, receipts, errors in conn.execute(sql, params):
        out.setdefault(str(sid), {})[str(task)] = Done(
            from_db(str(at)),
            None if receipts is None else int(receipts),
            None if errors is None else int(errors),
        )
    return out
