"""Inventory CSV import/export against a real store of each engine (``store_url``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.inventory import InventoryError, export_dir, import_dir, upsert_rows
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
    (src / "sites.csv").write_text("site_id,region_id\nS1,north\n")
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


# ---------------------------------------- an id twice, a gateway or site that nobody lists
GOOD = {
    "sites.csv": "site_id,region_id,name\nS1,north,Store 1\nS2,north,Store 2\n",
    "gateways.csv": "gateway_id,site_id,region_id\ngw-1,S1,north\ngw-2,S2,north\n",
    "terminals.csv": "terminal_id,gateway_id\nT1,gw-1\nT2,gw-2\n",
}


def _inventory(directory: Path, **changed: str) -> Path:
    """The GOOD inventory in ``directory``, with files replaced (``gateways_csv=...``)."""
    directory.mkdir()
    for name, text in {**GOOD, **{k.replace("_", "."): v for k, v in changed.items()}}.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


@pytest.mark.parametrize(
    ("changed", "said"),
    [
        (
            {"sites_csv": "site_id,region_id\nS1,north\nS2,north\nS1,south\n"},
            "sites.csv line 4: site_id S1 again, first seen at line 2: keep one row per site_id "
            "(merge the two rows, or correct the id) (docs/collector.md, Inventory files)",
        ),
        (
            {"gateways_csv": "gateway_id,site_id\ngw-1,S1\ngw-2,S2\ngw-3,S2\ngw-2,S1\n"},
            "gateways.csv line 5: gateway_id gw-2 again, first seen at line 3: keep one row per "
            "gateway_id (merge the two rows, or correct the id)",
        ),
        (
            # The same id, quoted or not, is the same row.
            {"terminals_csv": 'terminal_id,gateway_id\nT1,gw-1\n"T1",gw-2\nT2,gw-2\n'},
            "terminals.csv line 3: terminal_id T1 again, first seen at line 2: keep one row per "
            "terminal_id",
        ),
        (
            {"terminals_csv": "terminal_id,gateway_id\nT1,gw-1\nT2,gw-9\nT3,gw-8\n"},
            "terminals.csv line 3 (terminal_id T2): gateway_id gw-9 is neither stored nor in this "
            "import's gateways.csv: add the gateway to gateways.csv and import it with this file "
            "(or before it), or correct the gateway_id (docs/collector.md, Inventory files)",
        ),
        (
            # A terminal's own site too: its gateway is checked first.
            {"terminals_csv": "terminal_id,gateway_id,site_id\nT1,gw-1,S1\nT2,gw-2,S9\n"},
            "terminals.csv line 3 (terminal_id T2): site_id S9 is neither stored nor in this "
            "import's sites.csv: add the site to sites.csv and import it with this file (or "
            "before it), or correct the site_id (docs/collector.md, Inventory files)",
        ),
        (
            {"terminals_csv": "terminal_id,gateway_id,site_id\nT1,gw-1,S9\nT2,gw-9,S1\n"},
            "terminals.csv line 3 (terminal_id T2): gateway_id gw-9 is neither stored",
        ),
        (
            {"gateways_csv": "gateway_id,site_id\ngw-1,S1\ngw-2,S7\n"},
            "gateways.csv line 3 (gateway_id gw-2): site_id S7 is neither stored nor in this "
            "import's sites.csv: add the site to sites.csv and import it with this file (or "
            "before it), or correct the site_id (docs/collector.md, Inventory files)",
        ),
    ],
)
def test_an_id_twice_or_a_parent_nobody_lists_is_refused_and_nothing_is_imported(
    tmp_path: Path,
    store_url: str,
    capsys: pytest.CaptureFixture[str],
    changed: dict[str, str],
    said: str,
) -> None:
    """Through the command line on a real store: exit 2, the file, both lines of a duplicate
    or the unknown id, and the fix; the other files of the import are not stored either."""
    _store(store_url).close()
    src = _inventory(tmp_path / "in", **changed)
    assert main(["import-inventory", "--db", store_url, str(src)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"posfleet-collector: {src}/{said.split(' ')[0]} ")
    assert said in err.replace(str(src) + "/", "")
    assert err.count("\n") == 1  # one line, no traceback
    conn = db.connect(store_url)
    for table in ("sites", "gateways", "terminals"):
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
    conn.close()


def test_a_gateway_or_site_already_stored_or_in_the_same_import_is_known(
    tmp_path: Path, store_url: str
) -> None:
    conn = _store(store_url)
    assert import_dir(conn, _inventory(tmp_path / "first")) == {
        "sites": 2,
        "gateways": 2,
        "terminals": 2,
    }
    # Later, alone (as the console imports, one file at a time): the stored ones are known.
    later = tmp_path / "later"
    later.mkdir()
    (later / "terminals.csv").write_text("terminal_id,gateway_id\nT3,gw-1\nT4,gw-2\n")
    (later / "gateways.csv").write_text("gateway_id,site_id\ngw-3,S2\n")
    assert import_dir(conn, later) == {"gateways": 1, "terminals": 2}
    assert conn.execute("SELECT count(*) FROM terminals").fetchone() == (4,)
    conn.close()


def test_the_collector_started_on_a_refused_inventory_says_why_and_exits_2(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run --inventory DIR`` (POSFLEET_INVENTORY) imports before it connects: a refused
    file stops it with the refusal, not a traceback, and nothing is stored."""
    _store(store_url).close()
    src = _inventory(tmp_path / "in", terminals_csv="terminal_id,gateway_id\nT1,gw-1\nT1,gw-2\n")
    assert main(["run", "--db", store_url, "--inventory", str(src)]) == 2
    assert capsys.readouterr().err == (
        f"posfleet-collector: {src}/terminals.csv line 3: terminal_id T1 again, first seen at "
        "line 2: keep one row per terminal_id (merge the two rows, or correct the id) "
        "(docs/collector.md, Inventory files)\n"
    )
    conn = db.connect(store_url)
    assert conn.execute("SELECT count(*) FROM sites").fetchone() == (0,)
    conn.close()


@pytest.mark.parametrize(
    ("rows", "zh"),
    [
        (
            [
                {"terminal_id": "T1", "gateway_id": "gw-1"},
                {"terminal_id": "T1", "gateway_id": "gw-1"},
            ],
            "terminals.csv 第 3 行：terminal_id T1 重复，第一次出现在第 2 行：每个 terminal_id "  # noqa: RUF001
            "只保留一行（合并这两行，或改正编号）（docs/collector.md，Inventory files）",  # noqa: RUF001
        ),
        (
            [
                {"terminal_id": "T1", "gateway_id": "gw-1"},
                {"terminal_id": "T2", "gateway_id": "网关9"},
            ],
            "terminals.csv 第 3 行（terminal_id T2）：网关 gateway_id 网关9 既不在资产清单中，"  # noqa: RUF001
            "也不在本次导入的 gateways.csv 中：请把该网关加入 gateways.csv，与本文件一起"  # noqa: RUF001
            "（或先于本文件）导入，或改正 gateway_id（docs/collector.md，Inventory files）",  # noqa: RUF001
        ),
    ],
)
def test_the_new_refusals_read_in_the_consoles_chinese(
    tmp_path: Path, rows: list[dict[str, str]], zh: str
) -> None:
    from dashboard.i18n import translate

    conn = _store(str(tmp_path / "s.sqlite"))
    conn.execute("INSERT INTO gateways (gateway_id) VALUES ('gw-1')")
    with pytest.raises(InventoryError) as refused, conn:
        upsert_rows(conn, "terminals", rows)
    assert translate(refused.value.msgid, "zh-CN", **refused.value.fields) == zh
    assert conn.execute("SELECT count(*) FROM terminals").fetchone() == (0,)
    conn.close()
