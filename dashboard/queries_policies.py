"""Read side for the Policies page and the Alerts page's "Maintenance due" section."""

from __future__ import annotations

import json

import pandas as pd

from collector.alerts.model import PLANNING_KINDS
from collector.store.db import Connection
from collector.store.policies import SCHEDULE_COLUMNS, task_types
from dashboard.queries import frame

PLANNING = sorted(k.value for k in PLANNING_KINDS)


def firmware_policies(conn: Connection) -> pd.DataFrame:
    """Every model's firmware policy, approved versions as one space-separated text."""
    df = frame(
        conn,
        "SELECT model, target_version, min_version, approved_versions, end_of_support, "
        "updated_by, updated_at FROM firmware_policy ORDER BY model",
    )
    df["approved_versions"] = [" ".join(json.loads(v or "[]")) for v in df["approved_versions"]]
    return df


def schedules(conn: Connection) -> pd.DataFrame:
    return frame(
        conn,
        f"SELECT id, {SCHEDULE_COLUMNS}, updated_by, updated_at FROM maintenance_schedules "
        "ORDER BY task_type, scope_type, scope_id",
    )


def models(conn: Connection) -> list[str]:
    """Every model in the inventory (gateways and terminals)."""
    rows = conn.execute(
        "SELECT model FROM gateways WHERE model != '' UNION "
        "SELECT model FROM terminals WHERE model != '' ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def tasks(conn: Connection) -> list[str]:
    return task_types(conn)


def maintenance_due_alerts(conn: Connection, region: str) -> tuple[pd.DataFrame, int]:
    """Active planning alerts (maintenance overdue) by region: apart from the outages, with
    their own count; never paged."""
    where = f"state != 'resolved' AND kind IN ({', '.join('?' * len(PLANNING))})"
    params: list[str] = list(PLANNING)
    if region:
        where += " AND region_id = ?"
        params.append(region)
    df = frame(
        conn,
        f"SELECT region_id, COUNT(*) AS overdue, MIN(started_at) AS started_at FROM alerts "
        f"WHERE {where} GROUP BY region_id ORDER BY COUNT(*) DESC, region_id",
        params,
    )
    return df, int(df["overdue"].sum()) if len(df) else 0
