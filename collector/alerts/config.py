"""Alert settings: typed, read once by the collector's main (env ``POSFLEET_ALERT_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AlertSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSFLEET_ALERT_", extra="ignore")

    # pending_for: the delay a condition must hold before it pages. gateway_down must
    # outlast the spread of a site's wills (up to ~1.5 x keepalive) so that the site is
    # recognised first and pages once; see docs/alerts.md.
    pending_gateway_down_s: float = Field(60.0, ge=0)
    pending_terminal_down_s: float = Field(90.0, ge=0)
    pending_site_down_s: float = Field(30.0, ge=0)
    pending_default_s: float = Field(0.0, ge=0)
    pending_network_degraded_s: float = Field(120.0, ge=0)

    # A graceful offline with a planned reason (reboot, upgrade, shutdown, maintenance) does
    # not page for this long; a device still down after it is a fault and pages.
    # "decommission" never pages.
    planned_grace_s: float = Field(900.0, ge=0)

    # Escalation: seconds after firing at which the level rises (level 1 at fire).
    escalation_after_s: list[float] = Field(default_factory=lambda: [900.0, 1800.0])

    # Flapping: more than N down/up changes within the window; resolved after quiet.
    flap_changes: int = Field(5, ge=1)
    flap_window_s: float = Field(600.0, gt=0)
    flap_quiet_s: float = Field(900.0, gt=0)

    # Network degraded (mean over a window, raise/clear thresholds = hysteresis).
    network_window_s: float = Field(300.0, gt=0)
    latency_raise_ms: float = 400.0
    latency_clear_ms: float = 250.0
    loss_raise_pct: float = 5.0
    loss_clear_pct: float = 2.0
    signal_raise_dbm: float = -105.0  # weaker (lower) than this raises
    signal_clear_dbm: float = -100.0

    # Hardware.
    battery_low_pct: float = 10.0
    battery_ok_pct: float = 20.0
    battery_health_min_pct: float = 60.0
    temperature_raise_c: float = 70.0
    temperature_clear_c: float = 65.0
    storage_raise_pct: float = 95.0
    storage_clear_pct: float = 90.0

    # Clock skew |device ts - receipt time|.
    clock_skew_raise_s: float = Field(120.0, gt=0)
    clock_skew_clear_s: float = Field(60.0, gt=0)

    # How often operator actions are picked up from the store.
    poll_actions_s: float = Field(3.0, gt=0)
    poll_windows_s: float = Field(5.0, gt=0)
    poll_policy_s: float = Field(30.0, gt=0)
    # maintenance_overdue sweep: this many terminals every poll_maintenance_s.
    maintenance_chunk: int = Field(1000, ge=1)
    poll_maintenance_s: float = Field(5.0, gt=0)

    # Optional webhook notifier (collector.alerts.webhook) for teams without Alertmanager.
    webhook_url: str | None = None
    webhook_poll_s: float = Field(2.0, gt=0)

    def pending_for(self, kind: str) -> float:
        value = getattr(self, f"pending_{kind}_s", None)
        return float(value) if value is not None else self.pending_default_s
