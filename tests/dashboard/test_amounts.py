"""Amounts typed by the NOC (dashboard/amounts.py): yuan in, fen out, or the reason why not."""

from __future__ import annotations

import pytest

from dashboard.amounts import Refused, money, parse

FULL_WIDTH = "\uff11\uff12\uff13"  # 123 typed with a Chinese input method


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [("20", "CNY", 2000), ("20.5", "CNY", 2050), (" 0.01 ", "CNY", 1), ("0", "CNY", 0),
     ("1234.50", "CNY", 123450), ("1500", "JPY", 1500), ("+3", "CNY", 300)],
)  # fmt: skip
def test_an_amount_in_the_major_unit_is_stored_in_minor_units(
    typed: str, currency: str, minor: int
) -> None:
    assert parse(typed, currency) == minor


@pytest.mark.parametrize(
    ("typed", "currency", "why"),
    [("", "CNY", "Type the amount recovered"), ("-5", "CNY", "cannot be negative"),
     ("12,34", "CNY", "no thousands separator"), ("1,234.00", "CNY", "no thousands separator"),
     (FULL_WIDTH, "CNY", "half-width digits"), ("12\uff0e5", "CNY", "half-width digits"),
     ("1.234", "CNY", "has 2 decimals"), ("1.5", "JPY", "has 0 decimals"),
     ("abc", "CNY", "is not an amount"), ("1e3", "CNY", "is not an amount"),
     ("12.", "CNY", "is not an amount"), ("十二", "CNY", "is not an amount"),
     ("9" * 13, "CNY", "is not an amount")],
)  # fmt: skip
def test_what_is_not_plainly_an_amount_is_refused_with_the_reason(
    typed: str, currency: str, why: str
) -> None:
    got = parse(typed, currency)
    assert isinstance(got, Refused), got
    assert why in got.msgid.format(**got.fields), got


def test_money_is_shown_in_the_major_unit_with_its_decimals_and_currency() -> None:
    assert money(123456, "CNY") == "1,234.56 CNY"
    assert money(-2000, "CNY") == "-20.00 CNY"
    assert money(1500, "JPY") == "1,500 JPY"
    assert money(None, "CNY") == "—"
