"""A transactions window's counts and amounts (docs/protocol.md, "Transactions"): JSON numbers
without a fraction, within their bounds; what the decoder says about a wrong one, and that a
plain integer costs no Python call (docs/transactions.md, "An eighth pass")."""

from __future__ import annotations

import json
import sys
from types import FrameType
from typing import Any

import pytest
from support.windows import TOPIC, WINDOW

from telemetry.codec import Decoded, Rejected, decode

BASE = WINDOW
BATCH = {"id": "B1", "amount": 1, "currency": "CNY", "closed_at": 1795339000}


def _with(raw: str, where: str) -> bytes:
    """BASE with the JSON literal ``raw`` as the count or amount at ``where``."""
    if where == "outcomes.approved":
        body = {**BASE, "outcomes": {"approved": "@"}}
    elif where == "responses.other":
        body = {**BASE, "responses": {"other": "@"}}
    elif where == "batch.count":
        body = {**BASE, "batch": {**BATCH, "count": "@"}}
    else:
        body = {**BASE, where: "@"}
    return json.dumps(body).replace('"@"', raw).encode()


@pytest.mark.parametrize(
    ("raw", "value"), [("0", 0), ("7", 7), ("7.0", 7), ("1e3", 1000), ("-0.0", 0)]
)
@pytest.mark.parametrize(
    "where", ["outcomes.approved", "responses.other", "batch.count", "approved_amount"]
)
def test_a_count_or_amount_is_a_json_number_without_a_fraction(
    where: str, raw: str, value: int
) -> None:
    result = decode(TOPIC, _with(raw, where))
    assert isinstance(result, Decoded), result
    obj: Any = result.message
    for part in where.split("."):
        obj = getattr(obj, part)
    assert obj == value
    assert type(obj) is int


@pytest.mark.parametrize(
    ("raw", "reason", "message"),
    [
        ("7.5", "schema", "Input should be a valid integer, got a number with a fractional part"),
        ("true", "schema", "Value error, a count or amount is a JSON number, not a string or boolean"),
        ('"7"', "schema", "Value error, a count or amount is a JSON number, not a string or boolean"),
        ("null", "schema", "Input should be a valid integer"),
        ("[]", "schema", "Input should be a valid integer"),
        ("-1", "out_of_range", "Input should be greater than or equal to 0"),
        ("-1.0", "out_of_range", "Input should be greater than or equal to 0"),
        ("1000001", "out_of_range", "Input should be less than or equal to 1000000"),
        ("18446744073709551616", "out_of_range", "Input should be less than or equal to 1000000"),
        ("NaN", "non_finite", "Input should be a finite number"),
        ("1e400", "non_finite", "Input should be a finite number"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("where", ["outcomes.approved", "responses.other", "batch.count"])
def test_a_wrong_count_is_rejected_with_its_reason_and_the_field_named_once(
    where: str, raw: str, reason: str, message: str
) -> None:
    result = decode(TOPIC, _with(raw, where))
    assert isinstance(result, Rejected), result
    assert (result.reason.value, result.detail) == (reason, f"{where}: {message}")


def test_an_amount_has_its_own_bound() -> None:
    assert isinstance(decode(TOPIC, _with("999999999999", "approved_amount")), Decoded)
    result = decode(TOPIC, _with("1000000000000", "refunded_amount"))
    assert isinstance(result, Rejected)
    assert (result.reason.value, result.detail) == (
        "out_of_range",
        "refunded_amount: Input should be less than or equal to 999999999999",
    )


def test_a_window_of_plain_integers_is_validated_without_a_python_call_per_count() -> None:
    # Every window carries 7 to 14 counts and amounts: a Python validator per count was
    # about a quarter of a window's validation (docs/transactions.md, "An eighth pass").
    body = {
        **BASE,
        "outcomes": {"approved": 40, "declined": 3, "reversed": 1, "timed_out": 1},
        "responses": {"approved": 40, "cardholder_decline": 1, "issuer_unavailable": 3},
        "approved_amount": 123456,
        "refunded_amount": 2500,
        "batch": {**BATCH, "count": 900},
    }
    payload = json.dumps(body).encode()
    calls: list[str] = []

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        if event == "call" and frame.f_code.co_filename.endswith("models.py"):
            calls.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        result = decode(TOPIC, payload)
    finally:
        sys.setprofile(None)
    assert isinstance(result, Decoded), result
    # The window's own order check (since <= until) is the one Python validator left.
    assert calls == ["_window_in_order"]
