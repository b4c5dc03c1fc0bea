"""Alert settings come from POSFLEET_ALERT_* and fail loudly, naming the variable."""

from __future__ import annotations

import pytest

from collector.alerts.config import AlertConfigError, AlertSettings


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S", "45")
    monkeypatch.setenv("POSFLEET_ALERT_ESCALATION_AFTER_S", "[600, 1200, 3600]")
    s = AlertSettings.from_env()
    assert s.pending_for("gateway_down") == 45
    assert s.pending_for("clock_skew") == s.pending_default_s
    assert s.escalation_after_s == [600, 1200, 3600]


def test_a_bad_value_names_the_variable_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSFLEET_ALERT_FLAP_CHANGES", "0")
    with pytest.raises(AlertConfigError, match=r"POSFLEET_ALERT_FLAP_CHANGES: .*'0'.*unset"):
        AlertSettings.from_env()


def test_inverted_hysteresis_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSFLEET_ALERT_LATENCY_CLEAR_MS", "900")
    with pytest.raises(AlertConfigError, match="POSFLEET_ALERT_LATENCY_CLEAR_MS must be"):
        AlertSettings.from_env()
