"""Accepted messages -> InfluxDB line protocol (pure; documented in docs/influx.md).

Rules that keep the long-term store usable for months:
- one measurement per message kind (``heartbeat``, ``network``, ``hardware``, ``status``,
  ``firmware``, ``event``);
- tags are bounded per fleet: ``gateway``, ``terminal``, enums (link, printer, state,
  severity, event type), version strings, and the inventory tags the caller passes in
  (site, region, model). Free text (event messages, addresses, boot ids) is never a tag;
- every field is a float (booleans 1.0/0.0), so a value that is an int on one agent and a
  float on another never causes a field type conflict (InfluxDB rejects those);
- the point time is the device ``ts`` in milliseconds: back-filled (historical) messages
  land where they happened. Same series + same time overwrites in InfluxDB, which makes
  a retried batch idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping

from telemetry.codec import Decoded
from telemetry.models import (
    Event,
    Firmware,
    Hardware,
    Heartbeat,
    Message,
    Network,
    OfflineReason,
    Status,
    Transactions,
)

# influxdb-client's WritePrecision.MS value; a str keeps this module free of the client.
PRECISION = "ms"

# The same escapes as influxdb-client's Point (its unit tests pin the format).
_CONTROL = {"\n": r"\n", "\t": r"\t", "\r": r"\r"}
_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", **_CONTROL})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", **_CONTROL})

_HEARTBEAT_FIELDS = ("uptime_s", "load1", "mem_used_pct", "disk_used_pct", "interval", "seq")
_NETWORK_FIELDS = (
    "rssi_dbm",
    "rsrp_dbm",
    "wifi_signal_dbm",
    "latency_ms",
    "loss_pct",
    "dns_ok",
    "dns_ms",
)
_HARDWARE_FIELDS = (
    "battery_pct",
    "battery_health_pct",
    "battery_cycles",
    "charging",
    "temperature_c",
    "storage_used_pct",
    "receipts_printed",
    "error_count",
)
_FIRMWARE_TAGS = ("model", "os", "kernel", "terminal_fw", "payment_app", "patch_level")


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


def _fields(message: Message, names: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in names:
        number = _number(getattr(message, name))
        if number is not None:
            out[name] = number
    return out


def _tags_and_fields(message: Message) -> tuple[dict[str, str], dict[str, float]]:
    tags: dict[str, str] = {}
    fields: dict[str, float]
    if isinstance(message, Heartbeat):
        fields = _fields(message, _HEARTBEAT_FIELDS)
        if message.agent_version:
            tags["agent_version"] = message.agent_version
    elif isinstance(message, Network):
        fields = _fields(message, _NETWORK_FIELDS)
        tags["link"] = message.link.value
    elif isinstance(message, Hardware):
        fields = _fields(message, _HARDWARE_FIELDS)
        if message.printer is not None:
            tags["printer"] = message.printer.value
    elif isinstance(message, Status):
        fields = {"up": 1.0 if message.state == "online" else 0.0}
        tags["state"] = message.state.value
        if message.reason is not None:
            # A reason this version does not know is one tag value, not one per spelling.
            reason = message.reason
            tags["reason"] = reason.value if isinstance(reason, OfflineReason) else "other"
    elif isinstance(message, Firmware):
        # Versions are strings: tags (bounded by the versions a fleet runs), plus a
        # constant field because a point needs at least one field.
        tags.update({k: v for k in _FIRMWARE_TAGS if (v := getattr(message, k))})
        fields = {"reported": 1.0}
    elif isinstance(message, Transactions):
        # Counts and amounts of the window; acquirer and currency are bounded ids (tags).
        fields = {f"outcome_{k}": float(v) for k, v in message.outcomes.model_dump().items()}
        fields.update({f"class_{k}": float(v) for k, v in message.responses.model_dump().items()})
        fields["approved_amount"] = float(message.approved_amount)
        fields["refunded_amount"] = float(message.refunded_amount)
        fields["window_s"] = (message.until - message.since).total_seconds()
        tags.update({k: v for k in ("currency", "acquirer") if (v := getattr(message, k))})
    else:
        assert isinstance(message, Event)
        tags["type"] = message.type
        tags["severity"] = message.severity.value
        fields = {"count": 1.0}
        for key, value in message.data.items():
            number = _number(value)
            if number is not None:
                fields[f"data_{key}"] = number
    if message.errors:
        fields["probe_errors"] = float(len(message.errors))
    return tags, fields


def to_lines(decoded: Decoded, extra_tags: Mapping[str, str] | None = None) -> list[str]:
    """Line protocol for one accepted message; empty when it carries no numeric value."""
    message = decoded.message
    tags, fields = _tags_and_fields(message)
    if not fields:
        return []
    # Identity tags last: inventory tags can never rename a series' gateway or terminal.
    all_tags = {**(extra_tags or {}), **tags, "gateway": message.gw}
    if message.terminal:
        all_tags["terminal"] = message.terminal
    tag_part = "".join(
        f",{k.translate(_KEY_ESCAPES)}={v.translate(_KEY_ESCAPES)}"
        for k, v in sorted(all_tags.items())
        if v  # an empty tag value is invalid line protocol
    )
    field_part = ",".join(f"{k.translate(_KEY_ESCAPES)}={v!r}" for k, v in sorted(fields.items()))
    millis = round(message.ts.timestamp() * 1000)
    return [
        f"{decoded.ref.kind.value.translate(_MEASUREMENT_ESCAPES)}{tag_part} {field_part} {millis}"
    ]
