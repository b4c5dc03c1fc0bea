"""Drills: the collector's own blind spots page nobody.

- Broker restart: 1,000 connected gateways, Mosquitto stopped for longer than several
  down deadlines, then started on the same port; every gateway (and the collector)
  reconnects -> zero incidents, zero alerts firing.
- Collector restart: `posfleet-collector run` as a subprocess, SIGKILLed, left dead past
  several deadlines, started again on the same database -> zero incidents.

Waiting out the blind period is the scenario itself (deadlines must pass), so it is a
wait_for on elapsed monotonic time, never a sleep used to synchronise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.stack import fleet_stack, query
from support.wait import wait_for

from collector.main import Collector
from simulators.broker import MosquittoProcess
from simulators.fleetmodel import generate
from simulators.gateways import Fleet
from simulators.runner import FleetRunner

pytestmark = [pytest.mark.integration, pytest.mark.slow]


_q = query


def _elapsed(seconds: float) -> None:
    t0 = time.monotonic()
    wait_for(lambda: time.monotonic() - t0 >= seconds, seconds + 5, what=f"{seconds} s pass")


def _now_iso(db: Path) -> str:
    row = _q(db, "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")[0][0]
    assert isinstance(row, str)
    return row


def _all_seen_since(db: Path, n: int, since: str) -> bool:
    return _q(db, "SELECT count(*) FROM gateways WHERE last_seen_at > ?", since) == [(n,)]


def _no_harm(db: Path) -> None:
    assert _q(db, "SELECT count(*) FROM incidents") == [(0,)]
    assert _q(db, "SELECT count(*) FROM alerts WHERE state='firing'") == [(0,)]
    assert _q(db, "SELECT count(*) FROM state_changes WHERE to_status='down'") == [(0,)]


@pytest.fixture
def thousand(
    mosquitto: MosquittoProcess, db_path: Path, tmp_path: Path
) -> Iterator[tuple[FleetRunner, Collector]]:
    with fleet_stack(
        generate(1000, seed=3), mosquitto, db_path, tmp_path, interval=5.0, keepalive=10
    ) as stack:
        yield stack


def test_a_broker_restart_with_a_thousand_gateways_opens_no_incident(
    thousand: tuple[FleetRunner, Collector], mosquitto: MosquittoProcess, db_path: Path
) -> None:
    _runner, collector = thousand
    mosquitto.stop()
    wait_for(lambda: not collector.health()[0], 15, what="collector sees the broker gone")
    # Down deadline = 5 s + 2 x 1.25 s grace = 7.5 s: stay blind for two of them.
    _elapsed(15)
    mosquitto.start()
    wait_for(lambda: collector.health()[0], 30, what="collector reconnected")
    back = _now_iso(db_path)
    wait_for(lambda: _all_seen_since(db_path, 1000, back), 60, what="all 1000 heard again")
    # A full down deadline after everyone is back, any false deadline would have fired.
    _elapsed(8)
    _no_harm(db_path)
    assert _q(db_path, "SELECT count(*) FROM gateways WHERE status='online'") == [(1000,)]


def _collector_proc(db: Path, port: int, inv: Path | None, log: Path) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-m",
        "collector.main",
        "run",
        "--db",
        str(db),
        "--broker-port",
        str(port),
        "--metrics-host",
        "127.0.0.1",
        "--metrics-port",
        "0",
    ]
    if inv is not None:
        args += ["--inventory", str(inv)]
    env = {**os.environ, "POSFLEET_GRACE_MIN_S": "0.5"}
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def test_a_collector_killed_and_restarted_opens_no_incident(
    mosquitto: MosquittoProcess, db_path: Path, tmp_path: Path
) -> None:
    n = 300
    model = generate(n, seed=5)
    inv = tmp_path / "inventory"
    model.export_inventory(inv)
    log = tmp_path / "collector.log"
    proc = _collector_proc(db_path, mosquitto.port, inv, log)
    runner = FleetRunner(
        Fleet(model.gateways, "127.0.0.1", mosquitto.port, interval=2.0, keepalive=5)
    ).start()
    try:
        runner.call(lambda f: f.connect_all())
        wait_for(
            lambda: (
                db_path.exists()
                and _q(db_path, "SELECT count(*) FROM sqlite_master WHERE name='gateways'")
                == [(1,)]
                and _q(db_path, "SELECT count(*) FROM gateways WHERE status='online'") == [(n,)]
            ),
            60,
            what=f"{n} gateways online",
        )
        _kill(proc)
        # Down deadline = 2 s + 2 x 0.5 s = 3 s: dead for several of them.
        _elapsed(10)
        proc = _collector_proc(db_path, mosquitto.port, None, log)
        back = _now_iso(db_path)
        wait_for(lambda: _all_seen_since(db_path, n, back), 60, what=f"all {n} heard again")
        _elapsed(4)
        assert proc.poll() is None, log.read_text()
        _no_harm(db_path)
        assert _q(db_path, "SELECT count(*) FROM gateways WHERE status='online'") == [(n,)]
    finally:
        runner.stop()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                _kill(proc)
