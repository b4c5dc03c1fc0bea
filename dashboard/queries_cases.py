"""Reads for the shortfall cases page (少刷钱, collector.reconcile): the list, one case's
evidence (the terminal's batch against the settlement, its transaction windows around the
batch close), its store and merchant, and its call log. Portable SQL, both engines."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from collector.store.db import Connection
from collector.store.times import from_db, to_db
from dashboard.queries import LIKE_ESCAPE, like_literal

# The windows around a case's batch close (its evidence): read by the window key
# (terminal, window end, ...; the device's own windows when the gateway is the terminal).
CASE_WINDOWS_SQL = (
    "SELECT window_start, window_end, approved, declined, reversed, timed_out, error, "
    "approved_amount, refunded_amount, currency FROM txn_aggregates "
    "WHERE (terminal_id = ? OR (terminal_id = '' AND gateway_id = ?)) "
    "AND window_end >= ? AND window_start <= ? ORDER BY window_start"
)

CASE_COLUMNS = [
    "id",
    "status",
    "kind",
    "business_date",
    "region_id",
    "site_id",
    "site_name",
    "merchant_id",
    "merchant_name",
    "merchant_contact",
    "terminal_id",
    "batch_id",
    "terminal_amount",
    "settled_amount",
    "difference",
    "currency",
    "cause",
    "follow_up_due",
    "opened_at",
]


def _frame(conn: Connection, sql: str, params: tuple[Any, ...], columns: list[str]) -> pd.DataFrame:
    cur = conn.execute(sql, params)
    rows = cur.fetchall()
    return pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns)


def case_facets(conn: Connection) -> dict[str, list[str]]:
    regions = [
        r[0] for r in conn.execute("SELECT DISTINCT region_id FROM shortfall_cases ORDER BY 1")
    ]
    return {"region_id": [r for r in regions if r]}


SORTS = ("urgent", "amount", "oldest", "newest")
_ORDER = {
    # overdue follow-ups first, then what is still open, then the largest shortfall
    "urgent": "CASE WHEN c.status = 'open' AND c.follow_up_due IS NOT NULL "
    "AND c.follow_up_due < ? THEN 0 WHEN c.status = 'open' THEN 1 ELSE 2 END, "
    "c.difference DESC, c.id",
    "amount": "abs(c.difference) DESC, c.id",
    "oldest": "c.opened_at, c.id",
    "newest": "c.opened_at DESC, c.id DESC",
}
NO_CAUSE = "unknown"  # the cause filter's value for a case whose cause is not set yet


def cases(
    conn: Connection,
    status: str,
    region: str,
    search: str,
    now: datetime,
    limit: int,
    offset: int,
    *,
    cause: str = "",
    overdue: bool = False,
    sort: str = "urgent",
) -> tuple[pd.DataFrame, int, int]:
    """Cases matching the filters, in ``sort`` order (``urgent``: overdue follow-ups first,
    then the biggest shortfall), with how many match and how many of those are overdue.
    ``search`` matches a case id (``12`` or ``#12``), terminal, batch, merchant id and name,
    store id and name; ``cause`` a cause or ``NO_CAUSE``; ``overdue`` keeps open cases whose
    follow-up is past."""
    where = ["1 = 1"]
    args: list[Any] = []
    if status in ("open", "closed"):
        where.append("c.status = ?")
        args.append(status)
    if region:
        where.append("c.region_id = ?")
        args.append(region)
    if cause:
        where.append("c.cause = ?")
        args.append("" if cause == NO_CAUSE else cause)
    due = "c.status = 'open' AND c.follow_up_due IS NOT NULL AND c.follow_up_due < ?"
    if overdue:
        where.append(f"({due})")
        args.append(to_db(now))
    text = search.strip()
    if text:
        like = f"%{like_literal(text.lower())}%"
        number = text.removeprefix("#").strip()
        fields = (
            "c.terminal_id",
            "c.batch_id",
            "c.merchant_id",
            "COALESCE(s.merchant_name, '')",
            "c.site_id",
            "COALESCE(s.name, '')",
        )
        matches = " OR ".join(f"lower({f}) LIKE ? ESCAPE '{LIKE_ESCAPE}'" for f in fields)
        where.append(f"({matches} OR c.id = ?)")
        args += [like] * 6 + [int(number) if number.isascii() and number.isdigit() else -1]
    clause = " AND ".join(where)
    total, overdue_n = conn.execute(
        f"SELECT count(*), COALESCE(sum(CASE WHEN {due} THEN 1 ELSE 0 END), 0) "
        f"FROM shortfall_cases c LEFT JOIN sites s ON s.site_id = c.site_id WHERE {clause}",
        (to_db(now), *args),
    ).fetchone()
    order = _ORDER.get(sort, _ORDER["urgent"])
    df = _frame(
        conn,
        "SELECT c.id, c.status, c.kind, c.business_date, c.region_id, c.site_id, "
        "COALESCE(s.name, ''), c.merchant_id, COALESCE(s.merchant_name, ''), "
        "COALESCE(s.merchant_contact, ''), c.terminal_id, c.batch_id, c.terminal_amount, "
        "c.settled_amount, c.difference, c.currency, c.cause, c.follow_up_due, c.opened_at "
        f"FROM shortfall_cases c LEFT JOIN sites s ON s.site_id = c.site_id WHERE {clause} "
        f"ORDER BY {order} LIMIT ? OFFSET ?",
        (*args, *([to_db(now)] if "?" in order else []), limit, offset),
        CASE_COLUMNS,
    )
    for col in ("follow_up_due", "opened_at"):
        df[col] = [from_db(v) if v else None for v in df[col]]
    df["overdue"] = [
        bool(st == "open" and due is not None and due < now)
        for st, due in zip(df["status"], df["follow_up_due"], strict=True)
    ]
    return df, int(total), int(overdue_n)


def case_currencies(conn: Connection, ids: tuple[int, ...]) -> dict[str, str]:
    """``case:<id>`` (an audit row's subject) -> the case's currency, for the cases ``ids``."""
    marks = ", ".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT id, currency FROM shortfall_cases WHERE id IN ({marks})", ids
    ).fetchall()
    return {f"case:{r[0]}": str(r[1]) for r in rows}


def case_state(conn: Connection, case_id: int) -> dict[str, Any] | None:
    """A case's status now, when it last changed and who did it last (its audit trail)."""
    row = conn.execute(
        "SELECT status, updated_at, closed_by, closed_at FROM shortfall_cases WHERE id = ?",
        (case_id,),
    ).fetchone()
    if row is None:
        return None
    last = conn.execute(
        "SELECT actor FROM audit_log WHERE subject = ? ORDER BY id DESC LIMIT 1",
        (f"case:{case_id}",),
    ).fetchone()
    return {
        "status": str(row[0]),
        "updated_at": str(row[1]),
        "closed_by": row[2],
        "closed_at": row[3],
        "last_actor": last[0] if last else None,
    }


def case_detail(conn: Connection, case_id: int) -> dict[str, Any] | None:
    """Everything the case page shows about one case, or None. ``settlement_amount`` and
    ``settlement_currency`` are the acquirer's figure as its file gave it: a case settled in
    another currency than the terminal's batch has no ``settled_amount`` (yen less fen is no
    difference), and the operator still needs to read what was settled."""
    cur = conn.execute(
        "SELECT c.*, COALESCE(s.name, '') AS site_name, COALESCE(s.merchant_name, '') AS "
        "merchant_name, COALESCE(s.merchant_contact, '') AS merchant_contact, "
        "COALESCE(s.address, '') AS site_address, COALESCE(s.tz, 'UTC') AS site_tz, "
        "COALESCE(i.name, '') AS import_name, COALESCE(i.imported_by, '') AS imported_by, "
        "r.amount AS settlement_amount, r.currency AS settlement_currency "
        "FROM shortfall_cases c LEFT JOIN sites s ON s.site_id = c.site_id "
        "LEFT JOIN settlement_imports i ON i.id = c.import_id "
        "LEFT JOIN settlement_rows r ON r.terminal_id = c.terminal_id AND r.batch_id = c.batch_id "
        "WHERE c.id = ?",
        (case_id,),
    )
    row = cur.fetchone()
    if row is None:
        return None
    names = [d[0] for d in cur.description]
    case = dict(zip(names, tuple(row), strict=True))
    calls = _frame(
        conn,
        "SELECT at, caller, party, outcome, note, next_follow_up FROM case_calls "
        "WHERE case_id = ? ORDER BY at, id",
        (case_id,),
        ["at", "caller", "party", "outcome", "note", "next_follow_up"],
    )
    for col in ("at", "next_follow_up"):
        calls[col] = [from_db(v) if v else None for v in calls[col]]
    windows = pd.DataFrame()
    closed = case.get("closed_at_terminal")
    if closed:
        at = from_db(str(closed))
        device = str(case["terminal_id"])
        windows = _frame(
            conn,
            CASE_WINDOWS_SQL,
            (device, device, to_db(at - timedelta(hours=6)), to_db(at + timedelta(hours=1))),
            [
                "window_start",
                "window_end",
                "approved",
                "declined",
                "reversed",
                "timed_out",
                "error",
                "approved_amount",
                "refunded_amount",
                "currency",
            ],
        )
        for col in ("window_start", "window_end"):
            windows[col] = [from_db(v) for v in windows[col]]
    audit = _frame(
        conn,
        "SELECT at, actor, action, details FROM audit_log WHERE subject = ? ORDER BY id",
        (f"case:{case_id}",),
        ["at", "actor", "action", "details"],
    )
    audit["at"] = [from_db(v) for v in audit["at"]]
    return {"case": case, "calls": calls, "windows": windows, "audit": audit}
