"""Settlement on real processes: terminals publish their batch closes over a real Mosquitto to
a real collector; the acquirer's file dropped into the collector's settlement inbox opens a
shortfall case; a broken file is rejected with the reason; the CLI does the same by hand."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

from collector.config import ConfigError, load_settings
from collector.process import CollectorProcess
from collector.reconcile import Cutoff
from collector.settlement_inbox import SettlementInbox
from collector.store.store import open_store
from simulators.broker import MosquittoProcess
from simulators.stack.wait import wait_for

pytestmark = pytest.mark.integration

HEADER = "merchant,terminal,batch,business_date,count,amount,currency\n"
# Closed at 22:00 Shanghai on 2026-11-23.
CLOSED = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def _publish_batches(port: int, collector: CollectorProcess) -> None:
    # Subscribed first: a message published before the collector's first subscription is lost.
    wait_for(
        lambda: collector.sample_value("posfleet_collector_blind") == 0, 30, what="collector sees"
    )
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gw-1")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for tid, bid, count, amount in (
            ("pp-1", "B1", 120, 1_234_500),
            ("pp-2", "B2", 80, 500_000),
        ):
            closed = int(CLOSED.timestamp())
            body = {
                "v": 1,
                "gw": "gw-1",
                "terminal": tid,
                "ts": closed + 60,
                "since": closed - 1200,
                "until": closed + 30,
                "batch": {
                    "id": bid,
                    "count": count,
                    "amount": amount,
                    "currency": "CNY",
                    "closed_at": closed,
                },
            }
            info = client.publish(
                f"posfleet/v1/gw-1/terminal/{tid}/transactions", json.dumps(body), qos=1
            )
            info.wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


def _batches_stored(port: int, collector: CollectorProcess, db: Path) -> None:
    """pp-1's and pp-2's batch closes published, and stored by the collector."""
    _publish_batches(port, collector)
    wait_for(lambda: len(_rows(db, "SELECT 1 FROM txn_batches")) == 2, 30, what="batches stored")


def _inbox_collector(
    tmp_path: Path, port: int, inventory: Path | None = None, **env: str
) -> CollectorProcess:
    """A collector on tmp_path/c.sqlite that reconciles what is dropped in tmp_path/settlement,
    polled every half second."""
    settings = {
        "POSFLEET_SETTLEMENT_DIR": str(tmp_path / "settlement"),
        "POSFLEET_SETTLEMENT_POLL_S": "0.5",
        **env,
    }
    return CollectorProcess(tmp_path / "c.sqlite", port, inventory=inventory, env=settings)


def _hand_inbox(tmp_path: Path) -> tuple[Path, Path, SettlementInbox]:
    """A new store at tmp_path/c.sqlite and an inbox at tmp_path/settlement on it, with no
    collector: the test drives its passes (scan_once)."""
    db = tmp_path / "c.sqlite"
    open_store(db).close()
    inbox = tmp_path / "settlement"
    return db, inbox, SettlementInbox(db, inbox, registry=CollectorRegistry())


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "inventory"
    inv.mkdir()
    (inv / "sites.csv").write_text("site_id,region_id,name,tz\ns-sh,east,Store SH,Asia/Shanghai\n")
    (inv / "gateways.csv").write_text("gateway_id,site_id,region_id\ngw-1,s-sh,east\n")
    (inv / "terminals.csv").write_text(
        "terminal_id,gateway_id,site_id,region_id\npp-1,gw-1,s-sh,east\npp-2,gw-1,s-sh,east\n"
    )
    return inv


def test_a_file_dropped_in_the_inbox_opens_a_case_and_a_broken_one_is_rejected(
    mosquitto: MosquittoProcess, tmp_path: Path, inventory: Path
) -> None:
    inbox = tmp_path / "settlement"
    inbox.mkdir()
    db = tmp_path / "c.sqlite"
    collector = _inbox_collector(tmp_path, mosquitto.port, inventory)
    with collector:
        _batches_stored(mosquitto.port, collector, db)
        part = inbox / "settle-2026-11-23.csv.part"
        part.write_text(
            HEADER
            + "M-100,pp-1,B1,2026-11-23,120,12345.00,CNY\n"
            + "M-100,pp-2,B2,2026-11-23,80,4980.00,CNY\n"  # 20.00 CNY short
        )
        part.rename(inbox / "settle-2026-11-23.csv")  # written elsewhere, renamed into place
        (inbox / "broken.csv").write_text("merchant,terminal,amount\nM-1,pp-1,1.00\n")
        wait_for(
            lambda: (
                (inbox / "done" / "settle-2026-11-23.csv").exists()
                and (inbox / "rejected" / "broken.csv").exists()
            ),
            60,
            what="both files filed",
        )
        cases = _rows(
            db, "SELECT kind, terminal_id, batch_id, difference, site_id FROM shortfall_cases"
        )
        assert cases == [("mismatch", "pp-2", "B2", 2000, "s-sh")]
        error = (inbox / "rejected" / "broken.csv.error.txt").read_text()
        assert "lacks column(s) batch, business_date, count, currency" in error
        assert error.startswith("结算文件未对账")  # for the operator, in Chinese and English
        report = (inbox / "done" / "settle-2026-11-23.csv.report.txt").read_text()
        assert report.startswith("结算文件已对账：新开差异案件 1 件，关闭 0 件。\n")  # noqa: RUF001
        assert "cases opened: {'mismatch': 1}" in report
        assert collector.sample_value("posfleet_settlement_imports_total", result="ok") == 1
        assert collector.sample_value("posfleet_settlement_imports_total", result="rejected") == 1
        assert _rows(
            db, "SELECT actor, action FROM audit_log WHERE action = 'settlement.import'"
        ) == [("settlement-inbox", "settlement.import")]
    assert collector.returncode == 0


def test_the_cli_reconciles_a_file_and_says_what_it_opened(
    mosquitto: MosquittoProcess, tmp_path: Path, inventory: Path
) -> None:
    db = tmp_path / "c.sqlite"
    with CollectorProcess(db, mosquitto.port, inventory=inventory) as collector:
        _batches_stored(mosquitto.port, collector, db)
    settle = tmp_path / "s.csv"
    settle.write_text(
        HEADER + "M-100,pp-2,B2,2026-11-23,80,4980.00,CNY\nM-100,pp-9,B9,2026-11-23,1,1.0,CNY\n"
    )
    cmd = [
        sys.executable,
        "-m",
        "collector.main",
        "settlement",
        "import",
        "--db",
        str(db),
        "--actor",
        "chen.li",
    ]
    first = subprocess.run(
        [*cmd, str(settle)], capture_output=True, text=True, timeout=120, check=False
    )
    assert first.returncode == 0, first.stderr
    assert "cases opened {'mismatch': 1, 'missing_on_terminal': 1}" in first.stdout
    again = subprocess.run(
        [*cmd, str(settle)], capture_output=True, text=True, timeout=120, check=False
    )
    assert "imported before" in again.stdout
    missing = subprocess.run(
        [*cmd, str(tmp_path / "nope.csv")], capture_output=True, text=True, timeout=120, check=False
    )
    assert missing.returncode == 1
    assert "nope.csv" in missing.stderr


def test_the_cli_refuses_a_pipe_or_a_socket_naming_it_and_never_waits(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    cli = [sys.executable, "-m", "collector.main"]
    subprocess.run([*cli, "migrate", "--db", str(db)], check=True, capture_output=True)
    pipe = tmp_path / "settle-pipe.csv"
    os.mkfifo(pipe)  # read_bytes() on it waited for a writer for ever
    sock_path = tmp_path / "settle.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(sock_path))
    good = tmp_path / "settle.csv"
    good.write_text(HEADER + "M-100,pp-1,B1,2026-11-23,1,1.00,CNY\n")
    try:
        done = subprocess.run(
            [*cli, "settlement", "import", "--db", str(db), str(pipe), str(sock_path), str(good)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        sock.close()
    assert done.returncode == 1
    errors = done.stderr.splitlines()
    assert errors[0].startswith(f"{pipe}: it is a named pipe (FIFO), not a file")
    assert errors[1].startswith(f"{sock_path}: it is a socket, not a file")
    assert all("give the settlement CSV file itself" in e for e in errors[:2])
    assert f"{good}: import 1: 1 rows" in done.stdout  # the files after them are imported
    assert _rows(db, "SELECT name FROM settlement_imports") == [("settle.csv",)]


def test_a_file_swapped_for_a_pipe_after_the_inbox_listed_it_is_rejected_not_waited_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, inbox, box = _hand_inbox(tmp_path)
    upload = inbox / "settle-2026-11-23.csv"
    upload.write_text(HEADER + "M-100,pp-1,B1,2026-11-23,1,1.00,CNY\n")
    _aged(upload)
    assert box.scan_once() == []  # first seen: it waits a poll
    listed = box._candidates

    def swapped_after_listing(directory: Path) -> list[tuple[Path, tuple[int, int], str | None]]:
        # Whoever writes the inbox replaces the file by a pipe between the listing (a
        # regular file, unchanged since the last poll) and the read.
        found = listed(directory)
        upload.unlink()
        os.mkfifo(upload)
        return found

    monkeypatch.setattr(box, "_candidates", swapped_after_listing)
    passes: list[list[tuple[str, str]]] = []
    scan = threading.Thread(target=lambda: passes.append(box.scan_once()), daemon=True)
    scan.start()
    try:
        wait_for(lambda: passes, 20, what="the inbox's pass over the swapped file")
    finally:
        if scan.is_alive():  # stuck opening the pipe: a writer that closes at once frees it
            os.close(os.open(upload, os.O_WRONLY | os.O_NONBLOCK))
            scan.join(20)
    assert passes == [[(upload.name, "rejected")]]
    reason = (inbox / "rejected" / f"{upload.name}.error.txt").read_text()
    assert "it is a named pipe (FIFO), not a file" in reason
    assert _rows(db, "SELECT count(*) FROM settlement_imports") == [(0,)]


def _aged(path: Path) -> Path:
    """As if its writer had finished a minute ago (the inbox waits out files still changing)."""
    old = time.time() - 60
    os.utime(path, (old, old), follow_symlinks=False)
    return path


def test_what_is_not_a_readable_csv_file_is_rejected_and_never_holds_up_the_inbox(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    inbox = tmp_path / "settlement"
    inbox.mkdir()
    db = tmp_path / "c.sqlite"
    # Listed first (older), each of these used to fail the inbox's every pass, so the
    # day's real file behind them was never reconciled.
    (inbox / "folder.csv").mkdir()
    _aged(inbox / "folder.csv")
    (inbox / "dangling.csv").symlink_to(tmp_path / "gone.csv")
    os.mkfifo(inbox / "pipe.csv")  # reading a pipe waits for a writer forever
    _aged(inbox / "pipe.csv")
    # A file whose every read fails, as one without read permission does (tests may run as
    # root, whom permissions do not stop): the reader's own memory at offset 0.
    (inbox / "unreadable.csv").symlink_to("/proc/self/mem")
    # A name written in GBK by a Chinese Windows SFTP client: bytes that are not UTF-8.
    gbk_name = os.fsdecode(bytes(inbox) + b"/" + "结算.csv".encode("gbk"))
    Path(gbk_name).write_text(HEADER + "M-100,pp-1,B1,2026-11-23,120,12345.00,CNY\n")
    _aged(Path(gbk_name))
    good = inbox / "settle-2026-11-23.csv"
    good.write_text(HEADER + "M-100,pp-2,B2,2026-11-23,80,4980.00,CNY\n")
    os.utime(good, (time.time() - 30, time.time() - 30))  # the newest: handled last
    collector = _inbox_collector(tmp_path, mosquitto.port)
    with collector:
        wait_for(
            lambda: (inbox / "done" / good.name).exists(), 30, what="the day's file reconciled"
        )
        rejected = inbox / "rejected"
        wait_for(
            lambda: all(
                (rejected / f"{n}.csv.error.txt").exists()
                for n in ("folder", "dangling", "pipe", "unreadable")
            ),
            30,
            what="the four rejected with their reason",
        )
        assert "not a file" in (rejected / "folder.csv.error.txt").read_text()
        assert "symbolic link to nothing" in (rejected / "dangling.csv.error.txt").read_text()
        assert "not a file" in (rejected / "pipe.csv.error.txt").read_text()
        assert (
            "cannot be read (Input/output error)"
            in (rejected / "unreadable.csv.error.txt").read_text()
        )
        assert (rejected / "folder.csv").is_dir()  # moved, not deleted
        assert (rejected / "dangling.csv").is_symlink()
        assert collector.sample_value("posfleet_settlement_imports_total", result="ok") == 2
        assert collector.sample_value("posfleet_settlement_imports_total", result="rejected") == 4
        assert sorted(_rows(db, "SELECT name FROM settlement_imports")) == [
            ("settle-2026-11-23.csv",),
            ("结算.csv",),
        ]
        assert collector.alive()
    assert not any(p.suffix == ".csv" for p in inbox.iterdir())
    assert collector.returncode == 0


def test_the_cli_reports_a_file_of_garbage_rows_by_line_and_reconciles_the_rest(
    tmp_path: Path,
) -> None:
    db = tmp_path / "c.sqlite"
    cli = [sys.executable, "-m", "collector.main"]
    subprocess.run([*cli, "migrate", "--db", str(db)], check=True, capture_output=True)
    settle = tmp_path / "s.csv"
    settle.write_text(
        HEADER
        + "M-100,pp-1,B1,2026-11-23,1," + "9" * 200_000 + ",CNY\n"
        + "M-100,pp-2,B2,2026-11-23,1,1e999999999,CNY\n"
        + "M-100,pp-3,B3,2026-11-23,1,1e-999999999,CNY\n"
        + 'M-100,pp-4,B4,2026-11-23,2,"1,234.56",CNY\n'
    )  # fmt: skip
    done = subprocess.run(
        [*cli, "settlement", "import", "--db", str(db), str(settle)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "1 rows (3 bad)" in done.stdout
    assert [line.split(":")[0].strip() for line in done.stderr.splitlines()] == [
        "line 2",
        "line 3",
        "line 4",
    ]
    assert _rows(db, "SELECT terminal_id, amount FROM settlement_rows") == [("pp-4", 123_456)]


def test_files_as_chinese_acquirers_and_excel_write_them_are_reconciled(
    mosquitto: MosquittoProcess, tmp_path: Path, inventory: Path
) -> None:
    inbox = tmp_path / "settlement"
    inbox.mkdir()
    db = tmp_path / "c.sqlite"
    collector = _inbox_collector(tmp_path, mosquitto.port, inventory)
    with collector:
        _batches_stored(mosquitto.port, collector, db)
        # Saved by Excel on a Chinese Windows: GBK, CRLF, merchant names in an extra column,
        # the columns in the acquirer's order, thousands grouped, empty lines at the end.
        gbk = inbox / "结算 2026-11-23.csv"
        gbk.write_bytes(
            (
                "商户名称,terminal,merchant,batch,amount,currency,count,business_date\r\n"
                '上海某某便利店,pp-1,M-100,B1,"12,345.00",CNY,120,2026-11-23\r\n'
                "\r\n\r\n"
            ).encode("gbk")
        )
        # UTF-8 with a BOM, CRLF: the other terminal, settled 20.00 short.
        utf8 = inbox / "settle-pp-2.csv"
        utf8.write_bytes(
            "\ufeffMerchant,Terminal,Batch,Business_Date,Count,Amount,Currency,备注\r\n"
            "M-100,pp-2,B2,2026-11-23,80,4980.00,CNY,少 20 元\r\n".encode()
        )
        wait_for(
            lambda: (inbox / "done" / gbk.name).exists() and (inbox / "done" / utf8.name).exists(),
            30,
            what="both files reconciled",
        )
        assert _rows(
            db, "SELECT terminal_id, amount, count FROM settlement_rows ORDER BY terminal_id"
        ) == [("pp-1", 1_234_500, 120), ("pp-2", 498_000, 80)]
        assert _rows(db, "SELECT kind, terminal_id, difference FROM shortfall_cases") == [
            ("mismatch", "pp-2", 2000)
        ]
        assert collector.sample_value("posfleet_settlement_imports_total", result="ok") == 2
        assert collector.sample_value("posfleet_settlement_imports_total", result="rejected") == 0


def test_a_file_named_in_capitals_by_windows_is_reconciled_not_left_lying(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    inbox = tmp_path / "settlement"
    inbox.mkdir()
    upper = inbox / "SETTLE_20261123.CSV"
    upper.write_text(HEADER + "M-100,pp-1,B1,2026-11-23,1,1.00,CNY\n")
    _aged(upper)
    collector = _inbox_collector(tmp_path, mosquitto.port)
    with collector:
        wait_for(lambda: (inbox / "done" / upper.name).exists(), 30, what="the .CSV reconciled")
        assert (inbox / "done" / "SETTLE_20261123.CSV.report.txt").exists()
        assert collector.sample_value("posfleet_settlement_imports_total", result="ok") == 1


def test_a_file_written_in_place_is_read_only_once_a_whole_poll_left_it_unchanged(
    tmp_path: Path,
) -> None:
    # An acquirer's SFTP client writes the file under its own name, and a slow link stalls:
    # the half written so far is older than the 2-second settle time.
    db, inbox, box = _hand_inbox(tmp_path)
    upload = inbox / "settle-2026-11-23.csv"
    upload.write_text(HEADER + "M-100,pp-1,B1,2026-11-23,120,12345.00,CNY\nM-100,pp-2,B2,20")
    _aged(upload)
    assert box.scan_once() == []  # first seen: it waits a poll
    with upload.open("a") as f:  # the link comes back
        f.write("26-11-23,80,4980.00,CNY\n")
    _aged(upload)
    assert box.scan_once() == []  # changed since the last pass: it waits again
    assert box.scan_once() == [(upload.name, "ok")]
    assert _rows(db, "SELECT terminal_id FROM settlement_rows ORDER BY 1") == [
        ("pp-1",),
        ("pp-2",),
    ]


def test_a_batch_the_terminal_reports_after_the_file_came_is_judged_when_it_arrives(
    mosquitto: MosquittoProcess, tmp_path: Path, inventory: Path
) -> None:
    inbox = tmp_path / "settlement"
    inbox.mkdir()
    db = tmp_path / "c.sqlite"
    collector = _inbox_collector(tmp_path, mosquitto.port, inventory)
    with collector:
        # The file comes first: the store's agent was offline overnight.
        settle = inbox / "settle-2026-11-23.csv"
        settle.write_text(
            HEADER
            + "M-100,pp-1,B1,2026-11-23,120,12345.00,CNY\n"
            + "M-100,pp-2,B2,2026-11-23,80,4980.00,CNY\n"  # 20.00 CNY short
        )
        _aged(settle)
        wait_for(lambda: (inbox / "done" / settle.name).exists(), 30, what="file reconciled")
        sql = "SELECT terminal_id, kind, status, difference FROM shortfall_cases ORDER BY 1"
        assert _rows(db, sql) == [
            ("pp-1", "missing_on_terminal", "open", -1_234_500),
            ("pp-2", "missing_on_terminal", "open", -498_000),
        ]
        # The agent comes back and delivers the batches the terminals closed.
        _publish_batches(mosquitto.port, collector)
        wait_for(
            lambda: (
                _rows(db, sql)
                == [
                    ("pp-1", "missing_on_terminal", "closed", -1_234_500),
                    ("pp-2", "mismatch", "open", 2000),
                ]
            ),
            30,
            what="the late batches judged",
        )
        closed = _rows(
            db, "SELECT closed_by, resolution FROM shortfall_cases WHERE terminal_id = 'pp-1'"
        )
        assert closed == [("reconcile", "the terminal's batch arrived late and matches")]


def test_an_inbox_deleted_while_the_collector_runs_is_made_again_and_keeps_working(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, inbox, box = _hand_inbox(tmp_path)
    shutil.rmtree(inbox)  # an operator's clean-up, or a share unmounted and mounted again
    with caplog.at_level(logging.WARNING, logger="collector.settlement_inbox"):
        assert box.scan_once() == []  # no failed pass: the inbox is made again
    assert "was missing: created it again" in caplog.text
    assert (inbox / "done").is_dir()
    assert (inbox / "rejected").is_dir()
    upload = inbox / "settle-2026-11-23.csv"
    upload.write_text(HEADER + "M-100,pp-1,B1,2026-11-23,1,1.00,CNY\n")
    _aged(upload)
    box.scan_once()
    assert box.scan_once() == [(upload.name, "ok")]


def test_a_corrected_file_under_the_same_name_is_kept_beside_the_first_even_after_a_tidy_up(
    tmp_path: Path,
) -> None:
    db, inbox, box = _hand_inbox(tmp_path)
    shutil.rmtree(inbox / "done")  # an operator tidied done/ away
    upload = inbox / "settle-2026-11-23.csv"
    for amount in ("1.00", "2.00"):  # the acquirer's correction, under the same name
        upload.write_text(HEADER + f"M-100,pp-1,B1,2026-11-23,1,{amount},CNY\n")
        _aged(upload)
        box.scan_once()
        assert box.scan_once() == [(upload.name, "ok")]
    assert _rows(db, "SELECT amount FROM settlement_rows") == [(200,)]
    kept = sorted(p.name for p in (inbox / "done").glob("*.csv"))
    assert len(kept) == 2
    assert kept[1] == upload.name
    assert kept[0].startswith("settle-2026-11-23.")
    assert (inbox / "done" / upload.name).read_text().endswith("1.00,CNY\n")


def test_a_file_too_large_to_be_a_settlement_file_is_rejected_unread(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    inbox = tmp_path / "settlement"
    inbox.mkdir()
    dump = inbox / "export.csv"  # a database dump dropped by mistake (sparse: no disk used)
    with dump.open("wb") as f:
        f.truncate(300 * 2**20)
    _aged(dump)
    good = inbox / "settle-2026-11-23.csv"
    good.write_text(HEADER + "M-100,pp-1,B1,2026-11-23,1,1.00,CNY\n")
    _aged(good)
    collector = _inbox_collector(tmp_path, mosquitto.port)
    with collector:
        error = inbox / "rejected" / "export.csv.error.txt"
        wait_for(error.exists, 30, what="the dump rejected")
        assert "it is 300 MiB, over the inbox's 256 MiB" in error.read_text()
        wait_for((inbox / "done" / good.name).exists, 30, what="the day's file reconciled")
        assert collector.alive()


def test_the_inbox_judges_business_dates_by_the_acquirers_cut_off_setting(
    mosquitto: MosquittoProcess, tmp_path: Path, inventory: Path
) -> None:
    inbox = tmp_path / "settlement"
    inbox.mkdir()
    db = tmp_path / "c.sqlite"
    collector = _inbox_collector(
        tmp_path,
        mosquitto.port,
        inventory,
        POSFLEET_SETTLEMENT_CUTOFF="21:00",  # the batches close at 22:00: the 24th's
        POSFLEET_SETTLEMENT_CUTOFF_TZ="Asia/Shanghai",
    )
    with collector:
        _batches_stored(mosquitto.port, collector, db)
        settle = inbox / "settle-2026-11-24.csv"
        settle.write_text(
            HEADER
            + "M-100,pp-1,B1,2026-11-24,120,12345.00,CNY\n"
            + "M-100,pp-2,B9,2026-11-24,1,1.00,CNY\n"  # names pp-2; its B2 is not settled
        )
        _aged(settle)
        wait_for(lambda: (inbox / "done" / settle.name).exists(), 30, what="file reconciled")
        assert _rows(
            db, "SELECT kind, terminal_id, batch_id, business_date FROM shortfall_cases ORDER BY 1"
        ) == [
            ("missing_in_settlement", "pp-2", "B2", "2026-11-24"),
            ("missing_on_terminal", "pp-2", "B9", "2026-11-24"),
        ]


def test_an_acquirers_own_inbox_directory_reconciles_its_files_by_its_own_cut_off(
    mosquitto: MosquittoProcess, tmp_path: Path, inventory: Path
) -> None:
    """One deployment, two acquirers: the default's day is the calendar day, bank-x's ends at
    21:00 Beijing time; the batches close at 22:00 on the 23rd (bank-x's 24th)."""
    inbox = tmp_path / "settlement"
    db = tmp_path / "c.sqlite"
    collector = _inbox_collector(
        tmp_path,
        mosquitto.port,
        inventory,
        POSFLEET_SETTLEMENT_ACQUIRERS="bank-x=21:00@Asia/Shanghai",
    )

    def cases() -> list[tuple[object, ...]]:
        return _rows(
            db,
            "SELECT kind, terminal_id, batch_id, business_date FROM shortfall_cases ORDER BY 3",
        )

    with collector:
        wait_for(lambda: (inbox / "bank-x" / "done").is_dir(), 30, what="bank-x's inbox made")
        _batches_stored(mosquitto.port, collector, db)
        # In the inbox itself, midnight: B2 closed on the 23rd, so the 24th's file misses
        # nothing of pp-2's; only its unknown batch B9 is a case.
        plain = inbox / "settle-2026-11-24.csv"
        plain.write_text(
            HEADER
            + "M-100,pp-1,B1,2026-11-24,120,12345.00,CNY\n"
            + "M-100,pp-2,B9,2026-11-24,1,1.00,CNY\n"
        )
        _aged(plain)
        wait_for(lambda: (inbox / "done" / plain.name).exists(), 30, what="file reconciled")
        assert cases() == [("missing_on_terminal", "pp-2", "B9", "2026-11-24")]
        # bank-x's file for the same day, in bank-x's directory: B2 is bank-x's 24th.
        bank_x = inbox / "bank-x" / "bx-2026-11-24.csv"
        bank_x.write_text(
            HEADER
            + "M-100,pp-1,B1,2026-11-24,120,12345.00,CNY\n"
            + "M-100,pp-2,B10,2026-11-24,1,1.00,CNY\n"
        )
        _aged(bank_x)
        filed = inbox / "bank-x" / "done" / bank_x.name
        wait_for(filed.exists, 30, what="bank-x's file reconciled")
        assert cases() == [
            ("missing_on_terminal", "pp-2", "B10", "2026-11-24"),
            ("missing_in_settlement", "pp-2", "B2", "2026-11-24"),
            ("missing_on_terminal", "pp-2", "B9", "2026-11-24"),
        ]
        report = filed.with_name(filed.name + ".report.txt").read_text()
        assert (
            "business day (acquirer bank-x): the business day ends at 21:00 on "
            "Asia/Shanghai's clock" in report
        )
        first = (inbox / "done" / (plain.name + ".report.txt")).read_text()
        assert (
            "business day: the calendar day (midnight to midnight) on each store's clock" in first
        )
    assert collector.returncode == 0


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("bank-x", "has no '='"),
        ("bank-x=25:00", "acquirer 'bank-x': '25:00' is not a time of day"),
        ("bank-x=23:00@Mars/Base", "acquirer 'bank-x': unknown time zone 'Mars/Base'"),
        ("done=23:00", "'done' cannot name an acquirer's inbox directory"),
        ("../x=23:00", "'../x' cannot name an acquirer's inbox directory"),
        ("a=23:00,a=22:00", "acquirer 'a' is listed twice"),
    ],
)
def test_a_bad_acquirer_cut_off_is_refused_naming_the_setting_and_the_fix(
    value: str, says: str
) -> None:
    with pytest.raises(ConfigError) as bad:
        load_settings(settlement_acquirers=value)
    assert "POSFLEET_SETTLEMENT_ACQUIRERS" in str(bad.value)
    assert says in str(bad.value)


def test_acquirer_cut_offs_are_read_as_written_and_a_bad_one_stops_the_collector(
    tmp_path: Path,
) -> None:
    settings = load_settings(settlement_acquirers=" unionpay=23:00@Asia/Shanghai, bank-x=2:00 ")
    assert settings.settlement_acquirer_rules == {
        "unionpay": Cutoff(timedelta(hours=23), "Asia/Shanghai"),
        "bank-x": Cutoff(timedelta(hours=2)),
    }
    assert load_settings().settlement_acquirer_rules == {}
    done = subprocess.run(
        [sys.executable, "-m", "collector.main", "run", "--db", str(tmp_path / "c.sqlite")],
        env={**os.environ, "POSFLEET_SETTLEMENT_ACQUIRERS": "unionpay=11pm"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "POSFLEET_SETTLEMENT_ACQUIRERS" in done.stderr, done.stderr
    assert "acquirer 'unionpay': '11pm' is not a time of day" in done.stderr
