"""The wire contract as the agent needs it, in the standard library only.

Why a copy: importing ``telemetry`` loads pydantic, which alone takes ~18 MB of RSS, more
than half the agent's 30 MB budget. The collector validates with the pydantic models in
``telemetry/``; tests/agent/test_agent_contract.py proves this module agrees with them
(same field names, same bounds, every built message decodes), so the two cannot drift.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

ROOT = "posfleet/v1"
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_ID_RE = re.compile(ID_PATTERN)  # used with fullmatch: "$" would let a trailing newline in
KINDS = ("status", "heartbeat", "network", "firmware", "hardware", "event", "transactions")
OFFLINE_REASONS = (
    "connection_lost",
    "shutdown",
    "reboot",
    "upgrade",
    "maintenance",
    "decommission",
)
PLANNED_REASONS = OFFLINE_REASONS[1:]
# Reconnect backoff bounds (exponential, full jitter): the collector holds a broker restart's
# wills for RECONNECT_MAX_DELAY_S plus a margin, so an agent must be back within it.
RECONNECT_MIN_DELAY_S = 1.0
RECONNECT_MAX_DELAY_S = 120.0
Body = dict[str, Any]


def valid_id(value: str) -> bool:
    return _ID_RE.fullmatch(value) is not None


def topic_for(gateway_id: str, kind: str, terminal_id: str | None = None) -> str:
    if not valid_id(gateway_id):
        raise ValueError(f"invalid gateway id {gateway_id!r}: must match {ID_PATTERN}")
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    if terminal_id is None:
        return f"{ROOT}/{gateway_id}/{kind}"
    if not valid_id(terminal_id):
        raise ValueError(f"invalid terminal id {terminal_id!r}: must match {ID_PATTERN}")
    return f"{ROOT}/{gateway_id}/terminal/{terminal_id}/{kind}"


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock Unix seconds, for ``ts`` on the wire."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, for intervals."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


# Integers on the wire stay exact in every JSON implementation (telemetry.models.MAX_INT).
MAX_INT = 2**53 - 1
# Field specs: ("num", lo, hi, lo_exclusive) | ("int", lo, hi) | ("str", max_len)
# | ("enum", values) | ("bool",) | ("strlist", max_items) | ("dict", max_items)
Spec = tuple[Any, ...]
PCT: Spec = ("num", 0, 100, False)
SHORT: Spec = ("str", 128)
COUNT: Spec = ("int", 0, MAX_INT)
SCHEMA: dict[str, dict[str, Spec]] = {
    "status": {
        "state": ("enum", ("online", "offline")),
        "session": COUNT,
        "reason": ("enum", OFFLINE_REASONS),
    },
    "heartbeat": {
        "session": COUNT,
        "seq": COUNT,
        "interval": ("num", 0, 86_400, True),
        "uptime_s": ("num", 0, math.inf, False),
        "boot_id": SHORT,
        "agent_version": SHORT,
        "load1": ("num", 0, math.inf, False),
        "mem_used_pct": PCT,
        "disk_used_pct": PCT,
    },
    "network": {
        "link": ("enum", ("ethernet", "wifi", "cellular", "unknown")),
        "iface": SHORT,
        "addresses": ("strlist", 16),
        "rssi_dbm": ("num", -150, 0, False),
        "rsrp_dbm": ("num", -160, 0, False),
        "wifi_signal_dbm": ("num", -150, 0, False),
        "latency_ms": ("num", 0, math.inf, False),
        "loss_pct": PCT,
        "dns_ok": ("bool",),
        "dns_ms": ("num", 0, math.inf, False),
    },
    "firmware": {
        k: SHORT for k in ("model", "os", "kernel", "terminal_fw", "payment_app", "patch_level")
    },
    "hardware": {
        "battery_pct": PCT,
        "battery_health_pct": PCT,
        "battery_cycles": COUNT,
        "charging": ("bool",),
        "temperature_c": ("num", -60, 200, False),
        "storage_used_pct": PCT,
        "printer": ("enum", ("ok", "paper_low", "paper_out", "error", "absent", "unknown")),
        "receipts_printed": COUNT,
        "error_count": COUNT,
    },
    "event": {
        "type": SHORT,
        "severity": ("enum", ("info", "warning", "error")),
        "message": ("str", 1024),
        "data": ("dict", 32),
    },
}
# Transactions (docs/protocol.md "Transactions"): aggregates only. Times are ("time",): Unix
# seconds or RFC 3339 with an offset; counts and amounts are bounded far below 13 digits.
MAX_TXN_COUNT = 1_000_000
MAX_AMOUNT = 999_999_999_999
TS_MAX = 9_214_646_400  # 2262-01-01T00:00:00Z, telemetry.models.TS_MAX
OUTCOMES = ("approved", "declined", "reversed", "timed_out", "error")
CLASSES = (
    "approved",
    "cardholder_decline",
    "issuer_unavailable",
    "format_or_terminal_error",
    "other",
)
CURRENCY_PATTERN = r"[A-Z]{3}"
TIME: Spec = ("time",)
TXN_COUNT: Spec = ("int", 0, MAX_TXN_COUNT)
AMOUNT: Spec = ("int", 0, MAX_AMOUNT)
BATCH_SCHEMA: dict[str, Spec] = {
    "id": ("pattern", ID_PATTERN),
    "count": TXN_COUNT,
    "amount": AMOUNT,
    "currency": ("pattern", CURRENCY_PATTERN),
    "closed_at": TIME,
}
SCHEMA["transactions"] = {
    "since": TIME,
    "until": TIME,
    "outcomes": ("counts", OUTCOMES, MAX_TXN_COUNT),
    "responses": ("counts", CLASSES, MAX_TXN_COUNT),
    "approved_amount": AMOUNT,
    "refunded_amount": AMOUNT,
    "currency": ("pattern", CURRENCY_PATTERN),
    "last_txn_at": TIME,
    "acquirer": ("pattern", ID_PATTERN),
    "batch": ("object", BATCH_SCHEMA),
}
REQUIRED = {
    "status": ("state", "session"),
    "heartbeat": ("session", "seq", "interval"),
    "event": ("type",),
    "transactions": ("since", "until"),
}


def unix_seconds(value: Any) -> float | None:
    """A wire time (Unix seconds, or RFC 3339 with an offset) as Unix seconds, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        ok = math.isfinite(value) and 0 <= value < TS_MAX
        return float(value) if ok else None
    if isinstance(value, str) and len(value) <= 64:
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            return None
        if at.tzinfo is None:
            return None
        seconds = at.timestamp()
        return seconds if 0 <= seconds < TS_MAX else None
    return None


def valid(spec: Spec, value: Any) -> bool:
    """``value`` satisfies the field spec ``spec``."""
    return _valid(spec, value)


def _valid(spec: Spec, value: Any) -> bool:
    kind = spec[0]
    if kind == "num":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        lo, hi, open_lo = spec[1], spec[2], spec[3]
        if not math.isfinite(value) or value > hi:
            return False
        return bool(value > lo if open_lo else value >= lo)
    if kind == "int":
        return (
            isinstance(value, int) and not isinstance(value, bool) and spec[1] <= value <= spec[2]
        )
    if kind == "str":
        return isinstance(value, str) and len(value) <= spec[1]
    if kind == "enum":
        return value in spec[1]
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "strlist":
        return (
            isinstance(value, list)
            and len(value) <= spec[1]
            and all(isinstance(v, str) and len(v) <= 128 for v in value)
        )
    if kind == "dict":
        return (
            isinstance(value, dict)
            and len(value) <= spec[1]
            and all(
                isinstance(k, str)
                and len(k) <= 128
                and (v is None or isinstance(v, str | int | float | bool))
                and not (isinstance(v, float) and not math.isfinite(v))
                for k, v in value.items()
            )
        )
    if kind == "time":
        return unix_seconds(value) is not None
    if kind == "pattern":
        return isinstance(value, str) and re.fullmatch(spec[1], value) is not None
    if kind == "counts":
        return isinstance(value, dict) and all(
            k in spec[1] and isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= spec[2]
            for k, v in value.items()
        )
    if kind == "object":
        return (
            isinstance(value, dict)
            and set(value) == set(spec[1])
            and all(_valid(spec[1][k], v) for k, v in value.items())
        )
    raise AssertionError(f"unknown spec {spec}")


# ---------------------------------------------------------------- card numbers
# The same rule as telemetry/cards.py (the collector's): a run of 13-19 digits, optionally
# grouped by single spaces or dashes, that passes the Luhn check. The agent never forwards it.
# The separators: a space or a dash, as typed or as text software prints them (a no-break,
# thin or ideographic space; a hyphen, en dash or full-width hyphen-minus).
_SEP = "[ \u00a0\u2007\u2009\u202f\u3000\\-\u2010\u2011\u2013\uff0d]"
_RUN = re.compile(rf"(?<!\d)(?<!\d{_SEP})\d(?:{_SEP}?\d)*(?!{_SEP}?\d)")
ID_FIELDS = frozenset({"gw", "terminal"})
TIME_FIELDS = frozenset({"ts", "since", "until", "last_txn_at", "closed_at"})


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def looks_like_pan(text: str) -> bool:
    for m in _RUN.finditer(text):
        digits = "".join(c for c in m.group() if c.isdecimal())
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            return True
    return False


def card_field(value: Any, path: str = "") -> str | None:
    """The path of the first field (or key) that looks like a card number, else None."""
    if isinstance(value, dict):
        for k, v in value.items():
            where = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and looks_like_pan(k):
                return f"{path}.<key>" if path else "<key>"
            if not path and k in ID_FIELDS and isinstance(v, str):
                continue
            if k in TIME_FIELDS and isinstance(v, int | float) and not isinstance(v, bool):
                continue
            found = card_field(v, where)
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = card_field(v, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return path if looks_like_pan(str(abs(value))) else None
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e20:
            return path if looks_like_pan(str(abs(int(value)))) else None
        return None
    if isinstance(value, str):
        return path if looks_like_pan(value) else None
    return None


class ContractError(ValueError):
    """A message cannot be built: a required field is missing or invalid."""


def build(
    kind: str,
    gw: str,
    ts: float,
    fields: Mapping[str, Any],
    errors: Mapping[str, str] | None = None,
    terminal: str | None = None,
) -> Body:
    """A message body. Invalid optional fields are dropped and named in ``errors`` (a sensor
    gone mad must not stop the agent); unknown fields are left out."""
    spec = SCHEMA[kind]
    body: Body = {"v": 1, "gw": gw, "ts": int(ts)}
    if terminal is not None:
        body["terminal"] = terminal
    errs = {str(k)[:128]: str(v)[:512] for k, v in (errors or {}).items()}
    for name, value in fields.items():
        if name not in spec or value is None:
            continue
        if _valid(spec[name], value):
            body[name] = value
        elif name in REQUIRED.get(kind, ()):
            raise ContractError(f"{kind}.{name}: invalid value {value!r}")
        else:
            errs[f"invalid.{name}"[:128]] = f"out of range: {value!r}"[:512]
    for name in REQUIRED.get(kind, ()):
        if name not in body:
            raise ContractError(f"{kind}.{name} is required")
    if errs:
        body["errors"] = dict(list(errs.items())[:32])
    return body


def _compact(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def encode(body: Body) -> bytes:
    """Compact JSON: no spaces, integral floats as ints (JSON does not tell 120 from 120.0)."""
    return json.dumps({k: _compact(v) for k, v in body.items()}, separators=(",", ":")).encode()
