"""Importing inventory rows from the console, audited like every other action."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from collector.actions.base import Actor, InvalidAction, Role, _audit, _require
from collector.inventory import INVENTORY_COLUMNS, InventoryError, upsert_rows
from collector.store import db


def import_inventory(
    conn: db.Connection,
    actor: Actor,
    table: str,
    rows: Iterable[dict[str, str]],
    now: datetime,
) -> int:
    """Upsert inventory rows (one CSV's worth) and audit the import."""
    _require(actor, Role.ADMIN, "import inventory")
    if table not in INVENTORY_COLUMNS:
        raise InvalidAction(f"table {table!r} is not inventory; use {', '.join(INVENTORY_COLUMNS)}")
    try:
        with conn:
            count = upsert_rows(conn, table, rows)
            _audit(conn, actor, "inventory.import", table, now, {"rows": count})
    except InventoryError as exc:
        raise InvalidAction(str(exc)) from exc
    return count
