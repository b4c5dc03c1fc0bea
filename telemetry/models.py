"""Versioned message models (wire version 1).

Rules a vendor can rely on:
- every payload is a JSON object with ``v`` (wire version, currently 1), ``gw`` (the
  gateway id, equal to the one in the topic) and ``ts`` (device time: RFC 3339 with an
  offset, or Unix seconds);
- messages on ``terminal/{terminal_id}/...`` topics also carry ``terminal``;
- unknown *additional* fields are ignored, so newer agents can add optional data;
- numbers must be finite (no NaN/Infinity), integers within 0..2**53-1 (exact as a JSON
  number in any language, and storable as a SQLite INTEGER), ``ts`` between 1970 and 2262
  (what a 64-bit nanosecond timestamp holds). docs/protocol.md, "Integer and number limits";
- types are strict, in every kind: a number is a JSON number (never ``"5"`` nor ``true``), a
  boolean is ``true``/``false`` (never ``1`` nor ``"true"``), a string is a JSON string, the
  wire version is the JSON number 1 (never ``true`` nor ``"1"``) and a time is an RFC 3339
  string or a JSON number (never ``"1795339200"``).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from telemetry.topics import ID_PATTERN

WIRE_VERSION = 1

# The largest integer every JSON implementation reads exactly (JavaScript's
# Number.MAX_SAFE_INTEGER); far below SQLite's 64-bit INTEGER, so a stored counter never
# overflows. A larger value is rejected (``out_of_range``), never rounded.
MAX_INT = 2**53 - 1
TS_MIN = datetime(1970, 1, 1, tzinfo=UTC)
# Time-series stores (InfluxDB) count nanoseconds in 64 bits: they end on 2262-04-11.
TS_MAX = datetime(2262, 1, 1, tzinfo=UTC)


def _json_integer(value: object) -> object:
    """Lax int parsing would read ``"session": true`` as session 1 and ``"seq": "5"`` as 5;
    a JSON number without a fraction (``5``, ``5.0``) is what the contract says."""
    if isinstance(value, bool | str):
        raise ValueError("an integer is a JSON number, not a string or boolean")
    return value


def _json_version(value: object) -> object:
    """Literal[1] alone takes ``true`` (True == 1): the version is a JSON number. A number
    other than 1 is left to the literal, so it stays ``unsupported_version``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("the wire version is the JSON number 1, not a string or boolean")
    _finite(value)
    if isinstance(value, int) and abs(value) > MAX_INT:
        # Else pydantic's int_parsing_size (out_of_range): it is a version other than 1.
        raise PydanticCustomError("literal_error", "Input should be 1", {"expected": "1"})
    return value


def _finite(value: float) -> None:
    """A number of the wire is finite (``non_finite``), as ``allow_inf_nan=False`` says for
    the fields validated as numbers; a time or the version is not one of those."""
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("finite_number", "Input should be a finite number")


# A time given as a string must be RFC 3339 (it starts with the date). Lax datetime parsing
# would read "1795339200" as Unix seconds: a number is sent as a JSON number.
_RFC3339_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _json_time(value: object) -> object:
    if isinstance(value, bool) or (isinstance(value, str) and not _RFC3339_DATE.match(value)):
        raise ValueError(
            "a time is an RFC 3339 string with an offset or a JSON number of Unix seconds, "
            "not a number in a string nor a boolean"
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        # pydantic reads a number of seconds (milliseconds above 2e10) past the year 9999 as
        # an unparsable datetime (``schema``), NaN too: both are numbers beyond the limits.
        _finite(value)
        if value < 0:
            raise PydanticCustomError(
                "greater_than_equal", "Input should be greater than or equal to {ge}", _GE
            )
        if value >= _TS_MAX_MS:
            raise PydanticCustomError("less_than", "Input should be less than {lt}", _LT)
    return value


_TS_MAX_MS = TS_MAX.timestamp() * 1000  # any number from here on is beyond TS_MAX
_GE, _LT = {"ge": "1970-01-01T00:00:00Z"}, {"lt": "2262-01-01T00:00:00Z"}


# The labels of a fast-path union's two branches in a ValidationError's ``loc``
# (telemetry.codec reports the exact branch's error, as if there were one).
FAST_BRANCH, EXACT_BRANCH = "<fast>", "<exact>"


class _FastPath:
    """A field's exact rule, with ``fast`` tried first: what every well-formed message carries
    is validated by pydantic-core alone, with no Python call; anything else falls to the exact
    rule (the annotations before this one), which accepts or rejects it as before. Only that
    branch's error is reported (codec._reason), so the reasons and details are the same."""

    def __init__(self, fast: core_schema.CoreSchema) -> None:
        self.fast = fast

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        exact = handler(source)
        return core_schema.union_schema(
            [(self.fast, FAST_BRANCH), (exact, EXACT_BRANCH)], mode="left_to_right"
        )

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> Any:
        return handler(schema["choices"][1][0])  # the exact rule: what the wire holds


GatewayId = Annotated[str, Field(pattern=f"^{ID_PATTERN}$")]
# Strict: a JSON number (int or float) only, in pydantic-core (no Python call per field).
Number = Annotated[float, Strict()]
Flag = Annotated[bool, Strict()]  # true or false, never 1 or "true"
Pct = Annotated[Number, Field(ge=0, le=100)]
Count = Annotated[int, Field(ge=0, le=MAX_INT), BeforeValidator(_json_integer)]
DataInt = Annotated[int, Field(ge=-MAX_INT, le=MAX_INT)]
# A time as the agent sends it (an RFC 3339 string) or as a JSON number, and the version 1,
# skip the Python checks.
_WELL_FORMED_TIME = core_schema.union_schema(
    [
        core_schema.chain_schema(
            [
                core_schema.str_schema(strict=True, pattern=r"^\d{4}-\d{2}-\d{2}"),
                core_schema.datetime_schema(tz_constraint="aware", ge=TS_MIN, lt=TS_MAX),
            ]
        ),
        core_schema.chain_schema(
            [
                core_schema.float_schema(strict=True, allow_inf_nan=False),
                core_schema.datetime_schema(tz_constraint="aware", ge=TS_MIN, lt=TS_MAX),
            ]
        ),
    ],
    mode="left_to_right",
)
_VERSION_1 = core_schema.chain_schema(
    [core_schema.int_schema(strict=True), core_schema.literal_schema([1])]
)
Timestamp = Annotated[
    AwareDatetime,
    Field(ge=TS_MIN, lt=TS_MAX),
    BeforeValidator(_json_time),
    _FastPath(_WELL_FORMED_TIME),
]
Version = Annotated[Literal[1], BeforeValidator(_json_version), _FastPath(_VERSION_1)]
Short = Annotated[str, Field(max_length=128)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)

    v: Version = 1
    gw: GatewayId
    ts: Timestamp
    terminal: GatewayId | None = None
    # Back-filled from the agent's offline queue: stored, never treated as live.
    historical: Flag = False
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


# A reason this version does not know (a newer agent's, a vendor's own) must not lose the
# offline: it is kept, cut to this length with anything outside [A-Za-z0-9_.-] made "_" (it
# ends up in logs, the store and alert text), and counts as an unplanned offline.
OTHER_REASON_MAX = 64
_UNSAFE_REASON = re.compile(r"[^A-Za-z0-9_.-]")


def _sanitise_reason(value: str) -> str:
    return _UNSAFE_REASON.sub("_", value[:OTHER_REASON_MAX])


OtherReason = Annotated[str, AfterValidator(_sanitise_reason)]


class Status(_Wire):
    """Retained birth (``online``) or will / graceful stop (``offline``).

    ``session`` rises on every connect; an offline whose session is older than the
    current birth is stale and ignored.
    """

    state: LinkState
    session: Count
    # Known reasons first: "upgrade" must become OfflineReason.UPGRADE, not a plain string.
    reason: Annotated[OfflineReason | OtherReason | None, Field(union_mode="left_to_right")] = None


class Heartbeat(_Wire):
    session: Count
    seq: Count
    interval: Annotated[Number, Field(gt=0, le=86_400)]
    uptime_s: Annotated[Number, Field(ge=0)] | None = None
    boot_id: Short | None = None
    agent_version: Short | None = None
    load1: Annotated[Number, Field(ge=0)] | None = None
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
    rssi_dbm: Annotated[Number, Field(ge=-150, le=0)] | None = None
    rsrp_dbm: Annotated[Number, Field(ge=-160, le=0)] | None = None
    wifi_signal_dbm: Annotated[Number, Field(ge=-150, le=0)] | None = None
    latency_ms: Annotated[Number, Field(ge=0)] | None = None
    loss_pct: Pct | None = None
    dns_ok: Flag | None = None
    dns_ms: Annotated[Number, Field(ge=0)] | None = None


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
    battery_cycles: Count | None = None
    charging: Flag | None = None
    temperature_c: Annotated[Number, Field(ge=-60, le=200)] | None = None
    storage_used_pct: Pct | None = None
    printer: PrinterState | None = None
    receipts_printed: Count | None = None
    error_count: Count | None = None


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Event(_Wire):
    type: Short
    severity: Severity = Severity.INFO
    message: Annotated[str, Field(max_length=1024)] = ""
    # An integer beyond +-MAX_INT is read as the nearest float (the union's float branch).
    data: dict[Short, str | float | DataInt | bool | None] = Field(
        default_factory=dict, max_length=32
    )


# ---------------------------------------------------------------- transactions (aggregates)
# Counts since the last report: a terminal cannot take a million transactions in one window,
# and a bound far below 13 digits means no count or amount can ever look like a card number.
MAX_TXN_COUNT = 1_000_000
MAX_AMOUNT = 999_999_999_999  # minor units (cents, fen): 12 digits


def _json_number(value: object) -> object:
    """Counts and amounts are JSON numbers: lax int parsing would store ``true`` as 1 sale
    and ``"5"`` as 5 (docs/protocol.md: a value of the wrong type is ``schema``)."""
    if isinstance(value, bool | str):
        raise ValueError("a count or amount is a JSON number, not a string or boolean")
    return value


# A window carries 7 to 14 counts and amounts: a plain JSON integer skips _json_number.
TxnCount = Annotated[
    int,
    Field(ge=0, le=MAX_TXN_COUNT),
    BeforeValidator(_json_number),
    _FastPath(core_schema.int_schema(ge=0, le=MAX_TXN_COUNT, strict=True)),
]
Amount = Annotated[
    int,
    Field(ge=0, le=MAX_AMOUNT),
    BeforeValidator(_json_number),
    _FastPath(core_schema.int_schema(ge=0, le=MAX_AMOUNT, strict=True)),
]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]  # ISO 4217 alphabetic code


class _Part(BaseModel):
    """A nested object of a wire message: extra keys ignored (additive), numbers finite."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)


class Outcomes(_Part):
    """Transactions by how they ended (docs/protocol.md, "Transactions")."""

    approved: TxnCount = 0
    declined: TxnCount = 0
    reversed: TxnCount = 0
    timed_out: TxnCount = 0
    error: TxnCount = 0


class Responses(_Part):
    """Responses by ISO 8583 response-code class (docs/protocol.md, "Response classes")."""

    approved: TxnCount = 0
    cardholder_decline: TxnCount = 0
    issuer_unavailable: TxnCount = 0
    format_or_terminal_error: TxnCount = 0
    other: TxnCount = 0


class BatchClose(_Part):
    """The terminal closed (settled) a batch: its own totals, for reconciliation."""

    id: GatewayId
    count: TxnCount
    amount: Amount
    currency: Currency
    closed_at: Timestamp


class Transactions(_Wire):
    """Aggregates of one terminal since its last report: never card data or single
    transactions. A payload with anything that looks like a card number is refused
    (``card_data``) before this model sees it (telemetry.cards)."""

    since: Timestamp
    until: Timestamp
    outcomes: Outcomes = Outcomes()
    responses: Responses = Responses()
    approved_amount: Amount = 0
    refunded_amount: Amount = 0
    currency: Currency | None = None
    last_txn_at: Timestamp | None = None
    acquirer: GatewayId | None = None
    batch: BatchClose | None = None

    @model_validator(mode="after")
    def _window_in_order(self) -> Transactions:
        if self.until < self.since:
            raise ValueError("until is before since")
        return self


Message = Status | Heartbeat | Network | Firmware | Hardware | Event | Transactions
