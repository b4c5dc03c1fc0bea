"""The morning check's read: what is down now, one row per outage, most urgent first.

"Down" is the console's effective status (``collector.status``, through ``queries``): a
store whose every gateway is down is one row (its gateways are not listed again, and the
terminals behind them are ``unknown``, counted, not listed); a gateway down in a store that
is otherwise up is a row; a terminal is a row only when it is down behind a gateway that is
online (behind a dead gateway it is ``unknown``). Suspended and maintenance devices are not
down.

Order (``URGENCY``), most urgent first:

1. what needs someone now: a firing page nobody acknowledged or snoozed; then what is down
   without a page yet (pending, or held by a parent's page); then what is acknowledged;
   then what is snoozed (until its time: then it is back in the first group);
2. the widest outage first: a store, then a gateway, then a terminal;
3. the longest down first; then by id, so the order is stable between refreshes.

Maintenance-due items are never here: they are not outages (Maintenance page).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from collector import places
from collector.status import effective
from collector.store import db as store_db
from collector.store.times import to_db
from dashboard import queries
from dashboard.queries import frame

SCOPES = ("site", "gateway", "terminal")  # widest first
DOWN_KINDS = {"site": "site_down", "gateway": "gateway_down", "terminal": "terminal_down"}
# attention: 0 paging, nobody on it; 1 down, no page (yet); 2 acknowledged; 3 snoozed
ATTENTION = ("paging", "not_paged", "acknowledged", "snoozed")
ROWS_MAX = 500  # a bound, not a page: the counts above say how many there are in all

COLUMNS = [
    "scope", "subject_id", "site_id", "site_name", "merchant_name", "merchant_contact",
    "since", "down_n", "of_n", "class", "fault_category", "cause", "expected_recovery_at",
    "alert_ids", "alert_state", "acked_by", "acked_at", "snoozed_until", "snoozed_by",
    "suspended_in_store", "attention",
]  # fmt: skip


def down_now(conn: store_db.Connection, now: datetime) -> pd.DataFrame:
    """One row per outage now (see the module's docstring), ``URGENCY`` order, at most
    ``ROWS_MAX``."""
    stores = queries.down_sites(conn, now)
    dead = set(stores["site_id"])
    g_eff = effective(conn, now, "gateways", "g")
    t_eff = effective(conn, now, "terminals", "t")
    gateways = frame(
        conn,
        "SELECT g.gateway_id AS subject_id, g.site_id, g.status_since AS since FROM gateways g "
        f"WHERE g.registered = 1 AND g.decommissioned = 0 AND {g_eff} = 'down'",
    )
    gateways = gateways[~gateways["site_id"].isin(dead)]
    terminals = frame(
        conn,
        f"SELECT t.terminal_id AS subject_id, {places.site('t')} AS site_id, "
        "t.status_since AS since "
        f"FROM terminals t WHERE t.registered = 1 AND t.decommissioned = 0 AND {t_eff} = 'down'",
    )
    rows: list[dict[str, Any]] = []
    for r in stores.itertuples(index=False):
        rows.append({"scope": "site", "subject_id": r.site_id, "site_id": r.site_id,
                     "since": r.since, "down_n": int(r.gateways), "of_n": int(r.gateways)})  # fmt: skip
    for scope, part in (("gateway", gateways), ("terminal", terminals)):
        for r in part.itertuples(index=False):
            rows.append({"scope": scope, "subject_id": r.subject_id, "site_id": r.site_id,
                         "since": r.since, "down_n": 1, "of_n": 1})  # fmt: skip
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.DataFrame(rows)
    df = _with_sites(conn, df)
    df = _with_incidents(conn, df)
    df = _with_alerts(conn, df, now)
    df["scope_rank"] = df["scope"].map(SCOPES.index)
    df["since_key"] = df["since"].fillna("9999")  # never-seen last within its group
    df = df.sort_values(["attention", "scope_rank", "since_key", "subject_id"], kind="stable").head(
        ROWS_MAX
    )
    df["attention"] = df["attention"].map(ATTENTION.__getitem__)
    return _none(df[COLUMNS].reset_index(drop=True))


def _none(df: pd.DataFrame) -> pd.DataFrame:
    """Missing values as None (pandas' NaN is truthy and prints as "nan")."""
    return df.astype(object).where(df.notna(), None)


def _in(ids: list[str]) -> tuple[str, list[str]]:
    return ", ".join("?" * len(ids)), ids


def _with_sites(conn: store_db.Connection, df: pd.DataFrame) -> pd.DataFrame:
    ids = sorted(set(df["site_id"]))
    marks, params = _in(ids)
    sites = frame(
        conn,
        "SELECT site_id, name AS site_name, merchant_name, merchant_contact FROM sites "
        f"WHERE site_id IN ({marks})",
        params,
    )
    suspended = frame(
        conn,
        "SELECT site_id, SUM(n) AS suspended_in_store FROM ("
        f" SELECT site_id, COUNT(*) AS n FROM gateways WHERE suspended = 1 AND site_id IN ({marks})"
        " GROUP BY site_id UNION ALL"
        f" SELECT {places.site('t')} AS site_id, COUNT(*) AS n FROM terminals t "
        f"WHERE t.suspended = 1 AND {places.within('t', 'site_id', marks)}"
        " GROUP BY 1) AS s GROUP BY site_id",
        params + params + params,
    )
    out = df.merge(sites, on="site_id", how="left").merge(suspended, on="site_id", how="left")
    out["suspended_in_store"] = out["suspended_in_store"].fillna(0).astype(int)
    for col in ("site_name", "merchant_name", "merchant_contact"):
        out[col] = out[col].fillna("")
    return out


def _with_incidents(conn: store_db.Connection, df: pd.DataFrame) -> pd.DataFrame:
    """The open incident of each row's subject: its cause class and expected recovery
    (what the NOC tells the merchant)."""
    inc = frame(
        conn,
        "SELECT subject_type AS scope, subject_id, class, fault_category, cause, "
        "expected_recovery_at FROM incidents WHERE ended_at IS NULL",
    )
    out = df.merge(inc, on=["scope", "subject_id"], how="left")
    for col in ("class", "fault_category", "cause"):
        out[col] = out[col].fillna("")
    return out


def _with_alerts(conn: store_db.Connection, df: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Each row's down alert (its ack and snooze), and, for a store, the alerts that page
    for it: a store's first gateway may carry its page (the engine's promotion in place),
    so acknowledging the store acknowledges that page too."""
    active = frame(
        conn,
        "SELECT id, kind, subject_type, subject_id, site_id, state, fired_at, inhibited_by, "
        "acked_by, acked_at, snoozed_until, snoozed_by FROM alerts WHERE state != 'resolved' "
        "AND kind IN ('site_down', 'gateway_down', 'terminal_down') ORDER BY id",
    )
    active = _none(active)
    by_subject = {(r.subject_type, r.subject_id): r for r in active.itertuples(index=False)}
    paging_in_site: dict[str, list[Any]] = {}
    for r in active.itertuples(index=False):
        if r.kind == "gateway_down" and _pages(r):
            paging_in_site.setdefault(r.site_id, []).append(r)
    stamp = to_db(now)
    cols: dict[str, list[Any]] = {k: [] for k in (
        "alert_ids", "alert_state", "acked_by", "acked_at", "snoozed_until", "snoozed_by",
        "attention")}  # fmt: skip
    for scope, subject, site in df[["scope", "subject_id", "site_id"]].itertuples(index=False):
        own = by_subject.get((scope, subject))
        related = [own] if own is not None else []
        if scope == "site":
            related += paging_in_site.get(site, [])
        snoozed = own is not None and bool(own.snoozed_until) and own.snoozed_until > stamp
        if own is not None and own.acked_at:
            attention = 2
        elif snoozed:
            attention = 3
        elif any(_pages(a) and not a.acked_at for a in related):
            attention = 0
        else:
            attention = 1
        if attention == 2 and snoozed:
            attention = 3  # acknowledged and snoozed: it waits for its time
        cols["alert_ids"].append(",".join(str(int(a.id)) for a in related))
        cols["alert_state"].append(own.state if own is not None else "")
        cols["acked_by"].append(own.acked_by if own is not None else None)
        cols["acked_at"].append(own.acked_at if own is not None else None)
        cols["snoozed_until"].append(own.snoozed_until if snoozed and own is not None else None)
        cols["snoozed_by"].append(own.snoozed_by if snoozed and own is not None else None)
        cols["attention"].append(attention)
    return df.assign(**cols)


def _pages(a: Any) -> bool:
    """A firing alert that went out as a page (not held by a parent, not covered)."""
    return bool(a.state == "firing" and a.inhibited_by is None and a.fired_at)


def money_counts(conn: store_db.Connection, now: datetime) -> dict[str, int]:
    """Terminals paged as silent (online, no sale), stores whose sales fail (spikes firing),
    open shortfall cases past their follow-up: the morning check's and the wall's money."""
    silent, spikes, overdue = conn.execute(
        "SELECT "
        "(SELECT count(*) FROM alerts WHERE kind = 'terminal_silent' AND state = 'firing'), "
        "(SELECT count(*) FROM alerts WHERE kind = 'txn_failure_spike' AND state = 'firing'), "
        "(SELECT count(*) FROM shortfall_cases WHERE status = 'open' "
        "AND follow_up_due IS NOT NULL AND follow_up_due < ?)",
        (to_db(now),),
    ).fetchone()
    return {
        "terminals_silent": int(silent),
        "txn_spikes": int(spikes),
        "cases_overdue": int(overdue),
    }


def counts(conn: store_db.Connection, now: datetime) -> dict[str, int]:
    """The figures above the table: stores, gateways and terminals down (effective status),
    terminals the collector cannot see (unknown), gateways late; and ``money_counts``."""
    totals = queries.status_counts(conn, now)
    by = {
        (s, st): int(n) for s, st, n in totals[["subject", "status", "n"]].itertuples(index=False)
    }
    return {
        **money_counts(conn, now),
        "stores_down": len(queries.down_sites(conn, now)),
        "gateways_down": by.get(("gateways", "down"), 0),
        "gateways_late": by.get(("gateways", "late"), 0),
        "terminals_down": by.get(("terminals", "down"), 0),
        "terminals_unknown": by.get(("terminals", "unknown"), 0),
    }
