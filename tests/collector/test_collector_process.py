"""collector.process.CollectorProcess: the one way tests, scenarios and benchmarks run
``posfleet-collector run`` as a child (start, read its metrics, stop, restart)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.process import CollectorProcess, CollectorProcessError
from simulators.broker import MosquittoProcess

pytestmark = pytest.mark.integration


def test_it_starts_serves_metrics_stops_cleanly_and_restarts(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    collector = CollectorProcess(tmp_path / "c.sqlite", mosquitto.port)
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
