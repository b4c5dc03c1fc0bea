"""maintenance_overdue: a rolling sweep over terminals using ``collector.maintenance``.

Due dates move slowly, so the fleet is swept a chunk at a time (``maintenance_chunk``
terminals every ``poll_maintenance_s``), never a 100,000-row scan inside one tick.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from collector.alerts.model import Key, Kind, Place
from collector.alerts.repository import parse
from collector.alerts.rules import Verdict
from collector.maintenance import DueState, MaintenancePolicy, Usage, compute_due
from collector.model import SubjectType


def load_maintenance_policies(conn: sqlite3.Connection) -> dict[str, MaintenancePolicy]:
    eos = {
        model: parse(at)
        for model, at in conn.execute("SELECT model, end_of_support FROM firmware_policy")
    }
    out = {}
    for model, interval, receipts, battery, errors, soon in conn.execute(
        "SELECT model, service_interval_days, max_receipts, min_battery_health_pct, "
        "max_error_count, due_soon_days FROM maintenance_policy"
    ):
        out[model] = MaintenancePolicy(
            model, interval, receipts, battery, errors, soon, end_of_support=eos.get(model)
        )
    return out


class OverdueSweep:
    def __init__(self, chunk: int) -> None:
        self.chunk = chunk
        self.cursor = 0  # terminals.rowid of the last row looked at
        self.policies: dict[str, MaintenancePolicy] = {}

    def step(self, conn: sqlite3.Connection, now: datetime) -> list[Verdict]:
        """Evaluate the next chunk; wraps around at the end of the table."""
        rows = conn.execute(
            "SELECT rowid, terminal_id, gateway_id, site_id, region_id, model, install_date, "
            "last_service_at, receipts_printed, receipts_at_service, error_count, "
            "errors_at_service, battery_health_pct FROM terminals "
            "WHERE rowid > ? AND decommissioned = 0 ORDER BY rowid LIMIT ?",
            (self.cursor, self.chunk),
        ).fetchall()
        self.cursor = rows[-1][0] if len(rows) == self.chunk else 0
        out = []
        for r in rows:
            _, tid, gw, site, region, model = r[:6]
            usage = Usage(parse(r[6]), parse(r[7]), r[8], r[9], r[10], r[11], r[12])
            due = compute_due(self.policies.get(model), usage, now)
            place = Place(region, site, gw, tid, model)
            where = f" (site {site})" if site else ""
            summary = f"Terminal {tid}{where} maintenance overdue: {due.reason}" + (
                f" (due {due.due_at:%Y-%m-%d})" if due.due_at and due.due_at <= now else ""
            )
            key = Key(Kind.MAINTENANCE_OVERDUE, SubjectType.TERMINAL, tid)
            out.append(Verdict(key, due.state is DueState.OVERDUE, place, summary))
        return out
