"""SQLite I/O around the engine: load state, write the outbox, read operator actions.

Runs on the collector's processing thread with the batch's connection: never commits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from collector.alerts.engine import Outbox
from collector.alerts.model import (
    DOWN_KINDS,
    Alert,
    AlertState,
    Blocker,
    Key,
    Kind,
    Place,
    SiteChange,
)
from collector.alerts.topology import Topology
from collector.alerts.versions import FirmwarePolicy
from collector.alerts.windows import Window
from collector.model import Liveness, SubjectType
from collector.store import db
from collector.store.meta import TERMINAL_MOVES
from collector.store.times import from_db, from_db_opt, to_db


# ---------------------------------------------------------------------- topology
def load_topology(conn: db.Connection, topology: Topology) -> None:
    for gw, site, region, model, status, decom in conn.execute(
        "SELECT gateway_id, site_id, region_id, model, status, decommissioned FROM gateways"
    ):
        topology.set_gateway(
            gw,
            site_id=site,
            region_id=region,
            model=model,
            status=_liveness(status),
            decommissioned=bool(decom),
        )
    for row in conn.execute(f"SELECT terminal_id, {TERMINAL_PLACE} FROM terminals"):
        set_terminal(topology, *row)


# A terminal's place in the topology, as ``set_terminal`` takes it after the terminal's id.
TERMINAL_PLACE = "gateway_id, site_id, region_id, model, decommissioned"


def set_terminal(
    topology: Topology,
    terminal_id: str,
    gateway_id: str,
    site_id: str,
    region_id: str,
    model: str,
    decommissioned: object,
) -> None:
    """Put a terminal in ``topology`` from its row's ``TERMINAL_PLACE`` columns."""
    topology.set_terminal(
        terminal_id,
        gateway_id=gateway_id,
        site_id=site_id,
        region_id=region_id,
        model=model,
        decommissioned=bool(decommissioned),
    )


def terminal_moves(
    conn: db.Connection, since: int | None, topology: Topology
) -> tuple[int, list[str]]:
    """The inventory's move counter (``meta.TERMINAL_MOVES``, one primary-key read) and,
    when it is not ``since``, the terminals moved after ``since`` (None: none, just the
    counter), put behind their gateway now in ``topology``."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (TERMINAL_MOVES,)).fetchone()
    mark = 0 if row is None else int(row[0])
    if since is None or mark == since:
        return mark, []
    # A counter below ours: the store was restored from a backup; re-read every move.
    moved = []
    for row in conn.execute(
        f"SELECT terminal_id, {TERMINAL_PLACE} FROM terminals "
        "WHERE moved_seq > ? AND registered = 1",
        (since if mark > since else 0,),
    ):
        set_terminal(topology, *row)
        moved.append(str(row[0]))
    return mark, moved


def topology_marker(conn: db.Connection) -> tuple[Any, ...]:
    """Cheap "did the inventory change?" marker (counts and max rowids; PostgreSQL has no
    rowid: a sum of the ids' hashes, which any insert or delete moves)."""
    row = conn.execute(_MARKER[db.dialect(conn)]).fetchone()
    return tuple(row)


_MARKER: dict[db.Dialect, str] = {
    "sqlite": "SELECT (SELECT count(*) FROM gateways), (SELECT max(rowid) FROM gateways), "
    "(SELECT count(*) FROM terminals), (SELECT max(rowid) FROM terminals), "
    "(SELECT count(*) FROM gateways WHERE decommissioned = 1)",
    "postgresql": "SELECT (SELECT count(*) FROM gateways), "
    "(SELECT coalesce(sum(hashtext(gateway_id)), 0) FROM gateways), "
    "(SELECT count(*) FROM terminals), "
    "(SELECT coalesce(sum(hashtext(terminal_id)), 0) FROM terminals), "
    "(SELECT count(*) FROM gateways WHERE decommissioned = 1)",
}


def _liveness(value: str) -> Liveness:
    try:
        return Liveness(value)
    except ValueError:
        return Liveness.UNKNOWN


# ---------------------------------------------------------------------- alerts
_COLS = (
    "id, kind, subject_type, subject_id, severity, state, region_id, site_id, gateway_id, "
    "terminal_id, summary, started_at, fired_at, resolved_at, acked_by, acked_at, escalation, "
    "inhibited_by, details, snoozed_until"
)


def load_active_alerts(conn: db.Connection) -> list[Alert]:
    rows = conn.execute(
        f"SELECT {_COLS} FROM alerts WHERE state IN ('pending', 'firing', 'suppressed')"
    ).fetchall()
    keys: dict[int, Key] = {}
    out: list[tuple[Alert, int | None]] = []
    for r in rows:
        try:
            key = Key(Kind(r[1]), SubjectType(r[2]), r[3])
        except ValueError:
            continue  # a kind this version does not manage (e.g. written by a newer one)
        details = json.loads(r[18] or "{}")
        started = from_db(r[11])
        blocker = details.pop("blocker", None)
        alert = Alert(
            key=key,
            state=AlertState(r[5]),
            severity=r[4],
            started_at=started,
            pending_since=from_db_opt(details.pop("pending_since", None)) or started,
            place=Place(r[6], r[7], r[8], r[9], details.pop("model", "")),
            summary=r[10],
            id=r[0],
            fired_at=from_db_opt(r[12]),
            resolved_at=from_db_opt(r[13]),
            acked_by=r[14],
            acked_at=from_db_opt(r[15]),
            escalation=r[16],
            blocker=Blocker(blocker) if blocker else None,
            details=details,
            snoozed_until=from_db_opt(r[19]),
        )
        keys[r[0]] = key
        out.append((alert, r[17]))
    for alert, parent_id in out:
        alert.inhibited_by = keys.get(parent_id) if parent_id is not None else None
    return [a for a, _ in out]


def refresh_acks(conn: db.Connection, active: dict[Key, Alert]) -> None:
    """Copy operators' acknowledgements and snoozes (written by the dashboard) onto active
    alerts. A snooze can be set again (a later time), so it is copied whenever it differs."""
    by_id = {a.id: a for a in active.values() if a.id is not None}
    for alert_id, by, at, snoozed in conn.execute(
        "SELECT id, acked_by, acked_at, snoozed_until FROM alerts "
        "WHERE state IN ('pending', 'firing', 'suppressed') "
        "AND (acked_at IS NOT NULL OR snoozed_until IS NOT NULL)"
    ):
        alert = by_id.get(alert_id)
        if alert is None:
            continue
        if at is not None and alert.acked_at is None:
            alert.acked_by, alert.acked_at = by, from_db_opt(at)
        alert.snoozed_until = from_db_opt(snoozed)


def write(conn: db.Connection, out: Outbox, resolve: Callable[[Key], int | None]) -> None:
    """Persist an outbox. Existing rows first (a reopened alert's old row must be resolved
    before its successor is inserted: one active row per identity), then new rows, then
    the parent links that needed a new row's id."""
    fresh = [a for a in out.alerts if a.id is None]
    fresh_ids = {id(a) for a in fresh}  # identity: Alert's dataclass __eq__ compares values
    for a in out.alerts:
        if a.id is not None:
            _update(conn, a, resolve)
    for a in fresh:
        a.id = _insert(conn, a)
    for a in out.alerts:
        if a.inhibited_by is not None or id(a) in fresh_ids:
            conn.execute(
                "UPDATE alerts SET inhibited_by = ? WHERE id = ?",
                (resolve(a.inhibited_by) if a.inhibited_by else None, a.id),
            )
    conn.executemany(
        "INSERT INTO alert_events (alert_id, at, from_state, to_state, actor, note) "
        "VALUES (?, ?, ?, ?, 'collector', ?)",
        [(e.alert.id, to_db(e.at), e.from_state, e.to_state, e.note) for e in out.events],
    )
    for c in out.incident_classes:
        # Only a fault is re-classed: a graceful planned offline already says planned.
        conn.execute(
            "UPDATE incidents SET class = ?, notes = CASE WHEN notes = '' THEN ? ELSE notes END "
            "WHERE subject_type = ? AND subject_id = ? AND ended_at IS NULL AND class = 'fault'",
            (c.cls, c.reason, c.subject_type.value, c.subject_id),
        )
    for s in out.site_changes:
        _site_change(conn, s)


def _details(a: Alert) -> str:
    d = dict(a.details)
    d["pending_since"] = to_db(a.pending_since)
    if a.blocker is not None and a.state is AlertState.SUPPRESSED:
        d["blocker"] = a.blocker.value
    if a.place.model:
        d["model"] = a.place.model
    return json.dumps(d, sort_keys=True, default=str)


def _insert(conn: db.Connection, a: Alert) -> int:
    incident = None
    if a.key.kind in DOWN_KINDS:
        row = conn.execute(
            "SELECT id FROM incidents WHERE subject_type = ? AND subject_id = ? "
            "AND ended_at IS NULL",
            (a.key.subject_type.value, a.key.subject_id),
        ).fetchone()
        incident = row[0] if row else None
    terminal = a.key.subject_id if a.key.subject_type is SubjectType.TERMINAL else ""
    gateway = a.place.gateway_id or (
        a.key.subject_id if a.key.subject_type is SubjectType.GATEWAY else ""
    )
    cur = conn.execute(
        "INSERT INTO alerts (kind, subject_type, subject_id, severity, state, region_id, "
        "site_id, gateway_id, terminal_id, summary, started_at, fired_at, resolved_at, "
        "escalation, incident_id, details) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "RETURNING id",
        (
            a.key.kind.value,
            a.key.subject_type.value,
            a.key.subject_id,
            a.severity,
            a.state.value,
            a.place.region_id,
            a.place.site_id,
            gateway,
            terminal,
            a.summary,
            to_db(a.started_at),
            _opt(a.fired_at),
            _opt(a.resolved_at),
            a.escalation,
            incident,
            _details(a),
        ),
    )
    return int(cur.fetchone()[0])


def _update(conn: db.Connection, a: Alert, resolve: Callable[[Key], int | None]) -> None:
    # Never touches acked_* / ack_note: those belong to the operators (dashboard process).
    conn.execute(
        "UPDATE alerts SET severity = ?, state = ?, summary = ?, fired_at = ?, resolved_at = ?, "
        "escalation = ?, inhibited_by = ?, details = ?, region_id = ?, site_id = ?, "
        "gateway_id = ? WHERE id = ?",
        (
            a.severity,
            a.state.value,
            a.summary,
            _opt(a.fired_at),
            _opt(a.resolved_at),
            a.escalation,
            resolve(a.inhibited_by) if a.inhibited_by else None,
            _details(a),
            # A terminal the inventory moved takes its alerts along (AlertEngine.relocate).
            a.place.region_id,
            a.place.site_id,
            a.place.gateway_id
            or (a.key.subject_id if a.key.subject_type is SubjectType.GATEWAY else ""),
            a.id,
        ),
    )


def _opt(at: datetime | None) -> str | None:
    return to_db(at) if at is not None else None


def _site_change(conn: db.Connection, s: SiteChange) -> None:
    frm, to = ("online", "down") if s.down else ("down", "online")
    conn.execute(
        "INSERT INTO state_changes (subject_type, subject_id, from_status, to_status, at, reason) "
        "VALUES ('site', ?, ?, ?, ?, 'children')",
        (s.site_id, frm, to, to_db(s.at)),
    )
    if s.down:
        conn.execute(
            "INSERT INTO incidents (subject_type, subject_id, site_id, region_id, "
            "started_at, class, detected_by) VALUES ('site', ?, ?, ?, ?, ?, 'children') "
            "ON CONFLICT DO NOTHING",
            (s.site_id, s.site_id, s.place.region_id, to_db(s.at), s.cls),
        )
    else:
        conn.execute(
            "UPDATE incidents SET ended_at = ? "
            "WHERE subject_type = 'site' AND subject_id = ? AND ended_at IS NULL",
            (to_db(s.at), s.site_id),
        )


def down_subjects(conn: db.Connection) -> list[tuple[SubjectType, str, str, datetime | None]]:
    """Gateways and terminals the store says are down (indexed by status)."""
    out: list[tuple[SubjectType, str, str, datetime | None]] = [
        (SubjectType.GATEWAY, gw, gw, from_db_opt(since))
        for gw, since in conn.execute(
            "SELECT gateway_id, status_since FROM gateways WHERE status = 'down'"
        )
    ]
    out += [
        (SubjectType.TERMINAL, tid, gw, from_db_opt(since))
        for tid, gw, since in conn.execute(
            "SELECT terminal_id, gateway_id, status_since FROM terminals WHERE status = 'down'"
        )
    ]
    return out


# ---------------------------------------------------------------------- operator data
def load_suspended(conn: db.Connection) -> set[tuple[SubjectType, str]]:
    found = {
        (SubjectType.GATEWAY, r[0])
        for r in conn.execute("SELECT gateway_id FROM gateways WHERE suspended = 1")
    }
    found |= {
        (SubjectType.TERMINAL, r[0])
        for r in conn.execute("SELECT terminal_id FROM terminals WHERE suspended = 1")
    }
    return found


# The zone a recurring window's cron is read in when the row names none: the scope's own
# (terminal and gateway: their site's; site: its own). '' and 'UTC' (the default every window
# was created with before the zone was the scope's, while the docs already said "store time")
# both mean "the scope's zone"; an operator who wants UTC itself picks 'Etc/UTC'.
_SCOPE_TZ = (
    "CASE w.scope_type "
    "WHEN 'site' THEN (SELECT s.tz FROM sites s WHERE s.site_id = w.scope_id) "
    "WHEN 'gateway' THEN (SELECT s.tz FROM gateways g JOIN sites s ON s.site_id = g.site_id "
    "WHERE g.gateway_id = w.scope_id) "
    # a terminal that names no store of its own ('') is in its gateway's
    "WHEN 'terminal' THEN (SELECT s.tz FROM terminals t "
    "LEFT JOIN gateways g ON g.gateway_id = t.gateway_id "
    "JOIN sites s ON s.site_id = COALESCE(NULLIF(t.site_id, ''), g.site_id) "
    "WHERE t.terminal_id = w.scope_id) END"
)
SCOPE_ZONE_MARKERS = ("", "UTC")
DEFAULT_TZ_KEY = "default_tz"


def default_zone(conn: db.Connection) -> str:
    """The deployment's default zone (``POSFLEET_DEFAULT_TZ``, written to ``meta`` by the
    collector at start): region- and model-scoped windows are read in it."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (DEFAULT_TZ_KEY,)).fetchone()
    return str(row[0]) if row and row[0] else "UTC"


def load_windows(conn: db.Connection, now: datetime) -> list[Window]:
    """Windows that may matter now or later (the table is small: tens of rows), each with
    the zone its recurrence is evaluated in resolved (see ``_SCOPE_TZ``)."""
    rows = conn.execute(
        "SELECT w.id, w.scope_type, w.scope_id, w.starts_at, w.ends_at, w.recurrence, "
        f"w.duration_s, w.tz, w.reason, w.ended_early_at, {_SCOPE_TZ} "
        "FROM maintenance_windows w "
        "WHERE (w.recurrence IS NOT NULL OR w.ends_at > ?) "
        "AND (w.ended_early_at IS NULL OR w.ended_early_at > ?)",
        (to_db(now), to_db(now)),
    ).fetchall()
    fallback = default_zone(conn)
    return [
        Window(
            r[0],
            r[1],
            r[2],
            from_db(r[3]),
            from_db(r[4]),
            r[5],
            r[6],
            (r[7] if (r[7] or "") not in SCOPE_ZONE_MARKERS else "") or r[10] or fallback,
            r[8],
            from_db_opt(r[9]),
        )
        for r in rows
    ]


def load_policies(conn: db.Connection) -> dict[str, FirmwarePolicy]:
    out = {}
    for model, min_v, approved, eos, target in conn.execute(
        "SELECT model, min_version, approved_versions, end_of_support, target_version "
        "FROM firmware_policy"
    ):
        try:
            versions = frozenset(str(v) for v in json.loads(approved or "[]"))
        except ValueError:
            versions = frozenset()
        out[model] = FirmwarePolicy(
            model, min_v or None, versions, from_db_opt(eos), target or None
        )
    return out
