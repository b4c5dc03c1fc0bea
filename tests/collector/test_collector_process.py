"""collector.process.CollectorProcess: the one way tests, scenarios and benchmarks run
``posfleet-collector run`` as a child (start, read its metrics, stop, restart)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.stack import enrol
from support.wire import wait_connected

from collector.process import CollectorProcess, CollectorProcessError
from collector.store import db
from simulators.broker import MosquittoProcess
from simulators.stack.single_gateway import TestGateway
from simulators.stack.wait import wait_for

pytestmark = pytest.mark.integration


def test_it_starts_serves_metrics_stops_cleanly_and_restarts(
    mosquitto: MosquittoProcess, store_url: str
) -> None:
    collector = CollectorProcess(store_url, mosquitto.port)
    with collector:
        assert collector.alive()
        assert collector.sample_value("posfleet_collector_rejected_total", reason="schema") == 0
        assert collector.rejected()["schema"] == 0
        _cpu, rss = collector.sample()
        assert rss > 10  # MB: a real Python process
    assert collector.returncode == 0  # SIGTERM: a clean stop
    collector.start()
    assert collector.stop(hard=True) == -9  # SIGKILL
    assert collector.starts == 2


def test_a_collector_that_cannot_start_says_why(tmp_path: Path) -> None:
    collector = CollectorProcess(
        tmp_path / "missing-dir" / "c.sqlite", 1, log_path=tmp_path / "collector.log"
    )
    with pytest.raises(CollectorProcessError, match="exited \\(2\\)"):
        collector.start(timeout=60)
    assert "POSFLEET_DB" in collector.log_tail()


def test_a_postgresql_store_that_cannot_be_reached_is_named_without_its_password(
    tmp_path: Path,
) -> None:
    from collector.process import free_port

    url = f"postgresql://posfleet:s3cret-pw@127.0.0.1:{free_port()}/posfleet"
    collector = CollectorProcess(url, 1, log_path=tmp_path / "collector.log")
    with pytest.raises(CollectorProcessError, match="exited \\(2\\)"):
        collector.start(timeout=60)
    log = collector.log_tail()
    assert "POSFLEET_DB" in log
    assert "posfleet:***@127.0.0.1" in log
    assert "s3cret-pw" not in log


def test_a_gateway_that_dies_goes_down_pages_and_shows_in_the_metrics_of_a_collector_process(
    mosquitto: MosquittoProcess, store_url: str, tmp_path: Path
) -> None:
    """The whole path in a real ``posfleet-collector run`` on each engine: will -> down
    transition, incident, alert row, and the fleet metrics read from the store."""
    enrol(store_url, "gw-d", "gw-s")
    collector = CollectorProcess(
        store_url, mosquitto.port, log_path=tmp_path / "collector.log",
        env={"POSFLEET_GRACE_MIN_S": "0.5", "POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S": "0"},
    )  # fmt: skip
    dies = TestGateway("gw-d", mosquitto.port, interval=5)
    stays = TestGateway("gw-s", mosquitto.port, interval=5)
    with collector:
        # Subscribed before the gateways are born: a birth the collector first reads as
        # the broker's retained memory, on its first connection (no session yet: maybe a
        # broker that restarted), holds the gateway's will for the restart hold (130 s).
        wait_connected(collector)
        dies.connect()
        stays.connect()
        try:
            wait_for(
                lambda: collector.sample_value("posfleet_gateways", status="online") == 2,
                20,
                what="both gateways online in the metrics",
            )
            dies.kill()
            wait_for(
                lambda: collector.sample_value("posfleet_alert_firing", gateway="gw-d") == 1,
                20,
                what="the dead gateway paging in the metrics",
            )
            assert collector.sample_value("posfleet_gateways", status="down") == 1
            assert collector.sample_value("posfleet_gateways", status="online") == 1
            assert (
                collector.sample_value(
                    "posfleet_collector_state_changes_total",
                    subject_type="gateway",
                    to="down",
                )
                == 1
            )
        finally:
            stays.close()
    assert collector.returncode == 0
    conn = db.connect(store_url, readonly=True)
    try:
        assert [tuple(r) for r in conn.execute(_DOWN_ROWS)] == [
            ("gw-d", "online", "down", "will:connection_lost")
        ]
        assert [tuple(r) for r in conn.execute(_INCIDENTS)] == [("gw-d", "will", "fault", None)]
        assert [tuple(r) for r in conn.execute(_ALERTS)] == [("gateway_down", "gw-d", "firing")]
    finally:
        conn.close()


_DOWN_ROWS = (
    "SELECT subject_id, from_status, to_status, reason FROM state_changes "
    "WHERE to_status = 'down' ORDER BY id"
)
_INCIDENTS = "SELECT subject_id, detected_by, class, ended_at FROM incidents ORDER BY id"
_ALERTS = "SELECT kind, subject_id, state FROM alerts ORDER BY id"
