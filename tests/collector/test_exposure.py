"""What the collector exposes by default: /metrics and /healthz on loopback only; a
production bind is explicit (POSFLEET_METRICS_HOST / --metrics-host)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import load_config, load_settings
from collector.service import Collector


@pytest.fixture(autouse=True)
def _no_metrics_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POSFLEET_METRICS_HOST", raising=False)
    monkeypatch.setenv("POSFLEET_ALERTS", "false")


def test_metrics_listen_on_loopback_unless_a_bind_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collector = Collector(load_config(db=tmp_path / "s.sqlite", metrics_port=0))
    try:
        assert collector.http.server.server_address[0] == "127.0.0.1"
    finally:
        collector.http.server.server_close()
        collector.fleet.close()
        collector.store.close()
    # A production bind is explicit.
    monkeypatch.setenv("POSFLEET_METRICS_HOST", "0.0.0.0")
    assert load_settings().metrics_host == "0.0.0.0"
    assert load_settings(metrics_host="10.20.0.5").metrics_host == "10.20.0.5"  # --metrics-host
