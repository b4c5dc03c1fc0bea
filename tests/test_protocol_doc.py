"""docs/protocol.md is held to the code: examples, field tables, limits, scenarios.

- every JSON example goes through the real decoder; ``reject=`` examples must be rejected
  with exactly that reason;
- every field table lists exactly the model's fields, and each documented type, requirement
  and limit is probed through the decoder (at the limit accepted, one step beyond rejected);
- ``scenario=`` examples are played through the collector's processing path (decoder,
  liveness, SQLite store) with a clock moved by hand, checking each documented outcome.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, get_args

import pytest
from prometheus_client import CollectorRegistry

from collector.ingest import LinkEvent, Received
from collector.inventory import upsert_rows
from collector.liveness import LivenessConfig, LivenessTracker
from collector.metrics import CollectorMetrics
from collector.processor import Processor
from collector.store.sqlite import SqliteStore
from telemetry.codec import MAX_PAYLOAD_BYTES, MODEL_FOR_KIND, Decoded, Rejected, decode
from telemetry.models import PLANNED_REASONS, OfflineReason
from telemetry.topics import ID_PATTERN, Kind, parse_topic, topic_for

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"
TEXT = DOC.read_text()
FLAT = " ".join(TEXT.split())  # prose with line breaks folded, for sentence lookups
BLOCK = re.compile(r"```json((?: \w+=\S+)+)\n(.*?)\n```", re.S)
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def examples() -> list[tuple[dict[str, str], str]]:
    found = []
    for attrs, body in BLOCK.findall(TEXT):
        meta = dict(a.split("=", 1) for a in attrs.split())
        found.append((meta, body))
    return found


EXAMPLES = examples()
PLAIN = [
    e for e in EXAMPLES if "reject" not in e[0] and e[0].get("expect", "accepted") == "accepted"
]


def _doc_says(pattern: str) -> str:
    found = re.search(pattern, FLAT)
    assert found, f"docs/protocol.md no longer says {pattern!r}"
    return found.group(1)


def range_reason() -> str:
    return _doc_says(r"A number outside its range is rejected \(`(\w+)`\)")


def length_reason() -> str:
    return _doc_says(r"over its length is rejected \(`(\w+)`\)")


def type_reason() -> str:
    return _doc_says(r"a value of the wrong type is rejected \(`(\w+)`\)")


def _outcome(topic: str, body: object) -> str:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    result = decode(topic, payload, now=NOW)
    return "accepted" if isinstance(result, Decoded) else result.reason.value


def _tables(header: str) -> Iterator[tuple[str, list[list[str]]]]:
    """(the ``## `` heading above, rows as cells) for each table starting with ``header``."""
    heading, lines = "", TEXT.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("## "):
            heading = line[3:].strip()
        if line.startswith(header):
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append([c.strip() for c in row.strip().strip("|").split("|")])
            yield heading, rows


def _codes(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


# ---------------------------------------------------------------------------- examples
def test_every_json_block_in_the_doc_names_its_topic() -> None:
    assert TEXT.count("```json") == len(EXAMPLES)
    assert all("topic" in meta for meta, _ in EXAMPLES)
    for meta, _ in EXAMPLES:
        if "scenario" in meta:
            assert {"at", "expect", "then"} <= meta.keys(), meta


@pytest.mark.parametrize(
    ("meta", "body"), PLAIN, ids=lambda v: v.get("topic", "") if isinstance(v, dict) else ""
)
def test_documented_example_is_accepted_by_the_decoder(meta: dict[str, str], body: str) -> None:
    result = decode(meta["topic"], body.encode(), now=NOW)
    assert isinstance(result, Decoded), result


@pytest.mark.parametrize(
    ("meta", "body"),
    [e for e in EXAMPLES if "reject" in e[0]],
    ids=lambda v: v.get("reject", "") if isinstance(v, dict) else "",
)
def test_documented_rejection_is_rejected_for_that_reason(meta: dict[str, str], body: str) -> None:
    result = decode(meta["topic"], body.encode(), now=NOW)
    assert isinstance(result, Rejected)
    assert result.reason.value == meta["reject"], result.detail


def test_every_message_kind_has_an_accepted_example_and_terminals_are_covered() -> None:
    kinds = set()
    terminal = False
    for meta, _ in PLAIN:
        ref = parse_topic(meta["topic"])
        assert ref is not None
        kinds.add(ref.kind)
        terminal = terminal or ref.terminal_id is not None
    assert kinds == set(Kind)
    assert terminal


# ---------------------------------------------------------------------------- scenarios
def _scenarios() -> dict[str, list[tuple[dict[str, str], str]]]:
    out: dict[str, list[tuple[dict[str, str], str]]] = {}
    for meta, body in EXAMPLES:
        if "scenario" in meta:
            out.setdefault(meta["scenario"], []).append((meta, body))
    return out


SCENARIOS = _scenarios()


def _counts(registry: CollectorRegistry) -> dict[str, float]:
    out = {}
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == "posfleet_collector_rejected_total":
                out[s.labels["reason"]] = s.value
            elif s.name == "posfleet_collector_messages_total":
                out["accepted"] = out.get("accepted", 0.0) + s.value
    return out


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_documented_scenario_plays_out_through_the_collector_as_written(
    name: str, tmp_path: Path
) -> None:
    from telemetry.clock import FakeClock

    start = datetime.fromisoformat(_doc_says(r"The scenarios start at (\S+) \(`ts` \d+\)"))
    assert start.timestamp() == int(_doc_says(r"The scenarios start at \S+ \(`ts` (\d+)\)"))
    steps = SCENARIOS[name]
    clock = FakeClock(start)
    store = SqliteStore(tmp_path / "doc.sqlite")
    refs = [parse_topic(meta["topic"]) for meta, _ in steps]
    with store.transaction() as conn:  # the scenarios are about enrolled devices
        gateways = {r.gateway_id for r in refs if r is not None}
        upsert_rows(conn, "gateways", [{"gateway_id": g} for g in sorted(gateways)])
        # A terminal is enrolled behind the gateway that reports it first.
        terminals: dict[str, str] = {}
        for r in refs:
            if r is not None and r.terminal_id is not None:
                terminals.setdefault(r.terminal_id, r.gateway_id)
        upsert_rows(
            conn, "terminals", [{"terminal_id": t, "gateway_id": g} for t, g in terminals.items()]
        )
    registry = CollectorRegistry()
    p = Processor(
        store, LivenessTracker(), CollectorMetrics(registry), queue.SimpleQueue(), clock=clock
    )
    p.process([LinkEvent(True, clock.now(), clock.monotonic())])
    try:
        for (meta, body), ref in zip(steps, refs, strict=True):
            assert ref is not None, meta
            at = start + timedelta(seconds=float(meta["at"]))
            clock.advance((at - clock.now()).total_seconds())
            before = _counts(registry)
            p.process([Received(meta["topic"], body.encode(), clock.now(), clock.monotonic())])
            after = _counts(registry)
            changed = {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k)}
            assert changed == {meta["expect"]: 1.0}, (meta, changed)
            if ref.terminal_id is None:
                sql, sid, st = (
                    "SELECT status FROM gateways WHERE gateway_id=?",
                    ref.gateway_id,
                    "gateway",
                )
            else:
                sql, sid, st = (
                    "SELECT status FROM terminals WHERE terminal_id=?",
                    ref.terminal_id,
                    "terminal",
                )
            assert store.conn.execute(sql, (sid,)).fetchone() == (meta["then"],), meta
            if "incident" in meta:
                open_ = store.conn.execute(
                    "SELECT class FROM incidents WHERE subject_type=? AND subject_id=? "
                    "AND ended_at IS NULL",
                    (st, sid),
                ).fetchall()
                assert open_ == [(meta["incident"],)], meta
    finally:
        store.close()


def test_scenarios_show_every_rejection_that_depends_on_what_came_before() -> None:
    shown = {meta["expect"] for steps in SCENARIOS.values() for meta, _ in steps}
    assert {"duplicate", "stale_session", "future_timestamp", "wrong_gateway", "accepted"} <= shown


# ---------------------------------------------------------------------------- field tables
FIELD_HEADER = "| field | type | required | limits | meaning |"
KIND_OF_HEADING = {k.value.capitalize(): k for k in Kind} | {"Common fields": None}
COMMON = set.intersection(*(set(m.model_fields) for m in MODEL_FOR_KIND.values()))
WRONG_TYPE: dict[str, object] = {
    "int": 1.5,
    "number": "not a number",
    "string": 5,
    "bool": "maybe",
    "time": "2026-11-22T09:30:00",  # no offset
    "enum": "not_a_value",
    "object": "not an object",
    "list": "not a list",
}
# What lax parsing would coerce: every kind's fields are strict, as the doc says.
LAX_VALUES: dict[str, tuple[object, ...]] = {
    "int": (True, "5"),
    "number": (True, "5"),
    "bool": (1, 0, "true"),
    "string": (5, True),
    "time": ("1795339200", "1795339200.5", True),  # a number in a string: not Unix seconds
}


def _field_rows() -> list[tuple[Kind | None, list[str]]]:
    rows = []
    for heading, table in _tables(FIELD_HEADER):
        assert heading in KIND_OF_HEADING, f"field table under unknown heading {heading!r}"
        rows += [(KIND_OF_HEADING[heading], row) for row in table]
    return rows


FIELD_ROWS = _field_rows()


def _base(kind: Kind) -> tuple[str, dict[str, Any]]:
    """The doc's first accepted example of ``kind`` on a gateway topic."""
    for meta, body in PLAIN:
        ref = parse_topic(meta["topic"])
        if ref is not None and ref.kind is kind and ref.terminal_id is None:
            return meta["topic"], json.loads(body)
    raise AssertionError(f"no gateway example of {kind}")


def test_every_message_kind_has_a_field_table_listing_exactly_its_fields() -> None:
    documented: dict[Kind | None, set[str]] = {}
    for kind, row in FIELD_ROWS:
        (name,) = _codes(row[0])
        documented.setdefault(kind, set()).add(name)
    assert documented.pop(None) == COMMON
    assert documented == {k: set(m.model_fields) - COMMON for k, m in MODEL_FOR_KIND.items()}


def _enum_of(kind: Kind, name: str) -> type[StrEnum]:
    def walk(tp: object) -> Iterator[object]:
        yield tp
        for arg in get_args(tp):
            yield from walk(arg)

    for tp in walk(MODEL_FOR_KIND[kind].model_fields[name].annotation):
        if isinstance(tp, type) and issubclass(tp, StrEnum):
            return tp
    raise AssertionError(f"{kind}.{name} is documented as an enum but is not one")


def _probes(ftype: str, limits: str) -> Iterator[tuple[object, str]]:
    """(value, expected outcome) pairs for each documented limit."""
    step = 1 if ftype == "int" else 0.001
    for token in limits.split(", "):
        if m := re.fullmatch(r"(-?\d+)\.\.(-?\d+)", token):
            lo, hi = int(m[1]), int(m[2])
            yield from ((lo, "accepted"), (hi, "accepted"))
            if ftype == "number":  # a fraction inside the range, so "number" means it
                yield lo + 0.25, "accepted"
            yield from ((lo - step, range_reason()), (hi + step, range_reason()))
        elif m := re.fullmatch(r"(>=|>|<=|<) (-?\d+)", token):
            op, n = m[1], int(m[2])
            inside, outside = {
                ">=": (n, n - step),
                ">": (n + step, n),
                "<=": (n, n + step),
                "<": (n - step, n),
            }[op]
            yield from ((inside, "accepted"), (outside, range_reason()))
            if ftype == "number":
                yield (inside + 0.25 if op.startswith(">") else inside - 0.25), "accepted"
        elif m := re.fullmatch(r"≤ (\d+) chars", token):
            n = int(m[1])
            yield from (("a" * n, "accepted"), ("a" * (n + 1), length_reason()))
        elif m := re.fullmatch(r"≤ (\d+) entries", token):
            n = int(m[1])
            if ftype == "list":
                yield from ((["a"] * n, "accepted"), (["a"] * (n + 1), length_reason()))
            else:
                many = {f"k{i}": "v" for i in range(n + 1)}
                yield dict(list(many.items())[:n]), "accepted"
                yield many, length_reason()
        elif m := re.fullmatch(r"(keys|values|items) ≤ (\d+) chars", token):
            n = int(m[2])
            for size, want in ((n, "accepted"), (n + 1, length_reason())):
                long = "a" * size
                shape = {"keys": {long: "v"}, "values": {"k": long}, "items": [long]}
                yield shape[m[1]], want
        else:
            raise AssertionError(f"limit {token!r} is not in a form the doc test can check")


@pytest.mark.parametrize(
    ("kind", "row"),
    FIELD_ROWS,
    ids=[f"{k or 'common'}.{_codes(r[0])[0]}" for k, r in FIELD_ROWS],
)
def test_documented_field_type_requirement_and_limits_hold(
    kind: Kind | None, row: list[str]
) -> None:
    (name,), ftype, required, limits = _codes(row[0]), row[1], row[2], row[3]
    topic, base = _base(kind or Kind.HEARTBEAT)
    assert _outcome(topic, base) == "accepted"

    def with_(value: object) -> str:
        return _outcome(topic, {**base, name: value})

    without = {k: v for k, v in base.items() if k != name}
    assert required.split()[0] in ("yes", "no"), row
    assert _outcome(topic, without) == ("accepted" if required.startswith("no") else type_reason())
    if ftype == "`1`":  # the wire version: another number is not this protocol
        assert (with_(1), with_(2), with_(0)) == ("accepted",) + ("unsupported_version",) * 2
        # Not a number at all: the wrong type, as for any field.
        assert all(with_(lax) == type_reason() for lax in (True, "1", None)), name
        return
    assert ftype in WRONG_TYPE, f"unknown type {ftype!r} for {name}"
    if name == "ts":  # both documented forms
        assert with_("2026-11-22T09:30:00+08:00") == with_(1795339200.5) == "accepted"
    assert with_(WRONG_TYPE[ftype]) == type_reason(), name
    for lax in LAX_VALUES.get(ftype, ()):
        assert with_(lax) == type_reason(), (name, lax)
    if limits == "\N{EN DASH}" or limits.startswith("see "):
        return
    if ftype == "enum":
        values = _codes(limits)
        assert set(values) == {m.value for m in _enum_of(kind or Kind.HEARTBEAT, name)}
        assert all(with_(v) == "accepted" for v in values)
        return
    for value, want in _probes(ftype, limits):
        assert with_(value) == want, (name, value)


def test_ids_in_topics_are_what_the_doc_says() -> None:
    assert f"`{ID_PATTERN}`" in TEXT
    assert _outcome(topic_for("g" * 64, Kind.EVENT), {"gw": "g" * 64, "ts": 1, "type": "x"}) == (
        "accepted"
    )
    for topic in ("posfleet/v1/" + "g" * 65 + "/event", "posfleet/v1/gw 1/event"):
        assert _outcome(topic, {"gw": "gw", "ts": 1, "type": "x"}) == "unknown_topic"


# ---------------------------------------------------------------------------- limits
INT_HEADER = "| field | message | min | max |"
BIG = 2**64  # beyond any fixed-width integer: "none" means the decoder takes it


def _int_rows() -> list[tuple[Kind, str, str, str]]:
    rows = []
    for _, table in _tables(INT_HEADER):
        for field, messages, lo, hi in table:
            (name,) = _codes(field)
            for message in messages.split(", "):
                rows.append((Kind(message.lower()), name, lo, hi))
    return rows


INT_ROWS = _int_rows()


def _int_fields() -> set[tuple[Kind, str]]:
    def has_int(tp: object) -> bool:
        return tp is int or any(has_int(a) for a in get_args(tp))

    return {
        (kind, name)
        for kind, model in MODEL_FOR_KIND.items()
        for name, info in model.model_fields.items()
        if has_int(info.annotation)
    }


def test_the_integer_limits_table_lists_every_integer_field() -> None:
    assert {(k, n) for k, n, _, _ in INT_ROWS} == _int_fields()


@pytest.mark.parametrize(("kind", "name", "lo", "hi"), INT_ROWS, ids=lambda v: str(v))
def test_documented_integer_limit_holds(kind: Kind, name: str, lo: str, hi: str) -> None:
    topic, base = _base(kind)

    def with_(value: float) -> str:
        if name == "data":  # Event.data values
            return _outcome(topic, {**base, "data": {"n": value}})
        return _outcome(topic, {**base, name: value})

    assert with_(7.0) == "accepted"  # "7.0" is an integer on the wire
    if lo == "none":
        assert with_(-BIG) == "accepted"
    else:
        assert (with_(int(lo)), with_(int(lo) - 1)) == ("accepted", range_reason())
    if hi == "none":
        assert with_(BIG) == "accepted"
    else:
        assert (with_(int(hi)), with_(int(hi) + 1)) == ("accepted", range_reason())


def test_the_payload_limit_is_the_decoders_and_the_collectors() -> None:
    from collector.config import CollectorSettings
    from collector.processor import ProcessorSettings

    found = re.search(r"\| payload \| (\d+) bytes", TEXT)
    assert found
    limit = int(found[1])
    assert limit == MAX_PAYLOAD_BYTES == ProcessorSettings().max_payload_bytes
    assert CollectorSettings.model_fields["max_payload_bytes"].default == limit
    topic, base = _base(Kind.HEARTBEAT)
    pad = limit - len(json.dumps({**base, "pad": ""}).encode())
    exact = json.dumps({**base, "pad": "x" * pad}).encode()
    assert len(exact) == limit
    assert _outcome(topic, exact) == "accepted"
    assert _outcome(topic, exact[:-1] + b" }") == "oversized"


# ---------------------------------------------------------------------------- status
def test_the_offline_reasons_table_is_the_closed_set_and_says_which_are_planned() -> None:
    ((_, rows),) = list(_tables("| reason | planned | sent when |"))
    table = {_codes(r[0])[0]: r[1] for r in rows}
    assert set(table) == {r.value for r in OfflineReason}
    assert {r for r, planned in table.items() if planned == "yes"} == set(PLANNED_REASONS)
    assert {r for r, planned in table.items() if planned == "no"} == set(OfflineReason) - set(
        PLANNED_REASONS
    )


def test_an_unknown_reason_is_kept_cut_and_sanitised_as_the_doc_says() -> None:
    n = int(_doc_says(r"cut to (\d+) characters"))
    allowed = _doc_says(r"outside `(\[[^`]+\])` replaced by `_`")
    body = {"gw": "gw-0042", "ts": 1, "state": "offline", "session": 1}
    raw = "power cut/ü" + "x" * n
    result = decode("posfleet/v1/gw-0042/status", json.dumps({**body, "reason": raw}).encode())
    assert isinstance(result, Decoded)
    reason = getattr(result.message, "reason", None)
    assert reason == re.sub(f"[^{allowed[1:-1]}]", "_", raw[:n])
    assert len(reason) == n
    assert _outcome("posfleet/v1/gw-0042/status", {**body, "reason": "Upgrade"}) == "accepted"
    null = decode("posfleet/v1/gw-0042/status", json.dumps({**body, "reason": None}).encode())
    assert isinstance(null, Decoded)
    assert getattr(null.message, "reason", "missing") is None  # "the same as no reason"


# ---------------------------------------------------------------------------- reasons, timing
def test_the_rejection_table_lists_exactly_the_rejection_reasons() -> None:
    from telemetry.codec import RejectReason

    ((_, rows),) = list(_tables("| reason | when |"))
    assert {_codes(r[0])[0] for r in rows} == {r.value for r in RejectReason}


def test_the_documented_hold_grace_and_default_interval_are_the_collectors() -> None:
    c = LivenessConfig()
    assert float(_doc_says(r"counts only after about \*\*(\d+) s\*\*")) == c.will_hold_s
    grace = re.search(r"clamp\(([\d.]+) x `interval`, (\d+) s, (\d+) s\)", FLAT)
    assert grace
    assert tuple(map(float, grace.groups())) == (c.grace_ratio, c.grace_min_s, c.grace_max_s)
    assert float(_doc_says(r"interval, (\d+) s is assumed")) == c.default_interval_s


def test_the_documented_reconnect_backoff_and_keepalive_are_the_reference_agents() -> None:
    from agent.config import AgentSettings
    from agent.link import full_jitter

    defaults = {f.name: f.default for f in dataclasses.fields(AgentSettings)}
    m = re.search(r"uniformly between (\d+) s and min\((\d+) s, \d+ s x 2\^attempt\)", FLAT)
    assert m
    lo, hi = float(m[1]), float(m[2])
    assert (defaults["reconnect_min_delay"], defaults["reconnect_max_delay"]) == (lo, hi)
    assert defaults["keepalive"] == int(_doc_says(r"at most (\d+) s \(the reference"))
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(hi, lo * 2**attempt)
        waits = {full_jitter(attempt, lo, hi, rng) for _ in range(400)}
        assert min(waits) >= lo, (attempt, waits)
        assert max(waits) <= round(ceiling), (attempt, waits)
        assert max(waits) >= ceiling * 0.8 or ceiling < 3  # jittered over the whole range


def test_the_documented_alert_figures_are_the_defaults() -> None:
    from collector.alerts.config import AlertSettings

    f = AlertSettings.model_fields
    assert "raises at 120 s and clears under 60 s" in FLAT
    assert (f["clock_skew_raise_s"].default, f["clock_skew_clear_s"].default) == (120.0, 60.0)
    assert "`POSFLEET_ALERT_PLANNED_GRACE_S` (15 min by default" in FLAT
    assert f["planned_grace_s"].default == 15 * 60
