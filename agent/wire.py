"""Compact encoding for the cellular budget: Unix-second ``ts`` and integral floats as ints.

The output is still the documented JSON contract (``telemetry.codec.decode`` accepts it):
``ts`` may be RFC 3339 or Unix seconds, and JSON does not distinguish 120 from 120.0.
"""

from __future__ import annotations

import json
from typing import Any

from telemetry.models import Message


def _compact(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def encode_compact(message: Message) -> bytes:
    body = message.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    body = {k: _compact(v) for k, v in body.items()}
    body["v"] = message.v
    body["ts"] = int(message.ts.timestamp())
    return json.dumps(body, separators=(",", ":")).encode()
