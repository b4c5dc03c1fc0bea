"""POSFLEET_INFLUX_* settings fail loudly, naming the setting and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from collector.sinks.influx import build_influx_sink
from collector.sinks.settings import InfluxConfigError, load_influx_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("POSFLEET_INFLUX_"):
            monkeypatch.delenv(key)


def test_disabled_by_default_and_then_no_sink_is_built() -> None:
    settings = load_influx_settings()
    assert settings.enabled is False
    assert build_influx_sink(settings, CollectorRegistry()) is None


def test_enabled_without_url_names_the_variable_and_the_way_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POSFLEET_INFLUX_ENABLED", "true")
    with pytest.raises(InfluxConfigError, match="POSFLEET_INFLUX_URL is required") as err:
        load_influx_settings()
    assert "POSFLEET_INFLUX_ENABLED=false" in str(err.value)


def test_token_comes_from_a_file_read_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    for key, value in {
        "ENABLED": "1",
        "URL": "http://127.0.0.1:8086",
        "ORG": "acme",
        "BUCKET": "posfleet",
        "TOKEN_FILE": str(token),
        "BATCH_SIZE": "250",
    }.items():
        monkeypatch.setenv(f"POSFLEET_INFLUX_{key}", value)
    settings = load_influx_settings()
    assert settings.resolved_token() == "s3cret"
    assert settings.batch_size == 250
    assert "s3cret" not in repr(settings)


def test_an_unreadable_token_file_is_reported_with_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(InfluxConfigError, match=r"POSFLEET_INFLUX_TOKEN_FILE=.*nope"):
        load_influx_settings(
            enabled=True, url="http://x:1", org="o", bucket="b", token_file=missing
        )


def test_a_bad_number_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSFLEET_INFLUX_BATCH_SIZE", "0")
    with pytest.raises(InfluxConfigError, match="POSFLEET_INFLUX_BATCH_SIZE"):
        load_influx_settings()
