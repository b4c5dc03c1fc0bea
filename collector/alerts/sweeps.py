"""Fleet sweeps that run a chunk at a time, never a 100,000-row scan inside one tick.

- maintenance_overdue: due dates move slowly, so terminals are swept continuously,
  ``maintenance_chunk`` every ``poll_maintenance_s``, with ``collector.maintenance``;
- firmware_non_compliant after a policy change: one pass over the stored firmware versions
  (between changes, firmware messages keep compliance current).
"""

from __future__ import annotations

from datetime import datetime

from collector import places
from collector.alerts.model import Key, Kind, Place
from collector.alerts.rules import Verdict, firmware_verdict
from collector.alerts.versions import FirmwarePolicy
from collector.maintenance import DueState, MaintenancePolicy, Usage
from collector.model import SubjectType
from collector.schedules import Schedule, device_due
from collector.store import db
from collector.store.policies import load_done
from collector.store.times import from_db_opt


def load_maintenance_policies(conn: db.Connection) -> dict[str, MaintenancePolicy]:
    eos = {
        model: from_db_opt(at)
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


def _page(conn: db.Connection, key: str, cursor: object) -> tuple[str, object]:
    """The column a sweep pages by and the cursor to start from (None: the beginning):
    SQLite's rowid, or the primary key on PostgreSQL (no rowid there)."""
    if db.dialect(conn) == "sqlite":
        return "rowid", 0 if cursor is None else cursor
    return key, "" if cursor is None else cursor


class OverdueSweep:
    def __init__(self, chunk: int) -> None:
        self.chunk = chunk
        self.cursor: object = None  # paging key of the last row looked at (None: start)
        self.policies: dict[str, MaintenancePolicy] = {}
        self.schedules: list[Schedule] = []  # per task type and scope (collector.schedules)

    def step(self, conn: db.Connection, now: datetime) -> list[Verdict]:
        """Evaluate the next chunk; wraps around at the end of the table."""
        col, cursor = _page(conn, "terminal_id", self.cursor)
        rows = conn.execute(
            f"SELECT t.{col}, t.terminal_id, t.gateway_id, {places.site('t')}, "
            f"{places.region('t')}, t.model, t.install_date, t.last_service_at, "
            "t.receipts_printed, t.receipts_at_service, t.error_count, t.errors_at_service, "
            f"t.battery_health_pct FROM terminals t "
            f"WHERE t.{col} > ? AND t.decommissioned = 0 ORDER BY t.{col} LIMIT ?",
            (cursor, self.chunk),
        ).fetchall()
        self.cursor = rows[-1][0] if len(rows) == self.chunk else None
        done = load_done(conn, [r[1] for r in rows]) if self.schedules else {}
        out = []
        for r in rows:
            _, tid, gw, site, region, model = r[:6]
            usage = Usage(from_db_opt(r[6]), from_db_opt(r[7]), r[8], r[9], r[10], r[11], r[12])
            state, due_at, reason = device_due(
                self.policies.get(model),
                self.schedules,
                (model, region, site),
                usage,
                done.get(tid, {}),
                now,
            )
            place = Place(region, site, gw, tid, model)
            where = f" (site {site})" if site else ""
            summary = f"Terminal {tid}{where} maintenance overdue: {reason}" + (
                f" (due {due_at:%Y-%m-%d})" if due_at and due_at <= now else ""
            )
            key = Key(Kind.MAINTENANCE_OVERDUE, SubjectType.TERMINAL, tid)
            out.append(Verdict(key, state is DueState.OVERDUE, place, summary))
        return out


class FirmwareSweep:
    """One pass over gateways then terminals, started by a firmware policy change."""

    TABLES = (
        (
            SubjectType.GATEWAY,
            "gateway_id",
            "gateway_id, gateway_id, site_id, region_id, model, "
            "coalesce(firmware_version, os_version) FROM gateways",
        ),
        (
            SubjectType.TERMINAL,
            "terminal_id",
            # A terminal listed without a place of its own is paged where its gateway is.
            f"terminal_id, gateway_id, {places.site('terminals')}, "
            f"{places.region('terminals')}, model, firmware_version FROM terminals",
        ),
    )

    def __init__(self, chunk: int) -> None:
        self.chunk = chunk
        self.table: int | None = None  # index into TABLES while a pass runs
        self.cursor: object = None

    def start(self) -> None:
        self.table, self.cursor = 0, None

    @property
    def running(self) -> bool:
        return self.table is not None

    def step(
        self, conn: db.Connection, policies: dict[str, FirmwarePolicy], now: datetime
    ) -> list[Verdict]:
        if self.table is None:
            return []
        st, key, select = self.TABLES[self.table]
        col, cursor = _page(conn, key, self.cursor)
        rows = conn.execute(
            f"SELECT {col}, {select} WHERE {col} > ? AND decommissioned = 0 ORDER BY {col} LIMIT ?",
            (cursor, self.chunk),
        ).fetchall()
        if len(rows) == self.chunk:
            self.cursor = rows[-1][0]
        else:
            self.cursor = None
            self.table = self.table + 1 if self.table + 1 < len(self.TABLES) else None
        out = []
        for _, sid, gw, site, region, model, version in rows:
            place = Place(region, site, gw, sid if st is SubjectType.TERMINAL else "", model)
            v = firmware_verdict(st, sid, place, model, version, policies.get(model), now)
            if v is not None:
                out.append(v)
        return out
