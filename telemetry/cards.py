"""What looks like a card number (PAN): a run of 13 to 19 digits that passes the Luhn check.

Transaction messages carry aggregates only; a payload with anything that looks like a PAN is
refused whole (``card_data``), whatever field it hides in. agent/contract.py has the same
rule in its own copy (tests/agent/test_agent_contract.py proves they agree). Standard
library only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

# A run of digits, optionally grouped by single spaces or dashes ("4111 1111 1111 1111"); the
# lookarounds make it the whole run, so a 20-digit reference is one run (not a PAN), never
# a 16-digit window inside it. \d is Unicode: full-width digits count too.
# The separators: a space or a dash, as typed or as text software prints them (a no-break,
# thin or ideographic space; a hyphen, en dash or full-width hyphen-minus).
_SEP = "[ \u00a0\u2007\u2009\u202f\u3000\\-\u2010\u2011\u2013\uff0d]"
_RUN = re.compile(rf"(?<!\d)(?<!\d{_SEP})\d(?:{_SEP}?\d)*(?!{_SEP}?\d)")
PAN_MIN, PAN_MAX = 13, 19
# Identity fields equal the topic's ids (checked by the decoder) and are inventory ids, not
# data; a gateway named by its IMEI (15 digits, Luhn-valid by design) must not be refused.
ID_FIELDS = frozenset({"gw", "terminal"})
# A time may be sent as Unix milliseconds (13 digits until 2286): as a number it is a time,
# read as one (and refused out_of_range if it is not), never a card number.
TIME_FIELDS = frozenset({"ts", "since", "until", "last_txn_at", "closed_at"})


# What every payload holding a PAN contains in its raw bytes (``may_hold_pan``): 13 ASCII
# digits in a row (single spaces or dashes between them allowed), or a digit before an
# exponent (a float like 4.1111111111e15 is a 16-digit integer once read). A payload that
# is pure ASCII without backslash-u escapes and has neither cannot hold one: JSON writes integers
# and unescaped strings digit for digit. Anything else gets the full check.
_MAY_HOLD = re.compile(rb"\d(?:[ -]?\d){12}|\d[eE]")
# The regex tries a match at every digit of the payload (10 us for a transactions window,
# whose times and counts are full of digits). First a cheaper necessary condition, in C:
# with digits, spaces and dashes folded to "0" and "E" to "e", a match needs 13 "0" in a
# row or a "0e". Most payloads have neither; the others get the regex, so the answer is the
# regex's, byte for byte.
_FOLD = bytes.maketrans(b"0123456789 -E", b"000000000000e")
_RUN13 = b"0" * 13


def may_hold_pan(payload: bytes) -> bool:
    """False only when ``payload`` (raw JSON) cannot contain anything ``card_field`` finds."""
    if not payload.isascii() or b"\\u" in payload:
        return True
    folded = payload.translate(_FOLD)
    if _RUN13 not in folded and b"0e" not in folded:
        return False
    return _MAY_HOLD.search(payload) is not None


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _looks_like_pan(text: str) -> bool:
    for m in _RUN.finditer(text):
        digits = "".join(c for c in m.group() if c.isdecimal())
        if PAN_MIN <= len(digits) <= PAN_MAX and luhn_ok(digits):
            return True
    return False


class _Repeated(dict[str, Any]):
    """A JSON object with a repeated key: the parse keeps the last value, but the card check
    must see every one (``{"acquirer": PAN, "acquirer": "ok"}`` still carries a PAN)."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    return obj if len(obj) == len(pairs) else _Repeated(pairs)


def parse_all(payload: bytes | str) -> Any:
    """``json.loads`` that keeps every value of a repeated key for ``card_field``."""
    return json.loads(payload, object_pairs_hook=_object)


def redact(text: str) -> str:
    """``text`` with each run that looks like a card number replaced, for a log line that
    must name what it refused (an unknown topic is logged as it came)."""
    return _RUN.sub(lambda m: "<card number>" if _looks_like_pan(m.group()) else m.group(), text)


def card_field(
    value: Any, path: str = "", *, ids: Mapping[str, str | None] | None = None
) -> str | None:
    """The path of the first field (or key) that looks like a card number, else ``None``.

    ``value`` is parsed JSON (``parse_all`` keeps repeated keys). ``ids``: the topic's ids;
    ``gw`` and ``terminal`` are exempt only when they equal them (a mismatch's log line
    names the payload's id, so a card number there must be refused first). Never returns
    the value itself: it must not reach a log.
    """
    if isinstance(value, dict):
        pairs = value.pairs if isinstance(value, _Repeated) else value.items()
        for k, v in pairs:
            where = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and _looks_like_pan(k):
                return f"{path}.<key>" if path else "<key>"
            if (
                not path
                and k in ID_FIELDS
                and isinstance(v, str)
                and (ids is None or ids.get(k) == v)
            ):
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
        return path if _looks_like_pan(str(abs(value))) else None
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e20:
            return path if _looks_like_pan(str(abs(int(value)))) else None
        return None
    if isinstance(value, str):
        return path if _looks_like_pan(value) else None
    return None
