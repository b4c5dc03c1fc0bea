"""Read side of the console: SQL that aggregates in SQLite and pages, never loads the fleet.

Every function takes a read-only connection (``open_ro``; either engine, ``collector.store.db``)
and returns a DataFrame or plain
values; Streamlit caching and widgets live in ``dashboard.ui`` (one exception:
``past_reliability``, a figure of finished days kept per process). ``now`` is passed in.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from collector import places, sla
from collector.alerts.model import PLANNING_KINDS
from collector.status import effective
from collector.store import db as store_db
from collector.store.times import to_db

# Effective status (overlays, and terminals behind a gateway that is not online counted
# unknown) is ``collector.status``: the one definition the metrics count with too.
SEVERITY_RANK = {
    "down": 5,
    "late": 4,
    "unknown": 3,
    "maintenance": 2,
    "suspended": 1,
    "online": 0,
}
STATUS_COLOURS = {
    "down": "#d62728",
    "late": "#ff7f0e",
    "unknown": "#7f7f7f",
    "maintenance": "#1f77b4",
    "suspended": "#9467bd",
    "online": "#2ca02c",
}
STALE_CONTACT_DAYS = 90


@contextmanager
def open_ro(db: str | Path) -> Iterator[store_db.Connection]:
    """A read-only connection (an SQLite file opened read-only, a PostgreSQL session in
    read-only transactions): the console can never write through a read query."""
    target = db if store_db.is_postgres(db) else Path(db).resolve()
    conn = store_db.connect(target, readonly=True)
    try:
        yield conn
    finally:
        conn.close()


def frame(conn: store_db.Connection, sql: str, params: Any = ()) -> pd.DataFrame:
    cur = conn.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return pd.DataFrame(cur.fetchall(), columns=cols)


# ------------------------------------------------------------------ overview
def status_by_region(conn: store_db.Connection, now: datetime) -> pd.DataFrame:
    """Gateways and terminals by region and effective status (``collector.status``) at
    ``now``: one scan per table, shared by the Overview's counts and its regions table."""
    parts = [
        f"SELECT '{t}' AS subject, {places.of_table(t, 'x', 'region_id')} AS region_id, "
        f"{effective(conn, now, t, 'x')} AS status, "
        f"COUNT(*) AS n FROM {t} x WHERE x.registered = 1 GROUP BY 2, 3"
        for t in ("gateways", "terminals")
    ]
    return frame(conn, " UNION ALL ".join(parts))


def status_counts(conn: store_db.Connection, now: datetime) -> pd.DataFrame:
    """Gateways and terminals by effective status at ``now``."""
    return totals(status_by_region(conn, now))


def totals(by_region: pd.DataFrame) -> pd.DataFrame:
    """``status_by_region`` summed over regions: subject, status, n."""
    return by_region.groupby(["subject", "status"], as_index=False)["n"].sum()


def outage_trend(conn: store_db.Connection, now: datetime, days: int = 30) -> pd.DataFrame:
    """New outages per day (state changes to down), gateways and terminals."""
    return frame(
        conn,
        "SELECT substr(at, 1, 10) AS day, subject_type, COUNT(*) AS outages FROM state_changes "
        "WHERE at >= ? AND to_status = 'down' GROUP BY 1, 2 ORDER BY 1",
        (to_db(now - timedelta(days=days)),),
    )


SLA_GROUPS = {"region_id": "region", "site_id": "site", "model": "model"}


def _gateway_incidents(conn: store_db.Connection, start: datetime, end: datetime) -> list[Any]:
    cur = conn.execute(
        f"SELECT {sla.Incident.COLUMNS} FROM incidents WHERE subject_type = 'gateway' "
        "AND started_at < ? AND (ended_at IS NULL OR ended_at > ?)",
        (to_db(end), to_db(start)),
    )
    return [sla.Incident.from_values(*r) for r in cur]


# The gateways counted in the figures, and each one's first sighting (its first state change).
_COUNTED = "g.registered = 1 AND g.decommissioned = 0"
_FIRST_SIGHTING = (
    "(SELECT MIN(sc.at) FROM state_changes sc WHERE sc.subject_type = 'gateway' "
    "AND sc.subject_id = g.gateway_id)"  # one probe of index state_changes_subject
)


def _subjects(conn: store_db.Connection) -> list[sla.Subject]:
    """The gateways counted in the figures, each observed from the first time the collector
    saw it (its first state change; never seen: not observed). ``install_date`` is not
    evidence: it is paperwork, often years before the collector watched the device."""
    from collector.store.times import from_db_opt

    return [
        sla.Subject("gateway", gw, from_db_opt(first), site or "", region or "", model or "")
        for gw, site, region, model, first in conn.execute(
            "SELECT g.gateway_id, g.site_id, g.region_id, g.model, "
            f" {_FIRST_SIGHTING} FROM gateways g WHERE {_COUNTED}"
        )
    ]


def _cohorts(conn: store_db.Connection, start: datetime, end: datetime) -> list[sla.Cohort]:
    """``_subjects`` counted by first sighting (a few hundred rows, not one object per
    gateway), plus the gateways outside them that had an incident in [start, end), counted
    as seen at ``start`` as ``sla.reliability`` counts them."""
    from collector.store.times import from_db_opt

    cohorts = [
        sla.Cohort(from_db_opt(first), int(n))
        for first, n in conn.execute(
            f"SELECT f.first_at, COUNT(*) FROM (SELECT {_FIRST_SIGHTING} AS first_at "
            f"FROM gateways g WHERE {_COUNTED}) AS f GROUP BY f.first_at"
        )
    ]
    (outside,) = conn.execute(
        "SELECT COUNT(DISTINCT i.subject_id) FROM incidents i WHERE i.subject_type = 'gateway' "
        "AND i.started_at < ? AND (i.ended_at IS NULL OR i.ended_at > ?) AND NOT EXISTS "
        f"(SELECT 1 FROM gateways g WHERE g.gateway_id = i.subject_id AND {_COUNTED})",
        (to_db(end), to_db(start)),
    ).fetchone()
    if outside:
        cohorts.append(sla.Cohort(start, int(outside)))
    return cohorts


def fleet_reliability(conn: store_db.Connection, start: datetime, end: datetime) -> sla.Reliability:
    """The whole fleet's gateway figures in [start, end) (see ``reliability``): the same
    figures as ``sla.reliability(..., subjects=_subjects(conn))``, with the population
    counted in SQL (25,000 gateways at 100,000 terminals: 0.1 s of Python objects saved)."""
    incidents = _gateway_incidents(conn, start, end)
    return sla.reliability(incidents, start, end, cohorts=_cohorts(conn, start, end))


_PAST: dict[tuple[str, datetime, datetime], tuple[float, sla.Reliability]] = {}
_PAST_LOCK = threading.Lock()
PAST_TTL_S = 600.0


def past_reliability(
    db: str | Path, start: datetime, end: datetime, *, fresh: bool = False
) -> sla.Reliability:
    """``fleet_reliability`` of a finished period (the month's days before today), kept for
    ``PAST_TTL_S`` (late corrections) in this process, across viewers and refresh cycles.
    ``dashboard.serve`` computes the current month's before the console opens its port, so
    a restarted console's first viewer does not wait for a month of incidents, and again
    (``fresh``: whatever is kept) before the kept one expires, so no later viewer does."""
    key = (str(db), start, end)
    mono = time.monotonic()
    with _PAST_LOCK:
        hit = _PAST.get(key)
        if not fresh and hit is not None and mono - hit[0] < PAST_TTL_S:
            return hit[1]
    with open_ro(db) as conn:
        figures = fleet_reliability(conn, start, end)
    with _PAST_LOCK:
        if len(_PAST) > 64:  # a few stores x a few periods; never grows without bound
            _PAST.clear()
        _PAST[key] = (mono, figures)
    return figures


def clear_past() -> None:
    """Forget every kept ``past_reliability`` figure (tests and the render benchmark)."""
    with _PAST_LOCK:
        _PAST.clear()


def reliability(
    conn: store_db.Connection, start: datetime, end: datetime, group: str | None = None
) -> pd.DataFrame:
    """Gateway availability, MTTR, MTBF in [start, end) by ``collector.sla`` (the shared rule:
    planned and administrative time is removed from the period, a fault inside a planned
    window does not count, a gateway counts only from when it was first seen).
    ``group``: region_id | site_id | model | None (whole fleet); groups are named (sites and
    regions) and listed worst first."""
    if group is None:
        figures = {"all": fleet_reliability(conn, start, end)}
    else:
        figures = sla.by_group(
            _gateway_incidents(conn, start, end),
            start,
            end,
            SLA_GROUPS[group],
            subjects=_subjects(conn),
        )
    df = reliability_frame(figures, group)
    if group in ("site_id", "region_id") and len(df):
        table = "sites" if group == "site_id" else "regions"
        names = dict(conn.execute(f"SELECT {group}, name FROM {table}").fetchall())
        df.insert(1, "name", [names.get(k, "") for k in df[group]])
    return df


def reliability_frame(
    figures: dict[str, sla.Reliability], group: str | None = None
) -> pd.DataFrame:
    """One row per group, the worst first (lowest availability, then most downtime).
    ``availability_pct`` is floored to 3 decimals, as the pages' availability figures are
    (``availability_text``), never rounded up: 15 minutes down in a region of 10 gateways over
    30 days reads 99.996, never 100; ``downtime_min`` stands next to it."""
    rows = []
    for name, r in figures.items():
        avail = r.availability
        rows.append(
            {
                group or "fleet": name,
                "gateways": r.subjects,
                "availability_pct": None if avail is None else floor_pct(avail),
                "downtime_min": round(r.downtime_s / 60, 1),
                "failures": r.failures,
                "mttr_min": None if r.mttr_s is None else round(r.mttr_s / 60, 1),
                "mtbf_h": None if r.mtbf_s is None else round(r.mtbf_s / 3600, 1),
                "_sort": 2.0 if avail is None else avail,
                "_down": -r.downtime_s,
            }
        )
    columns = [group or "fleet", "gateways", "availability_pct", "downtime_min", "failures",
               "mttr_min", "mtbf_h"]  # fmt: skip
    if not rows:
        return pd.DataFrame(columns=columns)
    df = pd.DataFrame(rows).sort_values(["_sort", "_down", group or "fleet"], kind="stable")
    return df[columns].reset_index(drop=True)


def floor_pct(avail: float, decimals: int = 3) -> float:
    """``avail`` (0..1) as a percentage floored to ``decimals``: never shown higher than it is."""
    scale = 10**decimals
    return float(math.floor(avail * 100 * scale + 1e-9) / scale)


def availability_text(avail: float | None, downtime_s: float) -> str:
    """What a page shows: 3 decimals floored, never rounded up (15 minutes down reads
    99.999 %, not 100.000 %), and the downtime in minutes when there was any."""
    if avail is None:
        return "n/a"
    shown = f"{math.floor(100_000 * avail) / 1000:.3f} %"
    if downtime_s > 0:
        shown += f" ({downtime_s / 60:.0f} min down)" if downtime_s >= 60 else " (<1 min down)"
    return shown


def site_map(conn: store_db.Connection, now: datetime) -> pd.DataFrame:
    """Sites merged per ~10 km cell (0.1 degree), coloured by the cell's worst status.

    One dot per cell, not per site: a few hundred to ~1,300 dots (``dashboard.charts``),
    where one per site would be 12,500 at 100,000 terminals. ``site_id`` is one of the
    cell's worst sites; ``problem_sites`` counts its sites that are not online.
    """
    rank = " ".join(f"WHEN '{s}' THEN {r}" for s, r in SEVERITY_RANK.items())
    g_eff = effective(conn, now, "gateways", "g")
    df = frame(
        conn,
        f"SELECT s.site_id, s.lat, s.lon, "
        f"MAX(CASE {g_eff} {rank} ELSE 0 END) AS worst "
        "FROM gateways g JOIN sites s ON s.site_id = g.site_id "
        "WHERE g.registered = 1 AND g.decommissioned = 0 AND s.lat IS NOT NULL "
        "GROUP BY s.site_id",
    )
    names = {r: s for s, r in SEVERITY_RANK.items()}
    out = (
        df.assign(lat=df["lat"].round(1), lon=df["lon"].round(1), problem=df["worst"] > 0)
        .sort_values(["worst", "site_id"], ascending=[False, True])
        .groupby(["lat", "lon"], as_index=False, sort=False)
        .agg(
            worst=("worst", "first"),
            site_id=("site_id", "first"),
            sites=("site_id", "size"),
            problem_sites=("problem", "sum"),
        )
    )
    out["status"] = out["worst"].map(names)
    out["colour"] = out["status"].map(STATUS_COLOURS)
    return out.drop(columns=["worst"])


def down_sites(conn: store_db.Connection, now: datetime) -> pd.DataFrame:
    """Stores whose every gateway is down (effective status, ``collector.status``: a store in
    maintenance or suspended is not down), since the last of them went down, newest first."""
    status = effective(conn, now, "gateways", "g")
    return frame(
        conn,
        "SELECT s.site_id, s.name, s.region_id, s.merchant_name, s.merchant_contact, "
        "COUNT(*) AS gateways, MAX(g.status_since) AS since "
        "FROM gateways g JOIN sites s ON s.site_id = g.site_id "
        "WHERE g.registered = 1 AND g.decommissioned = 0 "
        "GROUP BY s.site_id, s.name, s.region_id, s.merchant_name, s.merchant_contact "
        f"HAVING SUM(CASE WHEN {status} = 'down' THEN 1 ELSE 0 END) = COUNT(*) "
        "ORDER BY MAX(g.status_since) IS NULL, MAX(g.status_since) DESC, s.site_id",
    )


def regions(conn: store_db.Connection, now: datetime) -> pd.DataFrame:
    """Each region: on-call contact, gateways and terminals, how many are down and
    (terminals) how many the collector cannot see, alerts firing."""
    return with_counts(region_contacts(conn, now), status_by_region(conn, now))


def region_contacts(conn: store_db.Connection, now: datetime) -> pd.DataFrame:
    """Each region's on-call contact (flagged stale after ``STALE_CONTACT_DAYS``) and its
    firing alerts."""
    df = frame(
        conn,
        "SELECT r.region_id, r.name, r.oncall_name, r.oncall_contact, r.contact_verified_at, "
        " (SELECT COUNT(*) FROM alerts a WHERE a.region_id = r.region_id "
        "   AND a.state = 'firing' AND a.kind != 'maintenance_overdue') AS alerts_firing "
        "FROM regions r ORDER BY r.region_id",
    )
    stale_before = to_db(now - timedelta(days=STALE_CONTACT_DAYS))
    df["contact_stale"] = df["contact_verified_at"].isna() | (
        df["contact_verified_at"].fillna("") < stale_before
    )
    return df


def with_counts(contacts: pd.DataFrame, by_region: pd.DataFrame) -> pd.DataFrame:
    """``region_contacts`` with the region's counts from ``status_by_region``."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for subject, region, status, n in by_region[["subject", "region_id", "status", "n"]].itertuples(
        index=False
    ):
        per = counts.setdefault((str(subject), str(region)), {})
        per[str(status)] = per.get(str(status), 0) + int(n)

    def column(subject: str, status: str | None) -> list[int]:
        out = []
        for region in contacts["region_id"]:
            per = counts.get((subject, str(region)), {})
            out.append(sum(per.values()) if status is None else per.get(status, 0))
        return out

    df = contacts.drop(columns=["alerts_firing", "contact_stale"])
    df["gateways"] = column("gateways", None)
    df["gateways_down"] = column("gateways", "down")
    df["terminals"] = column("terminals", None)
    df["terminals_down"] = column("terminals", "down")
    df["terminals_unknown"] = column("terminals", "unknown")
    df["alerts_firing"] = contacts["alerts_firing"]
    df["contact_stale"] = contacts["contact_stale"]
    return df


# ------------------------------------------------------------------ alerts
@dataclass(frozen=True)
class AlertFilter:
    region: str = ""
    severity: str = ""
    kind: str = ""
    ack: str = "all"  # all | unacked | acked
    states: tuple[str, ...] = ("firing", "pending")

    def where(self) -> tuple[str, list[Any]]:
        # Outages and faults only: planning work (maintenance overdue) is listed apart
        # (queries_policies.maintenance_due_alerts), so 200 overdue terminals bury nothing.
        clauses = [
            f"state IN ({', '.join('?' * len(self.states))})",
            f"kind NOT IN ({', '.join('?' * len(PLANNING_KINDS))})",
        ]
        params: list[Any] = [*self.states, *sorted(k.value for k in PLANNING_KINDS)]
        for col, value in (("region_id", self.region), ("severity", self.severity),
                           ("kind", self.kind)):  # fmt: skip
            if value:
                clauses.append(f"{col} = ?")
                params.append(value)
        if self.ack == "unacked":
            clauses.append("acked_at IS NULL")
        elif self.ack == "acked":
            clauses.append("acked_at IS NOT NULL")
        return " AND ".join(clauses), params


ALERT_COLUMNS = (
    "id, kind, severity, state, escalation, subject_type, subject_id, region_id, site_id, "
    "summary, started_at, fired_at, acked_by, acked_at, ack_note, inhibited_by"
)


def alerts(
    conn: store_db.Connection,
    region: str,
    severity: str,
    kind: str,
    ack: str,
    limit: int,
    offset: int,
) -> tuple[pd.DataFrame, int]:
    where, params = AlertFilter(region, severity, kind, ack).where()
    total = conn.execute(f"SELECT COUNT(*) FROM alerts WHERE {where}", params).fetchone()[0]
    df = frame(
        conn,
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE {where} "
        "ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, "
        "started_at DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return df, int(total)


def alert_facets(conn: store_db.Connection) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for col in ("region_id", "severity", "kind"):
        rows = conn.execute(
            f"SELECT DISTINCT {col} FROM alerts WHERE state != 'resolved' "
            f"AND kind NOT IN ({', '.join('?' * len(PLANNING_KINDS))}) ORDER BY 1",
            sorted(k.value for k in PLANNING_KINDS),
        ).fetchall()
        out[col] = [r[0] for r in rows if r[0]]
    return out


# ------------------------------------------------------------------ search
LIKE_ESCAPE = "\\"  # one backslash: every LIKE below says ESCAPE '\', on both engines


_ESC = f"ESCAPE '{LIKE_ESCAPE}'"


def like_literal(text: str) -> str:
    """``text`` for a LIKE pattern, matched as typed: an operator's ``%`` or ``_`` (ids such
    as ``pp_01`` hold underscores) is a character, not a wildcard that matches everything."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def _search_sql(conn: store_db.Connection, now: datetime) -> str:
    g_eff, t_eff = (
        effective(conn, now, "gateways", "g"),
        effective(conn, now, "terminals", "t"),
    )
    return (
        f"SELECT 'gateway' AS type, g.gateway_id AS id, g.serial, g.site_id, {g_eff} AS status "
        f"FROM gateways g WHERE g.gateway_id LIKE :q {_ESC} OR g.serial LIKE :q {_ESC} "
        f"UNION ALL SELECT 'terminal', t.terminal_id, t.serial, {places.site('t')}, {t_eff} "
        f"FROM terminals t WHERE t.terminal_id LIKE :q {_ESC} OR t.serial LIKE :q {_ESC} "
        "UNION ALL SELECT 'site', site_id, merchant_name, site_id, '' FROM sites "
        f"WHERE site_id LIKE :q {_ESC} OR merchant_name LIKE :q {_ESC} OR name LIKE :q {_ESC}"
    )


def search(
    conn: store_db.Connection, text: str, now: datetime, limit: int = 20
) -> tuple[pd.DataFrame, int]:
    """Any id, serial or merchant name: exact ids and serials first, then prefixes, each with
    its effective status at ``now``; the first ``limit`` hits and how many there are in all
    (the sidebar offers "more")."""
    args = {"q": like_literal(text.strip()) + "%", "exact": text.strip(), "limit": limit}
    sql = _search_sql(conn, now)
    total = conn.execute(
        f"SELECT COUNT(*) FROM ({sql}) AS hits", {k: v for k, v in args.items() if k == "q"}
    ).fetchone()[0]
    df = frame(
        conn,
        f"SELECT * FROM ({sql}) AS hits ORDER BY (id = :exact OR serial = :exact) DESC, type, id "
        "LIMIT :limit",
        args,
    )
    return df, int(total)


def audit_log(
    conn: store_db.Connection, actor: str, limit: int, offset: int
) -> tuple[pd.DataFrame, int]:
    where, params = ("WHERE actor = ?", [actor]) if actor else ("", [])
    total = conn.execute(f"SELECT COUNT(*) FROM audit_log {where}", params).fetchone()[0]
    df = frame(
        conn,
        f"SELECT at, actor, action, subject, details FROM audit_log {where} "
        "ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return df, int(total)


def alert_context(conn: store_db.Connection, ids: tuple[int, ...]) -> pd.DataFrame:
    """The fields an alert's text is composed from beyond the listed columns (gateway,
    details, the store's name), for the alerts ``ids`` (one page of them)."""
    if not ids:
        return pd.DataFrame(
            columns=["id", "site_id", "region_id", "gateway_id", "details", "site_name"]
        )
    marks = ", ".join("?" * len(ids))
    return frame(
        conn,
        "SELECT a.id, a.site_id, a.region_id, a.gateway_id, a.details, s.name AS site_name "
        "FROM alerts a "
        f"LEFT JOIN sites s ON s.site_id = a.site_id WHERE a.id IN ({marks})",
        list(ids),
    )
