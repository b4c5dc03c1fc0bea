"""Configuration is read once, at the edge: ``Collector`` takes what ``load_config`` read and
never looks at the environment again (STYLE: config is typed, read once in main())."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import load_config
from collector.service import Collector


def test_the_collector_runs_on_the_settings_it_was_given_not_on_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S", "5")
    monkeypatch.setenv("POSFLEET_INFLUX_URL", "")
    config = load_config(db=tmp_path / "s.sqlite", metrics_host="127.0.0.1", metrics_port=0)
    assert config.alerts is not None
    assert config.alerts.pending_gateway_down_s == 5
    # The environment changes (or is broken) after the settings were read: no effect.
    monkeypatch.setenv("POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S", "not a number")
    monkeypatch.setenv("POSFLEET_INFLUX_URL", "http://influx.example:8086")
    collector = Collector(config)
    try:
        (listener,) = collector.processor.listeners
        assert listener.engine.settings.pending_gateway_down_s == 5  # type: ignore[attr-defined]
        assert collector.sinks == []  # no InfluxDB sink: the config said none
    finally:
        if collector.webhook is not None:
            collector.webhook.close()
        collector.http.server.server_close()
        collector.fleet.close()
        collector.store.close()
