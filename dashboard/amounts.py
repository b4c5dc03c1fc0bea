"""Money as the NOC reads and types it: stored in minor units (fen), shown and typed in the
currency's major unit (yuan) with its decimals (``1,234.56 CNY``).

``parse`` is strict and says why, as a message id of the console's catalog with its fields:
a person types ``12,34`` meaning 12.34 or 1234, or full-width digits from a Chinese input
method, and neither may be read as something they did not mean. Pure: no Streamlit."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

from collector.reconcile import MINOR_UNITS
from dashboard.i18n import N_

_AMOUNT = re.compile(r"^(\d+)(?:\.(\d+))?$")
MAX_MINOR = 999_999_999_999  # what a settlement file may carry (collector.reconcile)


@dataclass(frozen=True)
class Refused:
    """Why a typed amount is not taken: a message id and its fields."""

    msgid: str
    fields: dict[str, str] = field(default_factory=dict)


def exponent(currency: str) -> int:
    return MINOR_UNITS.get(currency, 2)


def money(minor: object, currency: str) -> str:
    """``123456`` fen as ``1,234.56 CNY``; '—' for none."""
    if minor is None or minor == "" or (isinstance(minor, float) and minor != minor):
        return "—"
    exp = exponent(currency)
    value = Decimal(int(str(minor))).scaleb(-exp)
    return f"{value:,.{exp}f} {currency}".strip()


def parse(text: str, currency: str) -> int | Refused:
    """``text`` typed in ``currency``'s major unit as minor units, or why not."""
    typed = text.strip()
    if not typed:
        return Refused(N_("Type the amount recovered, 0 if nothing was."))
    if any(ord(ch) > 127 for ch in typed):
        if unicodedata.normalize("NFKC", typed) != typed:
            return Refused(
                N_(
                    "Type the amount with half-width digits, as 123.45: {text} has full-width ones."
                ),
                {"text": typed},
            )
        return Refused(N_("{text} is not an amount: type it as 123.45."), {"text": typed})
    if typed.startswith("-"):
        return Refused(N_("The amount recovered cannot be negative."))
    if "," in typed:
        return Refused(
            N_("Use a point for the decimals and no thousands separator (1234.56): not {text}."),
            {"text": typed},
        )
    m = _AMOUNT.match(typed.lstrip("+"))
    if m is None:
        return Refused(N_("{text} is not an amount: type it as 123.45."), {"text": typed})
    exp = exponent(currency)
    decimals = m.group(2) or ""
    if len(decimals.rstrip("0")) > exp:
        return Refused(
            N_("{currency} has {n} decimals: {text} has more."),
            {"currency": currency, "n": str(exp), "text": typed},
        )
    minor = int(Decimal(typed.lstrip("+")).scaleb(exp))
    if minor > MAX_MINOR:
        return Refused(N_("{text} is not an amount: type it as 123.45."), {"text": typed})
    return minor
