"""When to publish on-change telemetry: a changed field beyond its deadband, or too long silent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Fields = Mapping[str, Any]


def changed(previous: Fields, current: Fields, deadbands: Mapping[str, float]) -> list[str]:
    """Names of fields whose value moved; numbers only count past their deadband."""
    moved = []
    for key in sorted(set(previous) | set(current)):
        old, new = previous.get(key), current.get(key)
        if old == new:
            continue
        band = deadbands.get(key)
        # Only numbers have deadbands; any other change is a change.
        if (
            band is not None
            and isinstance(old, int | float)
            and isinstance(new, int | float)
            and not isinstance(old, bool)
            and abs(float(new) - float(old)) < band
        ):
            continue
        moved.append(key)
    return moved


@dataclass
class ChangePolicy:
    """Per-message-kind state. ``decide`` is pure given the monotonic ``now``."""

    max_silence: float
    deadbands: Mapping[str, float] = field(default_factory=dict)
    last_sent: dict[str, Any] | None = None
    last_sent_at: float | None = None

    def decide(self, current: Fields, now: float) -> bool:
        if self.last_sent is None or self.last_sent_at is None:
            return True
        if now - self.last_sent_at >= self.max_silence:
            return True
        return bool(changed(self.last_sent, current, self.deadbands))

    def sent(self, current: Fields, now: float) -> None:
        self.last_sent = dict(current)
        self.last_sent_at = now


NETWORK_DEADBANDS: dict[str, float] = {
    "rssi_dbm": 6.0,
    "rsrp_dbm": 6.0,
    "wifi_signal_dbm": 6.0,
    "latency_ms": 100.0,
    "loss_pct": 20.0,
    "dns_ms": 200.0,
}
HARDWARE_DEADBANDS: dict[str, float] = {
    "battery_pct": 10.0,
    "battery_health_pct": 5.0,
    "temperature_c": 5.0,
    "storage_used_pct": 5.0,
    "receipts_printed": 1000.0,
    "error_count": 1.0,
}
