"""The README's demo command, on the embedded (pip-installed) broker a fresh machine has."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from streamlit.testing.v1 import AppTest

from collector.process import free_port
from simulators.stack.wait import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return str(r.read().decode())
    except OSError:
        return ""


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    """A read of the demo's store; nothing while the collector has not created it."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return []
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()


def _truth(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _yesterday_in_shanghai() -> str:
    return (datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)).isoformat()


def _overview(db: Path) -> AppTest:
    app = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("POSFLEET_DB", str(db))
        return AppTest.from_file(str(app), default_timeout=60).run()


@pytest.mark.parametrize("broker", ["amqtt", "mosquitto"])
def test_demo_starts_broker_collector_fleet_and_dashboard_and_ctrl_c_stops_them(
    tmp_path: Path, broker: str
) -> None:
    metrics, dash = free_port(), free_port()
    bin_dir = Path(sys.executable).parent
    demo = tmp_path / "demo"
    day_at_start = _yesterday_in_shanghai()
    proc = subprocess.Popen(
        [str(bin_dir / "posfleet-demo"), "--dir", str(demo), "--gateways", "25",
         "--heartbeat", "2", "--faults-every", "2", "--txn-faults-every", "3", "--broker", broker,
         "--metrics-port", str(metrics), "--dashboard-port", str(dash)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:

        def online() -> int:
            found = re.findall(
                r'posfleet_gateways\{[^}]*status="online"\} (\d+)',
                _get(f"http://127.0.0.1:{metrics}/metrics"),
            )
            return sum(int(float(n)) for n in found)

        wait_for(lambda: online() >= 15, 120, interval=0.5, what="the fleet online")
        # The demo's console server answers, and the console renders what the demo's collector
        # wrote: the same store, read by the app script itself.
        wait_for(
            lambda: _get(f"http://127.0.0.1:{dash}/_stcore/health") == "ok",
            60,
            interval=0.5,
            what="the demo's console healthy",
        )
        at = _overview(tmp_path / "demo" / "posfleet.sqlite")
        assert not at.exception, at.exception
        assert int(next(m for m in at.metric if m.label == "online").value) >= 15
        wait_for(
            lambda: (
                (tmp_path / "demo" / "truth.jsonl").exists()
                and (tmp_path / "demo" / "truth.jsonl").read_text().count("\n") >= 2
            ),
            60,
            interval=0.5,
            what="faults injected over time",
        )
        # Transaction health out of the box: the payment devices' windows (a week of history,
        # then live ones), yesterday's settlement file reconciled from the collector's inbox,
        # and the refund the acquirer booked twice open as a shortfall case.
        db = demo / "posfleet.sqlite"
        wait_for(
            lambda: _rows(db, "SELECT count(*) FROM txn_aggregates WHERE historical = 0")[0][0],
            60,
            interval=0.5,
            what="live transaction windows stored",
        )
        assert _rows(db, "SELECT count(*) FROM txn_aggregates WHERE historical = 1")[0][0]
        days = {day_at_start, _yesterday_in_shanghai()}
        done = demo / "settlement-inbox" / "done"
        filed = wait_for(
            lambda: [p for p in done.glob("settlement-*.csv") if p.stem[11:] in days],
            60,
            interval=0.5,
            what="yesterday's settlement file reconciled and moved to done/",
        )
        assert not list((demo / "settlement-inbox").glob("*.csv"))
        case_sql = (
            "SELECT terminal_id, batch_id, business_date, terminal_count, settled_count, "
            "difference FROM shortfall_cases WHERE status = 'open' AND kind = 'mismatch'"
        )
        cases = wait_for(lambda: _rows(db, case_sql), 30, interval=0.5, what="a shortfall case")
        dup = [t for t in _truth(demo / "truth.jsonl") if t["fault"] == "duplicated_refund"]
        assert [f"{c[0]}/{c[1]}" for c in cases] == [t["subject_id"] for t in dup]
        terminal, _batch, business_date, terminal_count, settled_count, short = cases[0]
        assert business_date == filed[0].stem[11:]
        # The refund booked twice: one transaction more settled, the merchant short of it.
        assert settled_count == terminal_count + 1, cases  # type: ignore[operator]
        assert short > 0, cases  # type: ignore[operator]
        assert f",{terminal}," in filed[0].read_text()
        # Transaction faults over time: a stuck payment app and a store's issuer outage.
        wait_for(
            lambda: (
                {"stuck_app", "issuer_outage"} <= {t["fault"] for t in _truth(demo / "truth.jsonl")}
            ),
            60,
            interval=0.5,
            what="a stuck payment app and an issuer outage injected",
        )
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out.decode()
        assert b"stopped" in out
        assert b"shortfall cases" in out, out.decode()
        # Everything it started is gone: the ports are free again.
        assert _get(f"http://127.0.0.1:{metrics}/metrics") == ""
        assert _get(f"http://127.0.0.1:{dash}/") == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
