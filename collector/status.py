"""Effective status: the one definition the console and ``/metrics`` both count with.

A gateway's or terminal's stored ``status`` is liveness only (unknown, online, late, down).
What a person is shown, and what the fleet gauges count, overlays it, strongest first:

1. ``decommissioned``;
2. ``suspended`` (administratively stopped);
3. ``maintenance``: inside an active maintenance window (one-off or recurring, the recurrence
   read in the scope's zone; the engine's own rule, ``collector.alerts.windows``);
4. terminals only: ``unknown`` while their gateway is not ``online`` (late, down or never
   seen): the collector cannot see a terminal behind a dead gateway, so it is neither
   online nor down;
5. liveness.

Windows are cron expressions in zones, so which scopes are in maintenance *now* is decided
in Python (a handful of windows) and handed to SQL as literal id lists: the expression stays
one string that any query can embed, whatever its parameter style.
"""

from __future__ import annotations

from datetime import datetime

from collector import places
from collector.store import db
from collector.store.times import to_db

STATUSES = ("online", "late", "down", "unknown", "maintenance", "suspended", "decommissioned")


def _literals(ids: list[str]) -> str:
    # Ids come from the store; quoting doubles single quotes, the one SQLite string escape.
    return ",".join("'" + i.replace("'", "''") + "'" for i in sorted(set(ids)))


def active_scopes(conn: db.Connection, now: datetime) -> dict[str, list[str]]:
    """scope_type -> ids of the maintenance windows active at ``now``."""
    from collector.alerts.repository import load_windows

    scopes: dict[str, list[str]] = {}
    for w in load_windows(conn, now):
        if w.active(now):
            scopes.setdefault(w.scope_type, []).append(w.scope_id)
    return scopes


def active_starts(conn: db.Connection, now: datetime) -> list[tuple[str, str, datetime]]:
    """(scope_type, scope_id, start of the occurrence containing ``now``) of the maintenance
    windows active at ``now``, earliest start first."""
    from collector.alerts.repository import load_windows

    found = []
    for w in load_windows(conn, now):
        occurrence = w.occurrence(now)
        if occurrence is not None:
            found.append((w.scope_type, w.scope_id, occurrence[0]))
    return sorted(found, key=lambda f: (f[2], f[0], f[1]))


def _scopes(starts: list[tuple[str, str, datetime]]) -> dict[str, list[str]]:
    scopes: dict[str, list[str]] = {}
    for scope, ident, _ in starts:
        scopes.setdefault(scope, []).append(ident)
    return scopes


def _column(scope: str, table: str) -> str | None:
    """The column of ``table`` a window on ``scope`` matches (a gateway window covers the
    terminals behind it)."""
    if scope == "terminal":
        return "terminal_id" if table == "terminals" else None
    return {
        "site": "site_id",
        "region": "region_id",
        "model": "model",
        "gateway": "gateway_id",
    }.get(scope)


def _in_place(table: str, alias: str, column: str, ids: str) -> str:
    # A store's or region's window covers the terminals listed without a place of their own
    # behind its gateways, as the engine's calendar does (collector.places).
    if table == "terminals":
        return places.within(alias, column, ids)
    return f"{alias}.{column} IN ({ids})"


def maintenance_sql(scopes: dict[str, list[str]], table: str, alias: str) -> str:
    """A SQL condition true for rows of ``table`` (gateways | terminals, as ``alias``)
    covered by one of the active ``scopes``."""
    parts = []
    for scope, column in (("site", "site_id"), ("region", "region_id")):
        if scopes.get(scope):
            parts.append(_in_place(table, alias, column, _literals(scopes[scope])))
    if scopes.get("model"):
        parts.append(f"{alias}.model IN ({_literals(scopes['model'])})")
    # A gateway window covers the gateway and every terminal behind it.
    if scopes.get("gateway"):
        parts.append(f"{alias}.gateway_id IN ({_literals(scopes['gateway'])})")
    if table == "terminals" and scopes.get("terminal"):
        parts.append(f"{alias}.terminal_id IN ({_literals(scopes['terminal'])})")
    return "(" + " OR ".join(parts) + ")" if parts else "(1 = 0)"  # a boolean on both engines


def effective_sql(table: str, alias: str, scopes: dict[str, list[str]]) -> str:
    """The effective status of a row of ``table`` (gateways | terminals) read as ``alias``."""
    if table not in ("gateways", "terminals"):
        raise ValueError(f"effective status of {table!r}: gateways or terminals only")
    blind = ""
    if table == "terminals":
        # A set built once per query (the gateways that are not online: few), probed per
        # row: cheaper than a lookup in the gateways table for each terminal.
        blind = (
            f"WHEN {alias}.gateway_id IN (SELECT gateway_id FROM gateways "
            "WHERE status != 'online') THEN 'unknown' "
        )
    return (
        f"(CASE WHEN {alias}.decommissioned = 1 THEN 'decommissioned' "
        f"WHEN {alias}.suspended = 1 THEN 'suspended' "
        f"WHEN {maintenance_sql(scopes, table, alias)} THEN 'maintenance' "
        f"{blind}ELSE {alias}.status END)"
    )


def effective_since_sql(table: str, alias: str, starts: list[tuple[str, str, datetime]]) -> str:
    """Since when the effective status of a row has been what it is: the start of the current
    occurrence of the earliest covering window while ``maintenance`` is shown, else the
    stored ``status_since`` (decommissioned and suspended are checked first, as in
    ``effective_sql``, and keep it). ``starts`` is ``active_starts``, earliest first, so the
    first match is the earliest start; times are literals in the store's own text form."""
    if table not in ("gateways", "terminals"):
        raise ValueError(f"effective status of {table!r}: gateways or terminals only")
    cases = []
    for scope, ident, start in starts:
        column = _column(scope, table)
        if column in places.PLACE_COLUMNS:
            covered = _in_place(table, alias, column, _literals([ident]))
            cases.append(f"WHEN {covered} THEN '{to_db(start)}' ")
        elif column is not None:
            cases.append(f"WHEN {alias}.{column} = {_literals([ident])} THEN '{to_db(start)}' ")
    if not cases:
        return f"{alias}.status_since"
    return (
        f"(CASE WHEN {alias}.decommissioned = 1 OR {alias}.suspended = 1 "
        f"THEN {alias}.status_since {''.join(cases)}ELSE {alias}.status_since END)"
    )


def effective(conn: db.Connection, now: datetime, table: str, alias: str) -> str:
    """``effective_sql`` with the windows active at ``now`` read from the store."""
    return effective_sql(table, alias, active_scopes(conn, now))


def effective_with_since(
    conn: db.Connection, now: datetime, table: str, alias: str
) -> tuple[str, str]:
    """``effective`` and ``effective_since_sql`` from one read of the windows."""
    starts = active_starts(conn, now)
    return (
        effective_sql(table, alias, _scopes(starts)),
        effective_since_sql(table, alias, starts),
    )
