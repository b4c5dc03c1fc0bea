"""Where a terminal is: its own store and region, else its gateway's.

An estate's ``terminals.csv`` usually names only ``terminal_id,gateway_id`` (the store and
region are on the gateway), and the store keeps '' (not NULL) for the columns a file leaves
out. A terminal without a store or region of its own is where its gateway is, as the alert
engine's topology has it (``collector/alerts/topology.py``). SQL that reads a terminal's
place (its store, its region, or the store's zone and merchant through it) takes it from
here, so the rule is written once. The fragments read the terminal's gateway by id (one
primary-key probe), so they fit any query over ``terminals`` without another join.
"""

from __future__ import annotations

PLACE_COLUMNS = ("site_id", "region_id")


def _check(column: str) -> None:
    if column not in PLACE_COLUMNS:
        raise ValueError(f"a terminal's place is site_id or region_id, not {column!r}")


def of(alias: str, column: str) -> str:
    """SQL: the ``column`` (site_id | region_id) of the ``terminals`` row read as ``alias``:
    its own, else its gateway's ('' when neither says)."""
    _check(column)
    return (
        f"COALESCE(NULLIF({alias}.{column}, ''), (SELECT own.{column} FROM gateways own "
        f"WHERE own.gateway_id = {alias}.gateway_id), '')"
    )


def joined(column: str, terminal: str = "t", gateway: str = "g") -> str:
    """SQL: ``column`` (site_id | region_id) of a query that joined a terminal's row as
    ``terminal`` and its gateway's as ``gateway``: the terminal's own, else the gateway's
    (NULL when neither row is there). For a query over what a device reported, where the
    device is either a terminal or a gateway that is the payment device itself (no terminal
    row: the gateway's)."""
    _check(column)
    return f"COALESCE(NULLIF({terminal}.{column}, ''), {gateway}.{column})"


def site(alias: str) -> str:
    """SQL: the store of the ``terminals`` row read as ``alias``."""
    return of(alias, "site_id")


def region(alias: str) -> str:
    """SQL: the region of the ``terminals`` row read as ``alias``."""
    return of(alias, "region_id")


def within(alias: str, column: str, ids: str) -> str:
    """SQL condition: the ``terminals`` row read as ``alias`` is in one of ``ids`` (a SQL
    list: literals or parameters) by its ``column`` (site_id | region_id), its own or, naming
    none, its gateway's. One uncorrelated subquery: as a filter it is a few index probes
    (the places' own terminals; the places' gateways, then the terminals behind them), not
    a scan of the fleet; ``ids`` appears twice in it."""
    _check(column)
    # NULLIF(...) IS NULL, not = '': on an index of its own, '' is most of an estate's
    # terminals, and the planner would walk them all instead of the places' few gateways.
    return (
        f"{alias}.terminal_id IN (SELECT own_t.terminal_id FROM terminals own_t "
        f"WHERE own_t.{column} IN ({ids}) UNION ALL SELECT own_t.terminal_id FROM gateways own "
        f"JOIN terminals own_t ON own_t.gateway_id = own.gateway_id "
        f"WHERE own.{column} IN ({ids}) AND NULLIF(own_t.{column}, '') IS NULL)"
    )


def of_table(table: str, alias: str, column: str) -> str:
    """SQL: ``column`` of a row of ``table`` (gateways | terminals) read as ``alias``: a
    gateway's own, a terminal's by ``of``."""
    if table == "terminals":
        return of(alias, column)
    _check(column)
    return f"{alias}.{column}"
