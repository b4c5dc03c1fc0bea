"""Bytes <-> models. Rejected input is a value with a reason, never an exception."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from pydantic import ValidationError

from telemetry.cards import card_field, may_hold_pan, parse_all, redact
from telemetry.models import (
    EXACT_BRANCH,
    FAST_BRANCH,
    Event,
    Firmware,
    Hardware,
    Heartbeat,
    Message,
    Network,
    Status,
    Transactions,
)
from telemetry.topics import Kind, TopicRef, parse_topic

MAX_PAYLOAD_BYTES = 16 * 1024

MODEL_FOR_KIND: dict[Kind, type[Message]] = {
    Kind.STATUS: Status,
    Kind.HEARTBEAT: Heartbeat,
    Kind.NETWORK: Network,
    Kind.FIRMWARE: Firmware,
    Kind.HARDWARE: Hardware,
    Kind.EVENT: Event,
    Kind.TRANSACTIONS: Transactions,
}


class RejectReason(StrEnum):
    """Label values of ``posfleet_collector_rejected_total{reason}``."""

    UNKNOWN_TOPIC = "unknown_topic"
    OVERSIZED = "oversized"
    MALFORMED_JSON = "malformed_json"
    UNSUPPORTED_VERSION = "unsupported_version"
    SCHEMA = "schema"
    NON_FINITE = "non_finite"
    OUT_OF_RANGE = "out_of_range"  # a number or time outside its documented limits
    GATEWAY_MISMATCH = "gateway_mismatch"
    TERMINAL_MISMATCH = "terminal_mismatch"
    FUTURE_TIMESTAMP = "future_timestamp"
    DUPLICATE = "duplicate"
    STALE_SESSION = "stale_session"
    UNREGISTERED = "unregistered"
    # A terminal topic of a gateway the inventory does not put that terminal behind (another
    # gateway's terminal): never taken as its evidence, never listed for enrolment.
    WRONG_GATEWAY = "wrong_gateway"
    # A transactions message with anything that looks like a card number (telemetry.cards):
    # refused whole, never stored nor logged; the log line names the field, not the value.
    CARD_DATA = "card_data"
    # The collector failed to process a valid-looking message (a bug or a store error): the
    # message is dropped and counted, the rest of its batch goes on.
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: RejectReason
    detail: str
    ref: TopicRef | None = None


class Decoded(NamedTuple):
    """One per message: a NamedTuple, immutable and cheaper to build than a frozen dataclass."""

    ref: TopicRef
    message: Message


def encode(message: Message) -> bytes:
    """Compact JSON; unset optional fields are left out to keep cellular bytes low."""
    body = message.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    body["v"] = message.v  # a default, but the wire always states its version
    return json.dumps(body, separators=(",", ":")).encode()


# pydantic error types that mean "a number (or time) outside its limits"; int_parsing_size:
# an integer too large to parse at all (more digits than any limit).
_RANGE_ERRORS = frozenset(
    {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "int_parsing_size"}
)


def _reason(exc: ValidationError) -> tuple[RejectReason, str]:
    errors = exc.errors(include_url=False)
    # A value off the fast path (telemetry.models._FastPath: a count that is not a plain
    # integer, a time or version not as the agent sends them) fails the fast branch of its
    # union before the exact one: the exact one's error is the reason, reported without the
    # branch's label, as for any other field.
    first = next((e for e in errors if FAST_BRANCH not in e["loc"]), errors[0])
    loc = tuple(p for p in first["loc"] if p != EXACT_BRANCH)
    where = ".".join(str(p) for p in loc)
    detail = f"{where}: {first['msg']}" if where else str(first["msg"])
    kind = first["type"]
    if kind == "json_invalid":
        return RejectReason.MALFORMED_JSON, detail[:200]
    if kind == "finite_number":
        return RejectReason.NON_FINITE, detail[:200]
    if kind in _RANGE_ERRORS:
        return RejectReason.OUT_OF_RANGE, detail[:200]
    if loc == ("v",) and kind == "literal_error":
        # A number other than 1; a "v" that is not a number at all is ``schema`` (below).
        return RejectReason.UNSUPPORTED_VERSION, f"wire version {first.get('input')!r}"
    return RejectReason.SCHEMA, detail[:200]


def decode(
    topic: str,
    payload: bytes,
    *,
    now: datetime | None = None,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> Decoded | Rejected:
    """Validate one MQTT message. ``now`` (collector time) enables the future check.

    A live message whose device clock runs ahead is accepted (its skew is an alert of
    its own); only a *historical* message dated after ``now`` is contradictory and is
    rejected.
    """
    ref = parse_topic(topic)
    if ref is None:
        return Rejected(
            RejectReason.UNKNOWN_TOPIC, f"not a posfleet/v1 topic: {redact(topic[:260])[:200]!r}"
        )
    if len(payload) > max_bytes:
        return Rejected(RejectReason.OVERSIZED, f"{len(payload)} bytes > {max_bytes}", ref)
    if ref.kind is Kind.TRANSACTIONS and may_hold_pan(payload):
        # Before the model: its extra="ignore" would drop an unknown field unseen. A second
        # parse, only for this kind, and only when the raw bytes could hold a card number at
        # all (telemetry.cards.may_hold_pan: one regex over the payload otherwise).
        try:
            raw = parse_all(payload)
        except (ValueError, RecursionError):
            raw = None  # the model's parse says what is wrong with it
        ids = {"gw": ref.gateway_id, "terminal": ref.terminal_id}
        where = card_field(raw, ids=ids) if raw is not None else None
        if where is not None:
            return Rejected(
                RejectReason.CARD_DATA,
                f"{where or 'payload'}: looks like a card number (13-19 digits, Luhn)",
                ref,
            )
    try:
        # pydantic-core parses and validates in one pass (no intermediate dict): the hot path.
        msg = MODEL_FOR_KIND[ref.kind].model_validate_json(payload)
    except ValidationError as exc:
        return Rejected(*_reason(exc), ref)
    if msg.gw != ref.gateway_id:
        return Rejected(
            RejectReason.GATEWAY_MISMATCH,
            f"topic says {ref.gateway_id}, payload says {msg.gw}",
            ref,
        )
    if msg.terminal != ref.terminal_id:
        return Rejected(
            RejectReason.TERMINAL_MISMATCH,
            f"topic says {ref.terminal_id}, payload says {msg.terminal}",
            ref,
        )
    if now is not None and msg.historical and msg.ts > now:
        return Rejected(RejectReason.FUTURE_TIMESTAMP, f"historical message dated {msg.ts}", ref)
    return Decoded(ref, msg)
