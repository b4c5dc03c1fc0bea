"""An estate as estates list it: the store and region on the gateway, ``terminals.csv`` naming
only ``terminal_id,gateway_id`` (and the model), imported through ``collector.inventory``.

Store s-sh (Shanghai, merchant 上海一号店, region east, technician Wang) with gateway gw-1 and
two PIN pads, pp-1 and pp-2, that name no store or region of their own; region west's
store s-cd with gateway gw-2 and pp-9, listed with its own store and region. Every device is
online, serviced on ``SERVICED`` (a PP-10 is due every 365 days)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from collector.inventory import import_dir
from collector.store import db
from collector.store.times import to_db

SERVICED = datetime(2025, 1, 2, tzinfo=UTC)

FILES: dict[str, list[list[str]]] = {
    "regions.csv": [
        ["region_id", "name", "oncall_name", "oncall_contact"],
        ["east", "East", "Wang", "+86 21 5555 0101"],
        ["west", "West", "Li", "+86 28 5555 0102"],
    ],
    "sites.csv": [
        ["site_id", "region_id", "name", "tz", "merchant_name", "merchant_contact"],
        ["s-sh", "east", "Nanjing Rd", "Asia/Shanghai", "上海一号店", "+86 21 6666 0001"],
        ["s-cd", "west", "Chunxi Rd", "Asia/Shanghai", "成都二号店", "+86 28 6666 0002"],
    ],
    "gateways.csv": [
        ["gateway_id", "site_id", "region_id", "model"],
        ["gw-1", "s-sh", "east", "R1"],
        ["gw-2", "s-cd", "west", "R1"],
    ],
    "terminals.csv": [
        ["terminal_id", "gateway_id", "model"],
        ["pp-1", "gw-1", "PP-10"],
        ["pp-2", "gw-1", "PP-10"],
    ],
}


def import_estate(conn: db.Connection, directory: Path) -> None:
    """Write the CSVs to ``directory``, import them, add pp-9 with a place of its own (in a
    second file, as a later import would), and mark everything online and serviced."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in FILES.items():
        with (directory / name).open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)
    import_dir(conn, directory)
    own = directory / "own"
    own.mkdir()
    with (own / "terminals.csv").open("w", newline="", encoding="utf-8") as fh:
        rows = [["terminal_id", "gateway_id", "site_id", "region_id", "model"]]
        csv.writer(fh).writerows([*rows, ["pp-9", "gw-2", "s-cd", "west", "PP-10"]])
    import_dir(conn, own)
    with conn:
        conn.execute("UPDATE gateways SET status = 'online'")
        conn.execute(
            "UPDATE terminals SET status = 'online', last_service_at = ?", (to_db(SERVICED),)
        )
        conn.execute(
            "INSERT INTO maintenance_policy (model, service_interval_days, due_soon_days) "
            "VALUES ('PP-10', 365, 30)"
        )
