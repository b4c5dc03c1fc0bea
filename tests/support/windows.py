"""A minimal transactions window of the wire (docs/protocol.md, "Transactions"): gw-0042's PIN
pad pinpad-2, twenty minutes on 2026-11-22, counted in CNY. Tests add what they check."""

from __future__ import annotations

from typing import Any

TOPIC = "posfleet/v1/gw-0042/terminal/pinpad-2/transactions"
WINDOW: dict[str, Any] = {
    "v": 1,
    "gw": "gw-0042",
    "terminal": "pinpad-2",
    "ts": 1795339260,
    "since": 1795338000,
    "until": 1795339200,
    "currency": "CNY",
}
