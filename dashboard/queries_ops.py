"""Read side for the detail, incidents, firmware, maintenance and inventory pages."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

import pandas as pd

from collector import places
from collector.alerts.repository import load_policies, load_windows
from collector.alerts.versions import FirmwarePolicy, version_key
from collector.maintenance import DueState, MaintenancePolicy, Usage
from collector.schedules import device_due
from collector.status import effective_with_since
from collector.store.db import Connection
from collector.store.policies import load_done, load_schedules
from collector.store.times import from_db_opt, to_db
from dashboard.queries import frame

if TYPE_CHECKING:
    import sqlite3  # the collector's readers are typed sqlite3 until its port (issue #14)


# ------------------------------------------------------------------ detail
def find_subject(conn: Connection, ident: str, now: datetime) -> tuple[str, dict[str, Any]] | None:
    """A gateway or terminal by id or serial, with its site, merchant and technician and its
    ``effective_status`` at ``now`` (``collector.status``) and ``effective_since`` (when
    what is shown began: a maintenance window's start); else a site by id (the
    Overview's map and the search link stores here)."""
    for kind, table, key in (("gateway", "gateways", "gateway_id"),
                             ("terminal", "terminals", "terminal_id")):  # fmt: skip
        x_eff, x_since = effective_with_since(cast("sqlite3.Connection", conn), now, table, "x")
        site, region = (places.of_table(table, "x", c) for c in places.PLACE_COLUMNS)
        df = frame(
            conn,
            f"SELECT x.*, {x_eff} AS effective_status, {x_since} AS effective_since, "
            f"{site} AS place_site, {region} AS place_region, "
            f"s.name AS site_name, s.address, s.merchant_name, s.merchant_contact, "
            f"r.oncall_name, r.oncall_contact, r.contact_verified_at FROM {table} x "
            f"LEFT JOIN sites s ON s.site_id = {site} "
            f"LEFT JOIN regions r ON r.region_id = {region} "
            f"WHERE x.{key} = ? OR (x.serial != '' AND x.serial = ?) LIMIT 1",
            (ident, ident),
        )
        if len(df):
            row = df.iloc[0].to_dict()
            # A terminal listed without a store or region is shown where its gateway is.
            row["site_id"], row["region_id"] = row.pop("place_site"), row.pop("place_region")
            return kind, row
    df = frame(
        conn,
        "SELECT s.*, r.name AS region_name, r.oncall_name, r.oncall_contact, "
        "r.contact_verified_at FROM sites s LEFT JOIN regions r ON r.region_id = s.region_id "
        "WHERE s.site_id = ? LIMIT 1",
        (ident,),
    )
    if len(df):
        return "site", df.iloc[0].to_dict()
    return None


def subject_page(
    conn: Connection, ident: str, now: datetime, since: datetime
) -> tuple[str, dict[str, Any], pd.DataFrame] | None:
    """What a gateway's or terminal's page shows at the top (``find_subject``) and its
    timeline, from one read: the header and the timeline below it can never disagree."""
    found = find_subject(conn, ident, now)
    if found is None or found[0] == "site":
        return None
    kind, row = found
    sid = row["gateway_id"] if kind == "gateway" else row["terminal_id"]
    return kind, row, timeline(conn, kind, sid, since)


def site_members(conn: Connection, site_id: str, now: datetime) -> pd.DataFrame:
    """A store's gateways and terminals by effective status, the ones with a problem first
    (a terminal behind a gateway that is not online is ``unknown``)."""
    g_eff, g_since = effective_with_since(cast("sqlite3.Connection", conn), now, "gateways", "g")
    t_eff, t_since = effective_with_since(cast("sqlite3.Connection", conn), now, "terminals", "t")
    return frame(
        conn,
        f"SELECT * FROM (SELECT 'gateway' AS type, g.gateway_id AS id, g.serial, g.model, "
        f"{g_eff} AS status, {g_since} AS status_since, g.last_seen_at, '' AS gateway_id "
        f"FROM gateways g WHERE g.site_id = :s UNION ALL SELECT 'terminal', t.terminal_id, "
        f"t.serial, t.model, {t_eff}, {t_since}, t.last_seen_at, t.gateway_id FROM terminals t "
        f"WHERE {places.within('t', 'site_id', ':s')}) AS members "
        "ORDER BY CASE status WHEN 'down' THEN 0 WHEN 'late' THEN 1 WHEN 'unknown' THEN 2 "
        "ELSE 3 END, type, id LIMIT 2000",
        {"s": site_id},
    )


def site_alerts(conn: Connection, site_id: str) -> pd.DataFrame:
    return frame(
        conn,
        "SELECT id, kind, severity, state, subject_type, subject_id, summary, started_at, "
        "acked_by FROM alerts WHERE site_id = ? AND state != 'resolved' ORDER BY started_at DESC",
        (site_id,),
    )


def site_incidents(conn: Connection, site_id: str, since: datetime) -> pd.DataFrame:
    return frame(
        conn,
        "SELECT id, subject_type, subject_id, started_at, ended_at, class, cause, "
        "expected_recovery_at FROM incidents WHERE site_id = ? AND (ended_at IS NULL OR "
        "ended_at >= ?) ORDER BY started_at DESC LIMIT 500",
        (site_id, to_db(since)),
    )


def timeline(conn: Connection, kind: str, ident: str, since: datetime) -> pd.DataFrame:
    return frame(
        conn,
        "SELECT at, from_status, to_status, reason, actor FROM state_changes "
        "WHERE subject_type = ? AND subject_id = ? AND at >= ? ORDER BY at DESC LIMIT 500",
        (kind, ident, to_db(since)),
    )


TELEMETRY_FIELDS = {
    "network": ("rssi_dbm", "latency_ms", "loss_pct"),
    "hardware": ("battery_pct", "temperature_c"),
}


def telemetry(
    conn: Connection, gateway_id: str, terminal_id: str, kind: str, since: datetime
) -> pd.DataFrame:
    # The payload is read in Python, not with the engine's JSON functions (SQLite's
    # json_extract, PostgreSQL's ->>): one reading for both, and a field that is missing or
    # not a number is a gap in the chart on either.
    fields = TELEMETRY_FIELDS[kind]
    rows = conn.execute(
        "SELECT received_at, payload FROM telemetry WHERE gateway_id = ? AND kind = ? "
        "AND received_at >= ? AND terminal_id = ? ORDER BY received_at",
        (gateway_id, kind, to_db(since), terminal_id),
    ).fetchall()
    records = []
    for received_at, payload in rows:
        values = _payload(payload)
        records.append((received_at, *(_number(values.get(f)) for f in fields)))
    df = pd.DataFrame.from_records(records, columns=["received_at", *fields])
    df["received_at"] = pd.to_datetime(df["received_at"], utc=True, format="ISO8601")
    return df.set_index("received_at")


def _payload(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def subject_incidents(conn: Connection, kind: str, ident: str) -> pd.DataFrame:
    return frame(
        conn,
        "SELECT id, started_at, ended_at, class, fault_category, detected_by, cause, "
        "expected_recovery_at FROM incidents WHERE subject_type = ? AND subject_id = ? "
        "ORDER BY started_at DESC LIMIT 200",
        (kind, ident),
    )


def services(conn: Connection, kind: str, ident: str) -> pd.DataFrame:
    return frame(
        conn,
        "SELECT performed_at, performed_by, work, parts_replaced, fault_category FROM services "
        "WHERE subject_type = ? AND subject_id = ? ORDER BY performed_at DESC",
        (kind, ident),
    )


# ------------------------------------------------------------------ incidents
def incidents(
    conn: Connection, since: datetime, open_only: bool, limit: int, offset: int
) -> tuple[pd.DataFrame, int]:
    where = "started_at >= ?" + (" AND ended_at IS NULL" if open_only else "")
    total = conn.execute(f"SELECT COUNT(*) FROM incidents WHERE {where}", (to_db(since),))
    df = frame(
        conn,
        "SELECT id, subject_type, subject_id, region_id, site_id, model, started_at, ended_at, "
        "class, fault_category, detected_by, cause, expected_recovery_at FROM incidents "
        f"WHERE {where} ORDER BY ended_at IS NOT NULL, started_at DESC LIMIT ? OFFSET ?",
        (to_db(since), limit, offset),
    )
    return df, int(total.fetchone()[0])


# ------------------------------------------------------------------ firmware
def firmware(conn: Connection, now: datetime, region: str = "") -> pd.DataFrame:
    """Gateways and terminals by model and version (gateways report versions too), with the
    policy's verdict: the engine's own rule (``collector.alerts.versions``), judged once per
    (model, version) in plain Python, so missing policy fields never meet pandas' missing
    values. A model without a policy says "no policy", never compliant. ``region``: the
    devices of that region only (policies are per model, the same in every region)."""
    policies = load_policies(cast("sqlite3.Connection", conn))
    counts: dict[tuple[str, str], dict[str, int]] = {}
    where = "registered = 1 AND decommissioned = 0" + (" AND region_id = ?" if region else "")
    params = (region,) if region else ()
    for table in ("gateways", "terminals"):
        for model, version, n in conn.execute(
            f"SELECT model, COALESCE(firmware_version, ''), COUNT(*) FROM {table} "
            f"WHERE {where} GROUP BY 1, 2",
            params,
        ):
            counts.setdefault((model, version), {"gateways": 0, "terminals": 0})[table] += n
    rows = []
    for (model, version), n in sorted(counts.items()):
        policy = policies.get(model)
        if policy is None:
            verdict = "no policy"
        elif not version:
            verdict = "unknown"
        else:
            verdict = "non-compliant" if policy.violation(version, now) else "compliant"
        rows.append(
            {"model": model, "version": version, "gateways": n["gateways"],
             "terminals": n["terminals"], "target": policy_target(policy),
             "compliance": verdict}
        )  # fmt: skip
    columns = ["model", "version", "gateways", "terminals", "target", "compliance"]
    return pd.DataFrame(rows, columns=columns)


def policy_target(policy: FirmwarePolicy | None) -> str:
    """The version a model should be on: the policy's target, else the newest approved one,
    else the minimum; '' without a policy (or a policy that names no version)."""
    if policy is None:
        return ""
    if policy.target:
        return policy.target
    if policy.approved:
        return max(policy.approved, key=version_key)
    return policy.min_version or ""


def rollout(fw: pd.DataFrame) -> pd.DataFrame:
    """Per model: devices (gateways and terminals) on the policy's target or newer, and
    compliant; both "no policy" where the model has none (there is no target to be on)."""
    rows = []
    for model, grp in fw.groupby("model", sort=True):
        devices = grp["gateways"] + grp["terminals"]
        total = int(devices.sum())
        target = str(grp["target"].iloc[0])
        row: dict[str, Any] = {"model": model, "target": target or "no policy",
                               "gateways": int(grp["gateways"].sum()),
                               "terminals": int(grp["terminals"].sum())}  # fmt: skip
        if not target or total == 0:
            row["on_target_pct"], row["compliant_pct"] = None, None
        else:
            least = version_key(target)
            on = [bool(v) and version_key(str(v)) >= least for v in grp["version"]]
            on_target = int(devices[pd.Series(on, index=devices.index)].sum())
            row["on_target_pct"] = round(100 * on_target / total, 1)
            compliant = int(devices[grp["compliance"] == "compliant"].sum())
            row["compliant_pct"] = round(100 * compliant / total, 1)
        rows.append(row)
    columns = ["model", "target", "gateways", "terminals", "on_target_pct", "compliant_pct"]
    return pd.DataFrame(rows, columns=columns)


# ------------------------------------------------------------------ maintenance
def policies(conn: Connection) -> dict[str, MaintenancePolicy]:
    out = {}
    rows = conn.execute(
        "SELECT m.model, m.service_interval_days, m.max_receipts, m.min_battery_health_pct, "
        "m.max_error_count, m.due_soon_days, f.end_of_support FROM maintenance_policy m "
        "LEFT JOIN firmware_policy f ON f.model = m.model"
    )
    for model, days, receipts, battery, errors, soon, eos in rows:
        out[model] = MaintenancePolicy(
            model, days, receipts, battery, errors, soon, from_db_opt(eos)
        )
    return out


def maintenance_due(conn: Connection, now: datetime) -> pd.DataFrame:
    """Due state of every registered terminal: its model's policy and the schedules of each
    task type that apply to it (``collector.schedules``), the pure rules row by row."""
    pol = policies(conn)
    schedules = load_schedules(conn)
    done = load_done(conn) if schedules else {}
    df = frame(
        conn,
        f"SELECT t.terminal_id, t.gateway_id, {places.site('t')} AS site_id, "
        f"{places.region('t')} AS region_id, t.model, t.serial, "
        "t.install_date, t.last_service_at, t.receipts_printed, t.receipts_at_service, "
        "t.error_count, t.errors_at_service, t.battery_health_pct, r.oncall_name AS technician "
        f"FROM terminals t LEFT JOIN regions r ON r.region_id = {places.region('t')} "
        "WHERE t.registered = 1 AND t.decommissioned = 0",
    )
    states, due_at, reasons = [], [], []
    for row in df.itertuples(index=False):
        usage = Usage(
            install_date=from_db_opt(_str(row.install_date)),
            last_service_at=from_db_opt(_str(row.last_service_at)),
            receipts_printed=_int(row.receipts_printed),
            receipts_at_service=_int(row.receipts_at_service),
            error_count=_int(row.error_count),
            errors_at_service=_int(row.errors_at_service),
            battery_health_pct=None if pd.isna(row.battery_health_pct) else row.battery_health_pct,
        )
        state, when, reason = device_due(
            pol.get(str(row.model)),
            schedules,
            (str(row.model), str(row.region_id or ""), str(row.site_id or "")),
            usage,
            done.get(str(row.terminal_id), {}),
            now,
        )
        states.append(state.value)
        due_at.append(to_db(when)[:10] if when else "")
        reasons.append(reason)
    df["state"], df["due_at"], df["reason"] = states, due_at, reasons
    return df[
        ["terminal_id", "serial", "model", "region_id", "technician", "site_id", "state",
         "due_at", "reason", "last_service_at"]
    ]  # fmt: skip


def _str(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def due_summary(due: pd.DataFrame, by: str) -> pd.DataFrame:
    wanted = [DueState.OVERDUE.value, DueState.DUE_SOON.value]
    sub = due[due["state"].isin(wanted)]
    table = sub.groupby([by, "state"]).size().unstack(fill_value=0)
    return table.reindex(columns=wanted, fill_value=0).reset_index()


def windows(conn: Connection, now: datetime) -> pd.DataFrame:
    """Windows that are active or upcoming (recurring ones always listed), each with its
    current or next occurrence and, for a recurring one, the zone its cron is read in and
    that occurrence's hours on that zone's clock: the collector's own rule
    (``collector.alerts.windows``), so the page says what the pager will do."""
    df = frame(
        conn,
        "SELECT id, scope_type, scope_id, starts_at, ends_at, recurrence, reason, "
        "created_by, ended_early_at FROM maintenance_windows WHERE ended_early_at IS NULL "
        "AND (ends_at > ? OR recurrence IS NOT NULL) ORDER BY starts_at",
        (to_db(now),),
    )
    rule = {w.id: w for w in load_windows(cast("sqlite3.Connection", conn), now)}
    nxt, end, zone, hours = [], [], [], []
    for wid, recurrence in zip(df["id"], df["recurrence"], strict=True):
        w = rule.get(int(wid))
        span = w.upcoming(now) if w is not None else None
        nxt.append(to_db(span[0]) if span else None)
        end.append(to_db(span[1]) if span else None)
        local = w.tz if w is not None and recurrence else ""
        zone.append(local)
        if span and local:
            a, b = (x.astimezone(ZoneInfo(local)) for x in span)
            hours.append(f"{a:%H:%M}-{b:%H:%M}")
        else:
            hours.append("")
    at = df.columns.get_loc("recurrence") + 1
    for name, column in reversed(
        [("zone", zone), ("zone_hours", hours), ("next_start", nxt), ("next_end", end)]
    ):
        df.insert(at, name, column)
    return df


# ------------------------------------------------------------------ inventory
def inventory_counts(conn: Connection) -> pd.DataFrame:
    return frame(
        conn,
        "SELECT 'regions' AS tbl, COUNT(*) AS n FROM regions UNION ALL "
        "SELECT 'sites', COUNT(*) FROM sites UNION ALL "
        "SELECT 'gateways', COUNT(*) FROM gateways WHERE registered = 1 UNION ALL "
        "SELECT 'terminals', COUNT(*) FROM terminals WHERE registered = 1",
    )


def unregistered(conn: Connection) -> pd.DataFrame:
    """Ids awaiting enrolment (collector/enrolment.py): bounded, never paged."""
    return frame(
        conn,
        "SELECT subject_type AS type, subject_id AS id, gateway_id AS behind_gateway, "
        "first_seen_at, last_seen_at, messages, last_kind FROM enrolment "
        "ORDER BY last_seen_at DESC",
    )


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def days_ago(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)
