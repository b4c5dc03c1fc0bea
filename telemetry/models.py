"""Versioned message models (wire version 1).

Rules a vendor can rely on:
- every payload is a JSON object with ``v`` (wire version, currently 1), ``gw`` (the
  gateway id, equal to the one in the topic) and ``ts`` (device time: RFC 3339 with an
  offset, or Unix seconds);
- messages on ``terminal/{terminal_id}/...`` topics also carry ``terminal``;
- unknown *additional* fields are ignored, so newer agents can add optional data;
- numbers must be finite (no NaN/Infinity).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from telemetry.topics import ID_PATTERN

WIRE_VERSION = 1

GatewayId = Annotated[str, Field(pattern=f"^{ID_PATTERN}$")]
Pct = Annotated[float, Field(ge=0, le=100)]
Short = Annotated[str, Field(max_length=128)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)

    v: Literal[1] = 1
    gw: GatewayId
    ts: AwareDatetime
    terminal: GatewayId | None = None
    # Back-filled from the agent's offline queue: stored, never treated as live.
    historical: bool = False
    # A probe that failed says so here instead of silencing the others.
    errors: dict[Short, Annotated[str, Field(max_length=512)]] = Field(
        default_factory=dict, max_length=32
    )


class LinkState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class OfflineReason(StrEnum):
    CONNECTION_LOST = "connection_lost"  # the Last Will: unplanned
    SHUTDOWN = "shutdown"
    REBOOT = "reboot"
    UPGRADE = "upgrade"
    MAINTENANCE = "maintenance"
    DECOMMISSION = "decommission"


# The agent's reconnect backoff (exponential, full jitter): after the broker comes back, every
# agent has reconnected within RECONNECT_MAX_DELAY_S. The collector holds the wills of a
# broker restart that long (docs/protocol.md "Sessions"); agent/contract.py has the same.
RECONNECT_MIN_DELAY_S = 1.0
RECONNECT_MAX_DELAY_S = 120.0

PLANNED_REASONS = frozenset(
    {
        OfflineReason.SHUTDOWN,
        OfflineReason.REBOOT,
        OfflineReason.UPGRADE,
        OfflineReason.MAINTENANCE,
        OfflineReason.DECOMMISSION,
    }
)


class Status(_Wire):
    """Retained birth (``online``) or will / graceful stop (``offline``).

    ``session`` rises on every connect; an offline whose session is older than the
    current birth is stale and ignored.
    """

    state: LinkState
    session: Annotated[int, Field(ge=0)]
    reason: OfflineReason | None = None


class Heartbeat(_Wire):
    session: Annotated[int, Field(ge=0)]
    seq: Annotated[int, Field(ge=0)]
    interval: Annotated[float, Field(gt=0, le=86_400)]
    uptime_s: Annotated[float, Field(ge=0)] | None = None
    boot_id: Short | None = None
    agent_version: Short | None = None
    load1: Annotated[float, Field(ge=0)] | None = None
    mem_used_pct: Pct | None = None
    disk_used_pct: Pct | None = None


class LinkType(StrEnum):
    ETHERNET = "ethernet"
    WIFI = "wifi"
    CELLULAR = "cellular"
    UNKNOWN = "unknown"


class Network(_Wire):
    link: LinkType = LinkType.UNKNOWN
    iface: Short | None = None
    addresses: list[Short] = Field(default_factory=list, max_length=16)
    rssi_dbm: Annotated[float, Field(ge=-150, le=0)] | None = None
    rsrp_dbm: Annotated[float, Field(ge=-160, le=0)] | None = None
    wifi_signal_dbm: Annotated[float, Field(ge=-150, le=0)] | None = None
    latency_ms: Annotated[float, Field(ge=0)] | None = None
    loss_pct: Pct | None = None
    dns_ok: bool | None = None
    dns_ms: Annotated[float, Field(ge=0)] | None = None


class Firmware(_Wire):
    model: Short | None = None
    os: Short | None = None
    kernel: Short | None = None
    terminal_fw: Short | None = None
    payment_app: Short | None = None
    patch_level: Short | None = None


class PrinterState(StrEnum):
    OK = "ok"
    PAPER_LOW = "paper_low"
    PAPER_OUT = "paper_out"
    ERROR = "error"
    ABSENT = "absent"
    UNKNOWN = "unknown"


class Hardware(_Wire):
    battery_pct: Pct | None = None
    battery_health_pct: Pct | None = None
    battery_cycles: Annotated[int, Field(ge=0)] | None = None
    charging: bool | None = None
    temperature_c: Annotated[float, Field(ge=-60, le=200)] | None = None
    storage_used_pct: Pct | None = None
    printer: PrinterState | None = None
    receipts_printed: Annotated[int, Field(ge=0)] | None = None
    error_count: Annotated[int, Field(ge=0)] | None = None


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Event(_Wire):
    type: Short
    severity: Severity = Severity.INFO
    message: Annotated[str, Field(max_length=1024)] = ""
    data: dict[Short, str | float | int | bool | None] = Field(default_factory=dict, max_length=32)


Message = Status | Heartbeat | Network | Firmware | Hardware | Event
