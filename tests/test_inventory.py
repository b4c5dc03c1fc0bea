"""Inventory CSV import/export against a real store of each engine (``store_url``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.inventory import InventoryError, export_dir, import_dir
from collector.store import db
from collector.store.migrate import ensure_schema


def _store(target: str) -> db.Connection:
    conn = db.connect(target)
    ensure_schema(conn)
    return conn


def test_import_then_export_round_trips_and_keeps_liveness_columns(
    tmp_path: Path, store_url: str
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "sites.csv").write_text("site_id,region_id,name,tz\nS1,north,Store 1,Europe/Paris\n")
    (src / "gateways.csv").write_text("gateway_id,site_id,region_id,model\ngw-1,S1,north,R1\n")
    conn = _store(store_url)
    assert import_dir(conn, src) == {"sites": 1, "gateways": 1}
    # The collector owns liveness: a re-import must not reset it.
    conn.execute("UPDATE gateways SET status='online' WHERE gateway_id='gw-1'")
    (src / "gateways.csv").write_text("gateway_id,site_id,region_id,model\ngw-1,S1,north,R2\n")
    import_dir(conn, src)
    assert conn.execute("SELECT status, model FROM gateways").fetchone() == ("online", "R2")
    out = tmp_path / "out"
    export_dir(conn, out)
    assert "gw-1,S1,north,R2" in (out / "gateways.csv").read_text()
    conn.close()


def test_import_marks_a_reporting_unregistered_gateway_as_registered(
    tmp_path: Path, store_url: str
) -> None:
    conn = _store(store_url)
    conn.execute("INSERT INTO gateways (gateway_id, registered) VALUES ('gw-9', 0)")
    src = tmp_path / "in"
    src.mkdir()
    (src / "gateways.csv").write_text("gateway_id,site_id\ngw-9,S1\n")
    import_dir(conn, src)
    assert conn.execute("SELECT registered, site_id FROM gateways").fetchone() == (1, "S1")
    conn.close()


def test_unknown_column_is_rejected_with_the_allowed_ones_named(
    tmp_path: Path, store_url: str
) -> None:
    conn = _store(store_url)
    src = tmp_path / "in"
    src.mkdir()
    (src / "gateways.csv").write_text("gateway_id,status\ngw-1,online\n")
    with pytest.raises(InventoryError, match=r"unknown column.*status.*allowed: gateway_id"):
        import_dir(conn, src)
    conn.close()


def test_a_value_postgresql_cannot_store_is_refused_naming_the_row(
    tmp_path: Path, pg_url: str
) -> None:
    """SQLite keeps text in a REAL column; PostgreSQL refuses it: an InventoryError naming
    the row (exit 2 on the command line), nothing imported, never a traceback."""
    conn = _store(pg_url)
    src = tmp_path / "in"
    src.mkdir()
    (src / "sites.csv").write_text("site_id,region_id,lat\nS1,north,48.85\nS2,north,north-ish\n")
    with pytest.raises(InventoryError, match=r"sites: site_id S2: .*fix the value"):
        import_dir(conn, src)
    assert conn.execute("SELECT count(*) FROM sites").fetchone() == (0,)
    conn.close()
