"""A transactions message with anything that looks like a card number is refused (card_data),
wherever it hides; ids that merely have many digits are not."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from support.windows import TOPIC, WINDOW

from telemetry.cards import luhn_ok
from telemetry.codec import Decoded, Rejected, RejectReason, decode

BASE: dict[str, Any] = {**WINDOW, "outcomes": {"approved": 3}, "approved_amount": 4500}


def _check_digit(body: str) -> str:
    """The digit that makes ``body + digit`` pass Luhn, computed by hand (not telemetry's)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # these are doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def _wrong_check_digit(body: str) -> str:
    return str((int(_check_digit(body)) + 1) % 10)


# A PAN starts with its industry digit 1-9 (ISO/IEC 7812), so it survives being a JSON number.
_bodies = st.tuples(st.sampled_from("123456789"), st.text("0123456789", min_size=11, max_size=17))
pans = _bodies.map(lambda t: t[0] + t[1]).map(lambda b: b + _check_digit(b))
not_pans = st.text("0123456789", min_size=12, max_size=18).map(lambda b: b + _wrong_check_digit(b))


def _grouped(pan: str, sep: str) -> str:
    return sep.join(pan[i : i + 4] for i in range(0, len(pan), 4))


def _rejected(body: dict[str, Any]) -> Decoded | Rejected:
    return decode(TOPIC, json.dumps(body).encode())


PLACES = ("extra", "nested_extra", "batch_id", "acquirer", "key", "number", "list", "text")


def _embed(place: str, pan: str, sep: str) -> dict[str, Any]:
    shown = _grouped(pan, sep) if sep else pan
    batch = {"id": "b1", "count": 1, "amount": 1, "currency": "CNY", "closed_at": 1795339000}
    return {
        "extra": {**BASE, "card": shown},
        "nested_extra": {**BASE, "outcomes": {"approved": 3, "debug": {"pan": [shown]}}},
        "batch_id": {**BASE, "batch": {**batch, "id": pan}},
        "acquirer": {**BASE, "acquirer": pan},
        "key": {**BASE, "seen": {shown: 1}},
        "number": {**BASE, "x": int(pan)},
        "list": {**BASE, "refs": ["a", shown]},
        "text": {**BASE, "note": f"card {shown} declined"},
    }[place]


def test_the_test_check_digit_agrees_with_known_card_numbers() -> None:
    assert _check_digit("411111111111111") == "1"  # 4111 1111 1111 1111, the Visa test card
    assert _check_digit("621234567890123") == "2"


@settings(max_examples=400, deadline=None)
@given(pans, st.sampled_from(PLACES), st.sampled_from(["", " ", "-"]))
def test_a_card_number_anywhere_in_the_message_is_always_refused(
    pan: str, place: str, sep: str
) -> None:
    if place in ("batch_id", "acquirer", "number"):
        sep = ""  # these places hold the bare digits
    result = _rejected(_embed(place, pan, sep))
    assert isinstance(result, Rejected)
    assert result.reason is RejectReason.CARD_DATA
    assert pan not in result.detail
    assert pan[:6] not in result.detail


@settings(max_examples=300, deadline=None)
@given(not_pans, st.sampled_from(["batch_id", "acquirer"]))
def test_digit_ids_that_fail_the_luhn_check_are_accepted(digits: str, place: str) -> None:
    assert not luhn_ok(digits)
    result = _rejected(_embed(place, digits, ""))
    assert isinstance(result, Decoded), result


def test_a_gateway_named_by_its_imei_is_not_card_data() -> None:
    imei = "49015420323751" + _check_digit("49015420323751")  # 15 digits, Luhn by design
    body = {**BASE, "gw": imei}
    result = decode(f"posfleet/v1/{imei}/terminal/pinpad-2/transactions", json.dumps(body).encode())
    assert isinstance(result, Decoded), result


def test_a_long_reference_is_one_run_not_a_card_number() -> None:
    assert isinstance(_rejected({**BASE, "ref": "4111111111111111" + "0000"}), Decoded)


def test_the_refusal_comes_before_the_schema_so_it_is_counted_as_card_data() -> None:
    body = {**BASE, "since": "not a time", "pan": "4111111111111111"}
    result = _rejected(body)
    assert isinstance(result, Rejected)
    assert result.reason is RejectReason.CARD_DATA
    assert result.detail.startswith("pan:")


def test_a_time_sent_as_unix_milliseconds_is_a_time_even_when_its_digits_pass_luhn() -> None:
    ms = "179533800012"
    since = int(ms + _check_digit(ms))  # 13 digits, Luhn-valid, 2026-11-22T09:00:00.12x
    result = _rejected({**BASE, "since": since})
    assert isinstance(result, Decoded), result
    assert result.message.since.year == 2026  # type: ignore[union-attr]


# ---------------------------------------------------------------- the raw-bytes pre-check
# telemetry.cards.may_hold_pan lets the decoder skip the full check for payloads that cannot
# hold a card number; it must never let one through.
_json_scalars = (
    st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from([*"0123456789 -x.e", chr(0xFF14), chr(0xFF11)]), max_size=30)
    | st.booleans()
)
_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet="ab0123456789", max_size=20), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(_json, st.booleans())
def test_the_pre_check_never_passes_a_payload_the_full_check_refuses(
    value: Any, ascii_only: bool
) -> None:
    from telemetry.cards import card_field, may_hold_pan

    payload = json.dumps({"x": value}, ensure_ascii=ascii_only).encode()
    if card_field(json.loads(payload)) is not None:
        assert may_hold_pan(payload)


def test_the_pre_check_lets_ordinary_windows_skip_the_full_check_and_catches_the_tricky_ones() -> (
    None
):
    from telemetry.cards import may_hold_pan

    pan = "4111111111111111"
    ordinary = json.dumps({**BASE, "batch": {"id": "B0000017", "count": 4120, "amount": 98765432}})
    assert may_hold_pan(ordinary.encode()) is False
    for tricky in (
        {"note": pan},
        {"note": "4111 1111 1111 1111"},
        {"n": int(pan)},
        {"n": 4.111111111111111e15},
        {"note": "".join(chr(0xFF10 + int(d)) for d in pan)},  # full-width digits
    ):
        raw = json.dumps(tricky).encode()
        assert may_hold_pan(raw), raw
    assert may_hold_pan(b'{"note": "\\u0034111111111111111"}')  # an escaped digit


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet=st.sampled_from([*'0123456789 -eE.x:,"{}']), max_size=60))
def test_the_pre_checks_fast_path_answers_exactly_as_its_regex(text: str) -> None:
    # may_hold_pan skips its regex when a cheaper necessary condition fails: it must never
    # answer otherwise than the regex would (here: ASCII payloads without escapes).
    from telemetry.cards import _MAY_HOLD, may_hold_pan

    payload = text.encode()
    assert may_hold_pan(payload) is (_MAY_HOLD.search(payload) is not None)


# ---------------------------------------------------------------- found from the outside
def test_a_card_number_in_a_repeated_key_is_refused_though_the_parse_keeps_the_last() -> None:
    # JSON parsers keep the last of two equal keys: the first value is never stored, but the
    # message still carries a card number.
    raw = json.dumps(BASE)[:-1] + ',"acquirer":"4111111111111111","acquirer":"unionpay-sh"}'
    result = decode(TOPIC, raw.encode())
    assert isinstance(result, Rejected)
    assert result.reason is RejectReason.CARD_DATA
    assert result.detail.startswith("acquirer:")


def test_a_card_number_sent_as_the_gateway_or_terminal_id_is_card_data_not_a_logged_mismatch() -> (
    None
):
    # The mismatch's log line names the payload's id: a card number there must be refused
    # before it, as card_data, whose line names the field only.
    pan = "4111111111111111"
    for field in ("gw", "terminal"):
        result = _rejected({**BASE, field: pan})
        assert isinstance(result, Rejected)
        assert result.reason is RejectReason.CARD_DATA, result
        assert pan not in result.detail
        assert pan[:6] not in result.detail


def test_counts_and_amounts_sent_as_booleans_or_text_are_schema_errors() -> None:
    # pydantic's lax ints read true as 1 and "5" as 5: a true was stored as one sale.
    for body in (
        {**BASE, "outcomes": {"approved": True}},
        {**BASE, "responses": {"issuer_unavailable": "5"}},
        {**BASE, "approved_amount": True},
        {**BASE, "refunded_amount": "2500"},
        {**BASE, "batch": {"id": "b", "count": "1", "amount": 1, "currency": "CNY",
                           "closed_at": 1795339000}},
    ):  # fmt: skip
        result = _rejected(body)
        assert isinstance(result, Rejected), body
        assert result.reason is RejectReason.SCHEMA, (body, result)
    result = _rejected({**BASE, "approved_amount": 4500.0, "outcomes": {"approved": 3.0}})
    assert isinstance(result, Decoded), result  # 3.0 is still the integer 3
    assert result.message.approved_amount == 4500  # type: ignore[union-attr]


def test_a_card_number_grouped_by_a_no_break_or_ideographic_space_or_an_en_dash_is_refused() -> (
    None
):
    # Text software prints a card number with these as often as with a plain space or dash.
    pan = "4111111111111111"
    for sep in ("\u00a0", "\u202f", "\u3000", "\u2013", "\uff0d"):
        for ascii_only in (True, False):
            body = {**BASE, "note": f"card {_grouped(pan, sep)}"}
            result = decode(TOPIC, json.dumps(body, ensure_ascii=ascii_only).encode())
            assert isinstance(result, Rejected), (sep, result)
            assert result.reason is RejectReason.CARD_DATA
    # Two separators in a row still part the digits (a list of two numbers is not a card).
    assert isinstance(_rejected({**BASE, "note": _grouped(pan, "  ")}), Decoded)
