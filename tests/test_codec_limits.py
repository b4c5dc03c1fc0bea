"""Number limits of the wire contract (docs/protocol.md, "Integer and number limits").

The limits are written out here as literals, not imported from telemetry.models: the test
says what the contract promises a vendor, the code has to agree.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.codec import Decoded, Rejected, RejectReason, decode

MAX_SAFE = 9_007_199_254_740_991  # 2**53 - 1, JavaScript's Number.MAX_SAFE_INTEGER
TS = 1795339200

BASE: dict[str, tuple[str, dict[str, Any]]] = {
    "status": ("posfleet/v1/gw-1/status", {"state": "online", "session": 1}),
    "heartbeat": ("posfleet/v1/gw-1/heartbeat", {"session": 1, "seq": 0, "interval": 60}),
    "network": ("posfleet/v1/gw-1/network", {"link": "wifi"}),
    "hardware": ("posfleet/v1/gw-1/hardware", {}),
    "event": ("posfleet/v1/gw-1/event", {"type": "x"}),
}
INTEGER_FIELDS = [
    ("status", "session"),
    ("heartbeat", "session"),
    ("heartbeat", "seq"),
    ("hardware", "battery_cycles"),
    ("hardware", "receipts_printed"),
    ("hardware", "error_count"),
]
FLOAT_FIELDS = [
    ("heartbeat", "interval"),
    ("heartbeat", "uptime_s"),
    ("heartbeat", "load1"),
    ("heartbeat", "mem_used_pct"),
    ("heartbeat", "disk_used_pct"),
    ("network", "rssi_dbm"),
    ("network", "rsrp_dbm"),
    ("network", "wifi_signal_dbm"),
    ("network", "latency_ms"),
    ("network", "loss_pct"),
    ("network", "dns_ms"),
    ("hardware", "battery_pct"),
    ("hardware", "battery_health_pct"),
    ("hardware", "temperature_c"),
    ("hardware", "storage_used_pct"),
]


def _decode(kind: str, raw_field: str = "", ts: str = str(TS), **fields: Any) -> object:
    topic, base = BASE[kind]
    body = {"v": 1, "gw": "gw-1", **base, **fields}
    text = json.dumps(body)[:-1] + f', "ts": {ts}'
    if raw_field:
        text += f", {raw_field}"
    return decode(topic, (text + "}").encode())


def _reason(result: object) -> str:
    return result.reason.value if isinstance(result, Rejected) else "accepted"


@pytest.mark.parametrize(("kind", "name"), INTEGER_FIELDS)
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "accepted"),
        (MAX_SAFE, "accepted"),
        (MAX_SAFE + 1, "out_of_range"),
        (2**63, "out_of_range"),  # would not fit SQLite's INTEGER: the original crash
        (2**70, "out_of_range"),
        (10**400, "out_of_range"),
        (-1, "out_of_range"),
    ],
)
def test_every_integer_field_is_limited_to_0_to_2_53_minus_1(
    kind: str, name: str, value: int, expected: str
) -> None:
    assert _reason(_decode(kind, f'"{name}": {value}')) == expected


def test_the_huge_session_heartbeat_of_issue_13_is_rejected_out_of_range() -> None:
    payload = (
        b'{"v":1,"gw":"gw-0042","ts":1795339200,"session":1180591620717411303424,"seq":0,'
        b'"interval":120}'
    )
    result = decode("posfleet/v1/gw-0042/heartbeat", payload)
    assert isinstance(result, Rejected)
    assert result.reason is RejectReason.OUT_OF_RANGE
    assert "session" in result.detail


@pytest.mark.parametrize(("kind", "name"), FLOAT_FIELDS)
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_no_number_field_takes_nan_infinity_or_an_overflowing_double(
    kind: str, name: str, literal: str
) -> None:
    assert _reason(_decode(kind, f'"{name}": {literal}')) == "non_finite"


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("0", "accepted"),  # an RTC reset to the epoch: a clock-skew alert, not garbage
        ('"1970-01-01T00:00:00Z"', "accepted"),
        ("-1", "out_of_range"),
        ('"1970-01-01T00:30:00+01:00"', "out_of_range"),  # 1969 in UTC
        ('"0001-01-01T00:00:00+23:59"', "out_of_range"),
        ('"2261-12-31T23:59:59Z"', "accepted"),
        ('"2262-01-01T00:00:00Z"', "out_of_range"),
        ('"9999-12-31T23:59:59-23:59"', "out_of_range"),
        ("7258118400", "accepted"),  # Unix seconds: 2200-01-01
        ("19999999999", "out_of_range"),  # still seconds (below 2e10): the year 2603
        ("1795339200000", "accepted"),  # above 2e10: milliseconds (2026)
    ],
)
def test_ts_lies_between_1970_and_2262(ts: str, expected: str) -> None:
    assert _reason(_decode("hardware", ts=ts)) == expected


def test_event_data_integers_beyond_the_safe_range_are_read_as_floats() -> None:
    result = _decode("event", data={"small": MAX_SAFE, "big": 2**70, "neg": -MAX_SAFE})
    assert isinstance(result, Decoded)
    data = result.message.data  # type: ignore[union-attr]
    assert data["small"] == MAX_SAFE
    assert type(data["small"]) is int
    assert data["neg"] == -MAX_SAFE
    assert type(data["big"]) is float
    assert data["big"] == float(2**70)


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(INTEGER_FIELDS),
    value=st.one_of(
        st.integers(-(2**80), 2**80),
        st.integers(MAX_SAFE - 3, MAX_SAFE + 3),
        st.integers(-3, 3),
    ),
)
def test_an_integer_field_is_accepted_exactly_when_it_is_within_the_limits(
    field: tuple[str, str], value: int
) -> None:
    kind, name = field
    result = _decode(kind, f'"{name}": {value}')
    if 0 <= value <= MAX_SAFE:
        assert isinstance(result, Decoded), result
        assert getattr(result.message, name) == value
    else:
        assert _reason(result) == "out_of_range"


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(FLOAT_FIELDS),
    value=st.floats(allow_nan=True, allow_infinity=True),
)
def test_a_number_field_never_takes_a_non_finite_value_and_never_raises(
    field: tuple[str, str], value: float
) -> None:
    kind, name = field
    literal = json.dumps(value)  # NaN / Infinity / -Infinity for the non-finite ones
    result = _decode(kind, f'"{name}": {literal}')
    if not math.isfinite(value):
        assert _reason(result) == "non_finite"
    elif isinstance(result, Decoded):
        assert getattr(result.message, name) == value
    else:
        assert _reason(result) == "out_of_range"


# ------------------------------------------------------- strict types (docs/protocol.md)
BOOL_FIELDS = [
    *((kind, "historical") for kind in BASE),
    ("network", "dns_ok"),
    ("hardware", "charging"),
]


@pytest.mark.parametrize(("kind", "name"), INTEGER_FIELDS + FLOAT_FIELDS)
@pytest.mark.parametrize("raw", ["true", "false", '"5"', '"5.0"', '" 5"'])
def test_a_number_field_never_reads_a_string_or_a_boolean_as_a_number(
    kind: str, name: str, raw: str
) -> None:
    result = _decode(kind, raw_field=f'"{name}": {raw}')
    assert isinstance(result, Rejected)
    assert result.reason is RejectReason.SCHEMA
    assert result.detail.startswith(f"{name}: ")


@pytest.mark.parametrize(("kind", "name"), INTEGER_FIELDS)
def test_an_integer_field_still_reads_a_json_number_without_a_fraction(
    kind: str, name: str
) -> None:
    result = _decode(kind, raw_field=f'"{name}": 5.0')
    assert isinstance(result, Decoded)
    assert getattr(result.message, name) == 5
    assert type(getattr(result.message, name)) is int


@pytest.mark.parametrize(("kind", "name"), BOOL_FIELDS)
@pytest.mark.parametrize("raw", ["1", "0", '"true"', '"false"', '"yes"'])
def test_a_boolean_field_takes_only_true_or_false(kind: str, name: str, raw: str) -> None:
    result = _decode(kind, raw_field=f'"{name}": {raw}')
    assert isinstance(result, Rejected)
    assert result.reason is RejectReason.SCHEMA
    assert result.detail.startswith(f"{name}: ")


@pytest.mark.parametrize(("kind", "name"), BOOL_FIELDS)
def test_a_boolean_field_takes_true_and_false(kind: str, name: str) -> None:
    for raw, want in (("true", True), ("false", False)):
        result = _decode(kind, raw_field=f'"{name}": {raw}')
        assert isinstance(result, Decoded)
        assert getattr(result.message, name) is want


# ---------------------------------------- the wire version and times, strict in every kind
# Every kind, valid as it stands; the transactions window wide enough for any time tried.
EVERY_KIND: dict[str, tuple[str, dict[str, Any]]] = {
    **BASE,
    "firmware": ("posfleet/v1/gw-1/firmware", {}),
    "transactions": (
        "posfleet/v1/gw-1/terminal/t-1/transactions",
        {"terminal": "t-1", "since": TS - 1200, "until": TS + 1200},
    ),
}
TIME_FIELDS = [
    *((kind, "ts") for kind in EVERY_KIND),
    ("transactions", "since"),
    ("transactions", "until"),
    ("transactions", "last_txn_at"),
    ("transactions", "batch.closed_at"),
]
BATCH = {"id": "b-1", "count": 1, "amount": 100, "currency": "CNY"}


def _with_raw(kind: str, name: str, raw: str) -> object:
    """``kind``'s valid message with ``name`` (``batch.closed_at``: inside the batch) set to
    the JSON text ``raw``, as a vendor's agent would have written it."""
    topic, base = EVERY_KIND[kind]
    body: dict[str, Any] = {"v": 1, "gw": "gw-1", "ts": TS, **base}
    if name == "batch.closed_at":
        body["batch"] = {**BATCH, "closed_at": "@RAW@"}
    else:
        body[name] = "@RAW@"
    return decode(topic, json.dumps(body).replace('"@RAW@"', raw).encode())


@pytest.mark.parametrize("kind", EVERY_KIND)
@pytest.mark.parametrize("raw", ["true", "false", '"1"', '"2"', "null", "[1]", '{"n": 1}'])
def test_the_wire_version_is_a_json_number_never_a_boolean_nor_a_string(
    kind: str, raw: str
) -> None:
    result = _with_raw(kind, "v", raw)
    assert isinstance(result, Rejected)
    assert result.reason is RejectReason.SCHEMA
    assert result.detail.startswith("v: ")


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_the_wire_version_is_1_and_another_number_is_an_unsupported_version(kind: str) -> None:
    for raw, want in (("1", "accepted"), ("1.0", "accepted"), ("2", "unsupported_version")):
        assert _reason(_with_raw(kind, "v", raw)) == want, raw
    assert _reason(_with_raw(kind, "v", "0")) == "unsupported_version"


@pytest.mark.parametrize(("kind", "name"), TIME_FIELDS)
@pytest.mark.parametrize(
    "raw", [f'"{TS}"', f'"{TS}.5"', f'" {TS}"', f'"{TS}000"', '"-1"', "true", "false"]
)
def test_a_time_is_never_a_number_in_a_string_nor_a_boolean(kind: str, name: str, raw: str) -> None:
    result = _with_raw(kind, name, raw)
    assert isinstance(result, Rejected)
    assert result.reason is RejectReason.SCHEMA
    assert result.detail.startswith(f"{name}: ")


@pytest.mark.parametrize(("kind", "name"), TIME_FIELDS)
@pytest.mark.parametrize(
    ("raw", "unix"),
    [
        (str(TS), TS),  # Unix seconds, the reference agent's form
        (f"{TS}.5", TS + 0.5),
        ('"2026-11-22T09:20:00Z"', TS),  # RFC 3339
        ('"2026-11-22T17:20:00.5+08:00"', TS + 0.5),
    ],
)
def test_a_time_is_an_rfc_3339_string_or_a_json_number(
    kind: str, name: str, raw: str, unix: float
) -> None:
    result = _with_raw(kind, name, raw)
    assert isinstance(result, Decoded), result
    value: Any = result.message
    for part in name.split("."):
        value = getattr(value, part)
    assert value.timestamp() == unix


# "every number | finite" and "out_of_range | a number or ts outside its limits": a time or a
# version sent as a JSON number is a number like any other.
@pytest.mark.parametrize(("kind", "name"), TIME_FIELDS)
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_a_time_never_takes_nan_infinity_or_an_overflowing_double(
    kind: str, name: str, literal: str
) -> None:
    result = _with_raw(kind, name, literal)
    assert _reason(result) == "non_finite"
    assert isinstance(result, Rejected)
    assert result.detail.startswith(f"{name}: ")


@pytest.mark.parametrize(("kind", "name"), TIME_FIELDS)
@pytest.mark.parametrize(
    "raw",
    [
        "9224318016000",  # milliseconds: 2262-01-01, the first instant beyond
        f"{TS}000000",  # microseconds by mistake: the year 58859
        "1e300",
        "100000000000000000000000",
        "-1e300",
    ],
)
def test_a_time_number_beyond_its_limits_is_out_of_range_however_far(
    kind: str, name: str, raw: str
) -> None:
    result = _with_raw(kind, name, raw)
    assert _reason(result) == "out_of_range"
    assert isinstance(result, Rejected)
    assert result.detail.startswith(f"{name}: ")


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_the_wire_version_never_takes_nan_infinity_and_a_huge_number_is_unsupported(
    kind: str,
) -> None:
    for raw in ("NaN", "Infinity", "-Infinity", "1e400"):
        assert _reason(_with_raw(kind, "v", raw)) == "non_finite", raw
    assert _reason(_with_raw(kind, "v", str(10**30))) == "unsupported_version"
