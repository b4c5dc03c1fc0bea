"""Inventory CSV import/export.

One CSV per table (``regions.csv``, ``sites.csv``, ``gateways.csv``, ``terminals.csv``); the
header names columns of that table (see ``collector/store/schema.sql``); the id column is
required, every other column optional. Import upserts inventory columns only: it never
touches the liveness columns the collector owns.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterable
from pathlib import Path

# Columns an inventory file may set, per table (liveness/telemetry columns excluded).
INVENTORY_COLUMNS: dict[str, tuple[str, ...]] = {
    "regions": (
        "region_id",
        "name",
        "oncall_name",
        "oncall_contact",
        "supervisor_contact",
        "contact_verified_at",
    ),
    "sites": (
        "site_id",
        "region_id",
        "name",
        "address",
        "lat",
        "lon",
        "tz",
        "merchant_name",
        "merchant_contact",
    ),
    "gateways": (
        "gateway_id",
        "site_id",
        "region_id",
        "model",
        "serial",
        "install_date",
        "warranty_end",
        "last_service_at",
    ),
    "terminals": (
        "terminal_id",
        "gateway_id",
        "site_id",
        "region_id",
        "model",
        "serial",
        "install_date",
        "warranty_end",
        "last_service_at",
    ),
}
ORDER = ("regions", "sites", "gateways", "terminals")


class InventoryError(ValueError):
    """A bad inventory file; the message names the file, line and column."""


def _key(table: str) -> str:
    return INVENTORY_COLUMNS[table][0]


def upsert_rows(conn: sqlite3.Connection, table: str, rows: Iterable[dict[str, str]]) -> int:
    allowed = INVENTORY_COLUMNS[table]
    key = _key(table)
    count = 0
    for row in rows:
        cols = [c for c in allowed if c in row and row[c] is not None]
        if key not in cols or not row[key]:
            raise InventoryError(f"{table}: row without {key}: {row}")
        values = [row[c] if row[c] != "" else None for c in cols]
        updates = ", ".join(f"{c}=excluded.{c}" for c in cols if c != key)
        extra = ", registered=1" if table in ("gateways", "terminals") else ""
        conn.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT({key}) DO UPDATE SET {updates or key + '=excluded.' + key}{extra}",
            values,
        )
        count += 1
    return count


def import_dir(conn: sqlite3.Connection, directory: Path) -> dict[str, int]:
    """Import every ``<table>.csv`` found in ``directory`` in one transaction."""
    counts: dict[str, int] = {}
    with conn:
        for table in ORDER:
            path = directory / f"{table}.csv"
            if not path.exists():
                continue
            with path.open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                unknown = set(reader.fieldnames or ()) - set(INVENTORY_COLUMNS[table])
                if unknown:
                    raise InventoryError(
                        f"{path}: unknown column(s) {sorted(unknown)}; "
                        f"allowed: {', '.join(INVENTORY_COLUMNS[table])}"
                    )
                counts[table] = upsert_rows(conn, table, reader)
    return counts


def export_dir(conn: sqlite3.Connection, directory: Path) -> dict[str, int]:
    directory.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for table in ORDER:
        cols = INVENTORY_COLUMNS[table]
        cur = conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {cols[0]}")
        with (directory / f"{table}.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            n = 0
            for row in cur:
                w.writerow(["" if v is None else v for v in row])
                n += 1
        counts[table] = n
    return counts
