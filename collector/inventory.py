"""Inventory CSV import/export.

One CSV per table (``regions.csv``, ``sites.csv``, ``gateways.csv``, ``terminals.csv``); the
header names columns of that table (see ``collector/store/schema.py``); the id column is
required, every other column optional. Import upserts inventory columns only: it never
touches the liveness columns the collector owns.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterable
from pathlib import Path

from collector.store import db
from collector.store.meta import TERMINAL_MOVES

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


def upsert_rows(conn: db.Connection, table: str, rows: Iterable[dict[str, str]]) -> int:
    allowed = INVENTORY_COLUMNS[table]
    key = _key(table)
    count = 0
    move_seq: int | None = None
    for row in rows:
        cols = [c for c in allowed if c in row and row[c] is not None]
        if key not in cols or not row[key]:
            raise InventoryError(f"{table}: row without {key}: {row}")
        values = [row[c] if row[c] != "" else None for c in cols]
        params: list[object] = list(values)
        updates = ", ".join(f"{c}=excluded.{c}" for c in cols if c != key)
        extra = ", registered=1" if table in ("gateways", "terminals") else ""
        if table == "terminals" and "gateway_id" in cols:
            # A terminal put behind another gateway is stamped with this import's move
            # number, so running collectors refuse the old gateway from their next batch
            # (collector/enrolment.py). A row without a gateway_id moves nothing.
            if move_seq is None:
                move_seq = _next_move(conn)
            extra += (
                ", moved_seq = CASE WHEN terminals.gateway_id <> excluded.gateway_id "
                "THEN ? ELSE terminals.moved_seq END"
            )
            params.append(move_seq)
        try:
            conn.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' * len(cols))}) "
                f"ON CONFLICT({key}) DO UPDATE SET {updates or key + '=excluded.' + key}{extra}",
                params,
            )
        except db.IntegrityError as exc:
            empty = [c for c, v in zip(cols, values, strict=True) if v is None]
            raise InventoryError(
                f"{table}: {key} {row[key]}: {exc}; empty column(s) {empty}: fill them in or "
                "leave the column out of the file"
            ) from None
        except db.DataError as exc:  # PostgreSQL: e.g. text in a numeric column (lat, lon)
            raise InventoryError(
                f"{table}: {key} {row[key]}: {str(exc).splitlines()[0]}: fix the value in the file"
            ) from None
        if extra:
            _enrolled(conn, table, row[key])
        count += 1
    return count


def _next_move(conn: db.Connection) -> int:
    """Bump the move counter, in the caller's transaction. On PostgreSQL the row stays locked
    until the import commits, so imports that move terminals commit in their numbers' order:
    a collector that has read number N has every row stamped up to N."""
    row = conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE "
        "SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT) RETURNING value",
        (TERMINAL_MOVES,),
    ).fetchone()
    return int(row[0])


def _enrolled(conn: db.Connection, table: str, subject_id: str) -> None:
    """An id imported into the inventory leaves the enrolment list (collector/enrolment.py);
    the collector tracks it from its next message."""
    subject_type = "gateway" if table == "gateways" else "terminal"
    # OperationalError: a store the collector has not opened since upgrading (no table yet).
    with contextlib.suppress(*db.OperationalError):
        conn.execute(
            "DELETE FROM enrolment WHERE subject_type = ? AND subject_id = ?",
            (subject_type, subject_id),
        )


ENROLMENT_COLUMNS = (
    "subject_type",
    "subject_id",
    "gateway_id",
    "first_seen_at",
    "last_seen_at",
    "messages",
    "last_kind",
)


def list_enrolment(conn: db.Connection) -> list[tuple[object, ...]]:
    """The enrolment list, most recently seen first."""
    return conn.execute(
        f"SELECT {', '.join(ENROLMENT_COLUMNS)} FROM enrolment "
        "ORDER BY last_seen_at DESC, subject_type, subject_id"
    ).fetchall()


def export_enrolment(conn: db.Connection, directory: Path) -> dict[str, int]:
    """``gateways.csv`` / ``terminals.csv`` in the import format, for the ids listed for
    enrolment: an operator fills in site_id and region_id (a terminal's come from its
    gateway) and imports the directory with ``import-inventory``."""
    directory.mkdir(parents=True, exist_ok=True)
    queries = {
        "gateways": (
            ("gateway_id", "site_id", "region_id"),
            "SELECT subject_id, '', '' FROM enrolment WHERE subject_type = 'gateway' "
            "ORDER BY subject_id",
        ),
        "terminals": (
            ("terminal_id", "gateway_id", "site_id", "region_id"),
            "SELECT e.subject_id, e.gateway_id, coalesce(g.site_id, ''), "
            "coalesce(g.region_id, '') FROM enrolment e "
            "LEFT JOIN gateways g ON g.gateway_id = e.gateway_id "
            "WHERE e.subject_type = 'terminal' ORDER BY e.subject_id",
        ),
    }
    counts: dict[str, int] = {}
    for table, (cols, sql) in queries.items():
        rows = conn.execute(sql).fetchall()
        with (directory / f"{table}.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            w.writerows(rows)
        counts[table] = len(rows)
    return counts


def import_dir(conn: db.Connection, directory: Path) -> dict[str, int]:
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


def export_dir(conn: db.Connection, directory: Path) -> dict[str, int]:
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


class InventoryTags:
    """site/region/model per gateway, in memory: the Influx sink asks on the hot path."""

    def __init__(self, conn: db.Connection) -> None:
        self._tags: dict[str, dict[str, str]] = {}
        self.refresh(conn, None)

    def refresh(self, conn: db.Connection, _now: object) -> None:
        self._tags = {
            gid: {k: v for k, v in (("site", site), ("region", region), ("model", model)) if v}
            for gid, site, region, model in conn.execute(
                "SELECT gateway_id, site_id, region_id, model FROM gateways WHERE registered = 1"
            )
        }

    def get(self, gateway_id: str) -> dict[str, str]:
        return self._tags.get(gateway_id, {})
