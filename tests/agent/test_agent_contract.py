"""agent.contract (stdlib) agrees with telemetry's pydantic models, so the two cannot drift."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent import contract
from telemetry import cards, models, topics
from telemetry.codec import MODEL_FOR_KIND, Decoded, decode
from telemetry.models import OfflineReason
from telemetry.topics import Kind

COMMON = {"v", "gw", "ts", "terminal", "historical", "errors"}


def test_topic_layout_ids_and_reasons_match_telemetry() -> None:
    assert contract.ID_PATTERN == topics.ID_PATTERN
    assert contract.ROOT == topics.ROOT
    assert set(contract.KINDS) == {k.value for k in Kind}
    assert tuple(r.value for r in OfflineReason) == contract.OFFLINE_REASONS
    # The collector's broker-restart hold is derived from the agent's backoff bounds.
    assert contract.RECONNECT_MIN_DELAY_S == models.RECONNECT_MIN_DELAY_S
    assert contract.RECONNECT_MAX_DELAY_S == models.RECONNECT_MAX_DELAY_S
    for kind in contract.KINDS:
        assert contract.topic_for("gw-1", kind) == topics.topic_for("gw-1", kind)
        assert contract.topic_for("gw-1", kind, "t.2") == topics.topic_for("gw-1", kind, "t.2")


def _props(kind: str) -> dict[str, Any]:
    schema = MODEL_FOR_KIND[Kind(kind)].model_json_schema()
    defs = schema.get("$defs", {})
    out = {}
    for name, prop in schema["properties"].items():
        options = prop.get("anyOf", [prop])
        resolved = []
        for o in options:
            if "$ref" in o:
                o = defs[o["$ref"].split("/")[-1]]
            if o.get("type") != "null":
                resolved.append(o)
        out[name] = resolved[0]
    return out


@pytest.mark.parametrize("kind", contract.KINDS)
def test_field_names_bounds_and_enums_match_the_models(kind: str) -> None:
    props = _props(kind)
    assert set(contract.SCHEMA[kind]) == set(props) - COMMON
    for name, spec in contract.SCHEMA[kind].items():
        p = props[name]
        if spec[0] == "num":
            lo_key = "exclusiveMinimum" if spec[3] else "minimum"
            assert p.get(lo_key) == spec[1], name
            assert p.get("maximum", float("inf")) == spec[2], name
        elif spec[0] == "int":
            assert (p["type"], p.get("minimum"), p.get("maximum")) == (
                "integer",
                spec[1],
                spec[2],
            ), name
        elif spec[0] == "enum":
            assert set(p["enum"]) == set(spec[1]), name
        elif spec[0] == "str":
            assert (p["type"], p.get("maxLength")) == ("string", spec[1]), name
        elif spec[0] == "bool":
            assert p["type"] == "boolean", name
        elif spec[0] in ("strlist", "dict"):
            assert p.get("maxItems", p.get("maxProperties")) == spec[1], name
        else:
            _check_nested(spec, p, props_defs(kind), name)


def props_defs(kind: str) -> dict[str, Any]:
    defs: dict[str, Any] = MODEL_FOR_KIND[Kind(kind)].model_json_schema().get("$defs", {})
    return defs


def _check_nested(spec: contract.Spec, p: dict[str, Any], defs: dict[str, Any], name: str) -> None:
    if "$ref" in p:
        p = defs[p["$ref"].split("/")[-1]]
    if spec[0] == "time":
        assert (p["type"], p["format"]) == ("string", "date-time"), name
    elif spec[0] == "pattern":
        assert p["pattern"] == f"^{spec[1]}$", name
    elif spec[0] == "int":
        assert (p["type"], p.get("minimum"), p.get("maximum")) == ("integer", *spec[1:]), name
    elif spec[0] == "counts":
        assert tuple(p["properties"]) == spec[1], name
        for key, sub in p["properties"].items():
            assert (sub["minimum"], sub["maximum"]) == (0, spec[2]), (name, key)
    elif spec[0] == "object":
        assert set(p["properties"]) == set(p["required"]) == set(spec[1]), name
        for key, sub_spec in spec[1].items():
            _check_nested(sub_spec, p["properties"][key], defs, f"{name}.{key}")
    else:
        raise AssertionError(f"{name}: spec {spec} is not compared with the model")


EXTREMES = {
    "status": {"state": "offline", "session": 0, "reason": "decommission"},
    "heartbeat": {
        "session": 3,
        "seq": 0,
        "interval": 86_400,
        "uptime_s": 0,
        "boot_id": "b" * 128,
        "agent_version": "1",
        "load1": 0.0,
        "mem_used_pct": 100,
        "disk_used_pct": 0,
    },
    "network": {
        "link": "cellular",
        "iface": "wwan0",
        "addresses": ["10.0.0.1"] * 16,
        "rssi_dbm": -150,
        "rsrp_dbm": -160,
        "wifi_signal_dbm": 0,
        "latency_ms": 0.1,
        "loss_pct": 100,
        "dns_ok": False,
        "dns_ms": 0,
    },
    "firmware": {
        "model": "m" * 128,
        "os": "o",
        "kernel": "k",
        "terminal_fw": "t",
        "payment_app": "p",
        "patch_level": "x",
    },
    "hardware": {
        "battery_pct": 0,
        "battery_health_pct": 100,
        "battery_cycles": 0,
        "charging": True,
        "temperature_c": -60,
        "storage_used_pct": 99.9,
        "printer": "paper_out",
        "receipts_printed": 10**9,
        "error_count": 0,
    },
    "event": {
        "type": "t",
        "severity": "error",
        "message": "m" * 1024,
        "data": {"a": 1, "b": "x", "c": None, "d": True, "e": 1.5},
    },
    "transactions": {
        "since": 0,
        "until": "2261-12-31T23:59:59+00:00",
        "outcomes": {k: contract.MAX_TXN_COUNT for k in contract.OUTCOMES},
        "responses": {k: 0 for k in contract.CLASSES},
        "approved_amount": contract.MAX_AMOUNT,
        "refunded_amount": 0,
        "currency": "XTS",
        "last_txn_at": "2026-11-22T09:30:00Z",
        "acquirer": "a" * 64,
        "batch": {
            "id": "4111111111111112",  # 16 digits, not Luhn: an id, not a card
            "count": 0,
            "amount": contract.MAX_AMOUNT,
            "currency": "CNY",
            "closed_at": 1795339200.5,
        },
    },
}


@pytest.mark.parametrize("kind", contract.KINDS)
def test_every_field_at_its_bounds_builds_a_message_the_collector_accepts(kind: str) -> None:
    body = contract.build(kind, "gw-1", 1795339200.7, EXTREMES[kind], {"probe": "boom"}, "t-1")
    assert "errors" in body
    assert set(body["errors"]) == {"probe"}
    topic = contract.topic_for("gw-1", kind, "t-1")
    result = decode(topic, contract.encode({**body, "historical": True}))
    assert isinstance(result, Decoded), result
    dumped = result.message.model_dump(exclude_none=True)
    for name in EXTREMES[kind]:
        assert name in dumped


@pytest.mark.parametrize(
    ("kind", "name", "value"),
    [
        ("hardware", "temperature_c", 500.0),
        ("hardware", "battery_pct", float("nan")),
        ("network", "rssi_dbm", 12.0),
        ("network", "link", "satellite"),
        ("heartbeat", "load1", -1),
        ("hardware", "charging", "yes"),
        ("transactions", "currency", "cny"),
        ("transactions", "approved_amount", contract.MAX_AMOUNT + 1),
        ("transactions", "outcomes", {"approved": -1}),
        ("transactions", "outcomes", {"aproved": 1}),
        ("transactions", "last_txn_at", "2026-11-22T09:30:00"),
        ("transactions", "batch", {"id": "b1", "count": 1}),
    ],
)
def test_an_invalid_reading_is_dropped_and_named_in_errors(
    kind: str, name: str, value: Any
) -> None:
    fields = {**{k: v for k, v in EXTREMES[kind].items() if k != name}, name: value}
    body = contract.build(kind, "gw-1", 1795339200, fields)
    assert name not in body
    assert f"invalid.{name}" in body["errors"]
    assert isinstance(decode(contract.topic_for("gw-1", kind), contract.encode(body)), Decoded)


def test_a_missing_required_field_is_a_contract_error() -> None:
    with pytest.raises(contract.ContractError, match="interval"):
        contract.build("heartbeat", "gw-1", 0, {"session": 1, "seq": 1})


def test_compact_encoding_uses_unix_seconds_and_integral_numbers() -> None:
    body = contract.build(
        "heartbeat", "gw-1", 1795339200.9, {"session": 1, "seq": 2, "interval": 120.0}
    )
    raw = contract.encode(body)
    assert raw == b'{"v":1,"gw":"gw-1","ts":1795339200,"session":1,"seq":2,"interval":120}'
    assert json.loads(raw)["ts"] == 1795339200


def test_the_agents_transaction_bounds_are_the_models() -> None:
    assert contract.MAX_TXN_COUNT == models.MAX_TXN_COUNT
    assert contract.MAX_AMOUNT == models.MAX_AMOUNT
    assert models.TS_MAX.timestamp() == contract.TS_MAX
    assert tuple(models.Outcomes.model_fields) == contract.OUTCOMES
    assert tuple(models.Responses.model_fields) == contract.CLASSES
    assert contract.ID_FIELDS == cards.ID_FIELDS
    assert contract.TIME_FIELDS == cards.TIME_FIELDS


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet="0123456789 -ab", max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet="0123456789ab", max_size=20), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_the_agents_card_number_rule_is_the_collectors(value: Any) -> None:
    assert contract.card_field(value) == cards.card_field(value)
