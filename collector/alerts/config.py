"""Alert settings: typed, read once by the collector's main (env ``POSFLEET_ALERT_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "POSFLEET_ALERT_"


class AlertConfigError(ValueError):
    """A bad alert setting; the message names the environment variable and the fix."""


class AlertSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # pending_for: the delay a condition must hold before it pages. A will is already held
    # 2 s by liveness (a quick reconnect never reaches the engine), so gateway_down and
    # site_down page almost at once: a killed gateway must page within 30 s with the
    # recommended Prometheus/Alertmanager intervals (docs/alerting.md "Page latency").
    pending_gateway_down_s: float = Field(1.0, ge=0)
    pending_terminal_down_s: float = Field(90.0, ge=0)
    pending_site_down_s: float = Field(0.0, ge=0)
    # A store that loses power loses its gateways one keepalive expiry at a time (up to
    # 1.5 x the agent's keepalive apart). A gateway that goes down less than this after a
    # sibling of its site waits until this long after that sibling's outage began: either
    # the whole store goes down meanwhile (one site_down, the gateways inhibited) or it
    # pages then. The first gateway of a store pages at once: nothing distinguishes it yet
    # from a single gateway's death. 0 disables the hold.
    site_spread_s: float = Field(90.0, ge=0)
    pending_default_s: float = Field(0.0, ge=0)
    pending_network_degraded_s: float = Field(120.0, ge=0)

    # A graceful offline with a planned reason (reboot, upgrade, shutdown, maintenance) does
    # not page for this long; a device still down after it is a fault and pages.
    # "decommission" never pages.
    planned_grace_s: float = Field(900.0, ge=0)

    # Escalation: seconds after firing at which the level rises (level 1 at fire).
    escalation_after_s: list[float] = Field(default_factory=lambda: [900.0, 1800.0])
    # The same per severity (unset: escalation_after_s), e.g. a critical page climbs faster.
    escalation_after_critical_s: list[float] | None = None
    escalation_after_warning_s: list[float] | None = None
    escalation_after_info_s: list[float] | None = None

    def escalation_delays(self, severity: str) -> list[float]:
        """Seconds after firing at which an alert of ``severity`` climbs a level."""
        own = getattr(self, f"escalation_after_{severity}_s", None)
        return sorted(own if own is not None else self.escalation_after_s)

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
    # terminal_silent (collector.alerts.silence): fold new transaction windows into each
    # terminal's hour-of-week baseline and judge silence_chunk terminals every
    # poll_silence_s. Silent: at least silence_expected transactions were expected since the
    # last one (chance < 0.1 % at 7), and at least silence_floor_s have passed.
    poll_silence_s: float = Field(15.0, gt=0)
    silence_chunk: int = Field(5000, ge=1)
    silence_expected: float = Field(15.0, gt=0)
    silence_floor_s: float = Field(1800.0, ge=0)
    silence_min_hours: float = Field(1.5, gt=0)
    # txn_failure_spike (collector.alerts.spikes): every poll_spikes_s, the last
    # spike_window_s of each store's windows; a category spikes at >= spike_min_failures of
    # >= spike_min_attempts, a share >= spike_min_ratio and >= spike_factor x its own usual.
    poll_spikes_s: float = Field(30.0, gt=0)
    spike_window_s: float = Field(1200.0, gt=0)
    spike_min_attempts: int = Field(10, ge=1)
    spike_min_failures: int = Field(5, ge=1)
    spike_min_ratio: float = Field(0.2, gt=0, le=1)
    spike_factor: float = Field(4.0, ge=1)

    # Optional webhook notifier (collector.alerts.webhook) for teams without Alertmanager.
    # The URL usually carries a token: give it in a file (POSFLEET_ALERT_WEBHOOK_URL_FILE,
    # e.g. a systemd credential), like the broker password. Never logged, never in a repr.
    webhook_url: SecretStr | None = None
    webhook_url_file: Path | None = None
    webhook_poll_s: float = Field(2.0, gt=0)

    @model_validator(mode="after")
    def _webhook_url_from_file(self) -> Self:
        path = self.webhook_url_file
        if path is None:
            return self
        if self.webhook_url is not None:
            raise ValueError(
                f"set {ENV_PREFIX}WEBHOOK_URL or {ENV_PREFIX}WEBHOOK_URL_FILE, not both"
            )
        try:
            url = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(
                f"{ENV_PREFIX}WEBHOOK_URL_FILE: cannot read {path} ({exc.strerror}); "
                "point it at a readable file holding the URL"
            ) from None
        if not url:
            raise ValueError(f"{ENV_PREFIX}WEBHOOK_URL_FILE: {path} is empty; write the URL in it")
        self.webhook_url = SecretStr(url)
        return self

    def webhook_endpoint(self) -> str | None:
        """The webhook URL (from the variable or its file), or None when unset."""
        return self.webhook_url.get_secret_value() if self.webhook_url else None

    @model_validator(mode="after")
    def _hysteresis_is_consistent(self) -> Self:
        # A clear threshold on the wrong side of its raise threshold would flap forever.
        pairs = [
            (
                "latency_clear_ms",
                "latency_raise_ms",
                self.latency_clear_ms <= self.latency_raise_ms,
            ),
            ("loss_clear_pct", "loss_raise_pct", self.loss_clear_pct <= self.loss_raise_pct),
            (
                "signal_clear_dbm",
                "signal_raise_dbm",
                self.signal_clear_dbm >= self.signal_raise_dbm,
            ),
            ("battery_ok_pct", "battery_low_pct", self.battery_ok_pct >= self.battery_low_pct),
            (
                "temperature_clear_c",
                "temperature_raise_c",
                self.temperature_clear_c <= self.temperature_raise_c,
            ),
            (
                "storage_clear_pct",
                "storage_raise_pct",
                self.storage_clear_pct <= self.storage_raise_pct,
            ),
            (
                "clock_skew_clear_s",
                "clock_skew_raise_s",
                self.clock_skew_clear_s <= self.clock_skew_raise_s,
            ),
        ]
        for clear, raise_, ok in pairs:
            if not ok:
                raise ValueError(
                    f"{ENV_PREFIX}{clear.upper()} must be on the healthy side of "
                    f"{ENV_PREFIX}{raise_.upper()} (hysteresis)"
                )
        return self

    @classmethod
    def from_env(cls) -> AlertSettings:
        """Read once in main(); a bad value fails loudly, naming the variable and the fix."""
        try:
            return cls()
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                name = ".".join(str(p) for p in err["loc"])
                var = f"{ENV_PREFIX}{name.upper()}" if name else "alert settings"
                # A whole-model error's input is every setting, the webhook URL included.
                got = "" if not name or "webhook_url" in name else f" (got {err.get('input')!r})"
                problems.append(f"{var}: {err['msg']}{got}")
            raise AlertConfigError(
                "invalid alert settings: " + "; ".join(problems) + ". Fix or unset the "
                "variable to use the default (see docs/alerts.md)."
            ) from None

    def pending_for(self, kind: str) -> float:
        value = getattr(self, f"pending_{kind}_s", None)
        return float(value) if value is not None else self.pending_default_s
