"""Inventory CSV import/export against a real store of each engine (``store_url``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.inventory import InventoryError, export_dir, import_dir
from collector.main import main
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
    with pytest.raises(
        InventoryError, match=r"gateways.csv line 1: unknown column.*status.*allowed: gateway_id"
    ):
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
    with pytest.raises(
        InventoryError, match=r"sites.csv line 3 \(site_id S2\): lat .*is not a number"
    ):
        import_dir(conn, src)
    assert conn.execute("SELECT count(*) FROM sites").fetchone() == (0,)
    conn.close()


GBK_SITES = "site_id,region_id,name\nS1,east,上海一店\n".encode("gbk")


@pytest.mark.parametrize(
    ("file", "content", "said"),
    [
        (
            "terminals.csv",
            b"terminal_id,site_id\nT1,S1\n",
            "terminals.csv has no gateway_id column: add a gateway_id column naming each "
            "terminal's gateway (docs/collector.md, Inventory files)",
        ),
        (
            "terminals.csv",
            b"terminal_id,gateway_id\nT1,gw-1\nT2,\n",
            "terminals.csv line 3 (terminal_id T2): gateway_id is empty: name the gateway",
        ),
        (
            "gateways.csv",
            b"site_id,model\nS1,R1\n",
            "gateways.csv has no gateway_id column: add a gateway_id column with each row's id",
        ),
        (
            "gateways.csv",
            b"gateway_id,site_id\ngw-1,S1\n,S2\n",
            "gateways.csv line 3: gateway_id is empty: give the row its id, or delete the row",
        ),
        (
            "gateways.csv",
            b"gateway_id,site_id,region_id\ngw-1,,north\n",
            "gateways.csv line 2 (gateway_id gw-1): site_id is empty: fill it in, or leave the "
            "site_id column out of the file",
        ),
        (
            "gateways.csv",
            b"gateway_id,status\ngw-1,online\n",
            "gateways.csv line 1: unknown column(s) 'status': rename them to inventory columns "
            "or remove them; allowed: gateway_id, site_id",
        ),
        (
            "sites.csv",
            b"site_id,region_id,lat\nS1,north,48.85\nS2,north,north-ish\n",
            "sites.csv line 3 (site_id S2): lat 'north-ish' is not a number: write a decimal "
            "number",
        ),
        (
            "sites.csv",
            b"site_id,region_id,address\nS1,north,Road 1, Pudong\n",
            "sites.csv line 2 has more fields than the header: quote a value that holds a comma",
        ),
        (
            "sites.csv",
            GBK_SITES,
            "sites.csv line 2 is not UTF-8 (a CSV saved by Excel in China is usually GBK): save "
            'it from Excel as "CSV UTF-8", or convert it with iconv -f GBK -t UTF-8',
        ),
    ],
)
def test_a_bad_inventory_file_is_refused_naming_the_file_the_place_and_the_fix(
    tmp_path: Path,
    store_url: str,
    capsys: pytest.CaptureFixture[str],
    file: str,
    content: bytes,
    said: str,
) -> None:
    """As the command line says it (exit 2, one line, no traceback), and nothing imported."""
    _store(store_url).close()
    src = tmp_path / "in"
    src.mkdir()
    (src / file).write_bytes(content)
    assert main(["import-inventory", "--db", store_url, str(src)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"posfleet-collector: {src / file}")
    assert said in err.replace(str(src) + "/", "")
    conn = db.connect(store_url)
    for table in ("sites", "gateways", "terminals"):
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
    conn.close()


def test_a_file_excel_saved_as_csv_utf8_imports_despite_its_bom(
    tmp_path: Path, store_url: str
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "sites.csv").write_bytes(
        "site_id,region_id,name\nS1,east,上海一店\n".encode("utf-8-sig")
    )
    conn = _store(store_url)
    assert import_dir(conn, src) == {"sites": 1}
    assert conn.execute("SELECT name FROM sites").fetchone() == ("上海一店",)
    conn.close()


def test_a_number_column_is_stored_as_a_number_on_both_engines(
    tmp_path: Path, store_url: str
) -> None:
    """What the import's check takes as a number (Python's ``float``: full-width digits as an
    IME types them, ``1_2``, spaces) is stored as that number. SQLite kept such text as TEXT
    in the REAL column (the console's map then rounds a str: the Overview page fails), and
    PostgreSQL refused the row as 'the store refused the row'."""
    src = tmp_path / "in"
    src.mkdir()
    full_width = "31.2304".translate({d: d + 0xFEE0 for d in range(ord("0"), ord("9") + 1)})
    (src / "sites.csv").write_text(
        f"site_id,region_id,lat,lon\nS1,east,{full_width}, 121.4737 \nS2,east,1_2,-7_0.5\n"
    )
    conn = _store(store_url)
    assert import_dir(conn, src) == {"sites": 2}
    got = conn.execute("SELECT lat, lon FROM sites ORDER BY site_id").fetchall()
    assert [tuple(r) for r in got] == [(31.2304, 121.4737), (12.0, -70.5)]
    assert all(isinstance(v, float) for r in got for v in r)
    conn.close()
