"""The console shows a terminal listed without a store or region of its own (``terminals.csv``
naming only the terminal and its gateway) where its gateway is: among its store's members,
with the store's merchant and the region's technician on its page, in the morning list with
the merchant to call, in the maintenance list under its region's technician, and in search
with its store. The store keeps '' for the columns the file leaves out, so each of these
read the terminal's own '' and showed it nowhere (a store page without its PIN pads, a down
PIN pad with no merchant to call).

On both engines (``store_url``), the estate imported from CSV (tests/support/estate.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.estate import import_estate

from collector.actions import Actor, Role, create_window
from collector.store import db
from collector.store.store import Store
from collector.store.times import to_db
from dashboard import queries, queries_morning, queries_ops

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def conn(store_url: str, tmp_path: Path) -> Iterator[db.Connection]:
    store = Store(store_url)
    try:
        import_estate(store.conn, tmp_path / "estate")
    finally:
        store.close()
    c = db.connect(store_url)
    try:
        yield c
    finally:
        c.close()


def test_a_stores_page_lists_the_pin_pads_behind_its_gateway(conn: db.Connection) -> None:
    members = queries_ops.site_members(conn, "s-sh", NOW)
    assert sorted(zip(members["type"], members["id"], strict=True)) == [
        ("gateway", "gw-1"),
        ("terminal", "pp-1"),
        ("terminal", "pp-2"),
    ]


def test_a_pin_pads_page_names_its_stores_merchant_and_its_regions_technician(
    conn: db.Connection,
) -> None:
    found = queries_ops.find_subject(conn, "pp-1", NOW)
    assert found is not None
    kind, row = found
    assert kind == "terminal"
    assert (row["site_id"], row["region_id"]) == ("s-sh", "east")
    assert (row["site_name"], row["merchant_name"], row["merchant_contact"]) == (
        "Nanjing Rd",
        "上海一号店",
        "+86 21 6666 0001",
    )
    assert (row["oncall_name"], row["oncall_contact"]) == ("Wang", "+86 21 5555 0101")


def test_the_maintenance_list_files_a_pin_pad_under_its_gateways_region(
    conn: db.Connection,
) -> None:
    due = queries_ops.maintenance_due(conn, NOW).set_index("terminal_id")
    assert due.loc["pp-1", ["region_id", "site_id", "technician", "state"]].tolist() == [
        "east",
        "s-sh",
        "Wang",
        "overdue",
    ]
    assert due.loc["pp-9", ["region_id", "technician"]].tolist() == ["west", "Li"]


def test_the_morning_list_gives_a_down_pin_pads_merchant_and_suspended_neighbours(
    conn: db.Connection,
) -> None:
    with conn:
        conn.execute(
            "UPDATE terminals SET status = 'down', status_since = ? WHERE terminal_id = 'pp-1'",
            (to_db(NOW),),
        )
        conn.execute("UPDATE terminals SET suspended = 1 WHERE terminal_id = 'pp-2'")
    df = queries_morning.down_now(conn, NOW)
    row = df[df["subject_id"] == "pp-1"].iloc[0]
    assert (row["scope"], row["site_id"], row["site_name"]) == ("terminal", "s-sh", "Nanjing Rd")
    assert (row["merchant_name"], row["merchant_contact"]) == ("上海一号店", "+86 21 6666 0001")
    assert row["suspended_in_store"] == 1  # pp-2, suspended in the same store


def test_search_shows_a_pin_pads_store(conn: db.Connection) -> None:
    hits, total = queries.search(conn, "pp-1", NOW)
    assert total == 1
    assert (hits.loc[0, "type"], hits.loc[0, "site_id"]) == ("terminal", "s-sh")


def test_a_pin_pads_page_shows_its_stores_maintenance_window_since_it_began(
    conn: db.Connection,
) -> None:
    began = NOW - timedelta(minutes=30)
    create_window(
        conn, Actor("olga", Role.OPERATOR), scope_type="site", scope_id="s-sh",
        starts_at=began, ends_at=NOW + timedelta(hours=1), reason="refit", now=began,
    )  # fmt: skip
    found = queries_ops.find_subject(conn, "pp-1", NOW)
    assert found is not None
    assert found[1]["effective_status"] == "maintenance"
    assert found[1]["effective_since"] == to_db(began)
    members = queries_ops.site_members(conn, "s-sh", NOW).set_index("id")
    assert members.loc["pp-2", "status"] == "maintenance"


def test_the_overviews_regions_count_a_pin_pad_in_its_gateways_region(
    conn: db.Connection,
) -> None:
    with conn:
        conn.execute("UPDATE terminals SET status = 'down' WHERE terminal_id = 'pp-1'")
    df = queries.regions(conn, NOW).set_index("region_id")
    assert df.loc["east", ["terminals", "terminals_down"]].tolist() == [2, 1]
    assert df.loc["west", ["terminals", "terminals_down"]].tolist() == [1, 0]
