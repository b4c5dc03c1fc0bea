"""The README's demo command, on the embedded (pip-installed) broker a fresh machine has."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

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
    proc = subprocess.Popen(
        [str(bin_dir / "posfleet-demo"), "--dir", str(tmp_path / "demo"), "--gateways", "25",
         "--heartbeat", "2", "--faults-every", "2", "--broker", broker, "--metrics-port",
         str(metrics), "--dashboard-port", str(dash)],
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
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out.decode()
        assert b"stopped" in out
        # Everything it started is gone: the ports are free again.
        assert _get(f"http://127.0.0.1:{metrics}/metrics") == ""
        assert _get(f"http://127.0.0.1:{dash}/") == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
