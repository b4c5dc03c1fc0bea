"""The simulator's transaction model (simulators/txnmodel.py) and its scenario faults: store
rhythms worked out by hand, Poisson windows that add up to the batch they close, windows the
collector's codec accepts, settlement files the collector's reconciler reads, and scenario
files that say what is wrong with them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from collector.reconcile import parse_settlement
from simulators.fleetmodel import generate
from simulators.scenarios import library
from simulators.scenarios.plan import compile_plan
from simulators.scenarios.spec import TXN_FAULTS, ScenarioError, load, parse
from simulators.txnmodel import (
    STORE_TYPES,
    Device,
    TxnMode,
    settlement_csv,
    settlement_rows,
)
from telemetry.codec import Decoded, decode, encode
from telemetry.models import Transactions
from telemetry.topics import Kind, topic_for

OSLO = ZoneInfo("Europe/Oslo")


def _oslo(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=OSLO)


def _device(store: str, seed: int = 1, terminal: str | None = "pp-1") -> Device:
    return Device(
        terminal or "gw-1",
        "gw-1",
        terminal,
        "s-1",
        "M-s-1",
        OSLO,
        STORE_TYPES[store],
        "unionpay-sh",
        random.Random(seed),
    )


def test_each_store_type_is_closed_outside_its_hours_and_follows_its_day() -> None:
    # 2026-11-30 is a Monday, 2026-12-06 a Sunday (local Oslo time).
    rate = {n: t.rate for n, t in STORE_TYPES.items()}
    assert rate["supermarket"](_oslo("2026-11-30T03:00")) == 0.0
    assert rate["supermarket"](_oslo("2026-11-30T12:30")) == pytest.approx(45 * 0.9 * 0.9)
    assert rate["restaurant"](_oslo("2026-11-30T12:00")) == 0.0  # closed on Mondays
    assert rate["restaurant"](_oslo("2026-12-01T15:00")) == 0.0  # between lunch and dinner
    assert rate["restaurant"](_oslo("2026-12-05T19:00")) == pytest.approx(25 * 1.0 * 1.4)
    assert rate["boutique"](_oslo("2026-12-06T14:00")) == 0.0  # closed on Sundays
    assert rate["boutique"](_oslo("2026-12-05T14:00")) == pytest.approx(6 * 1.0 * 1.6)
    # Around the clock, quiet at night.
    assert rate["convenience"](_oslo("2026-11-30T03:00")) == pytest.approx(35 * 0.08)
    assert rate["convenience"](_oslo("2026-11-30T12:00")) == pytest.approx(35 * 1.0)


def test_a_closed_store_reports_nothing_and_a_stuck_app_reports_nothing() -> None:
    d = _device("supermarket")
    night = _oslo("2026-11-30T02:00").astimezone(UTC)
    assert d.window(night, night + timedelta(hours=1), 1.0) is None
    d = _device("convenience")
    d.mode = TxnMode.STUCK
    noon = _oslo("2026-11-30T12:00").astimezone(UTC)
    assert d.window(noon, noon + timedelta(hours=1), 1.0) is None


def test_window_counts_are_poisson_around_the_scaled_rate() -> None:
    d = _device("convenience", seed=7)
    local = _oslo("2026-12-02T12:00")  # Wednesday noon, local: 35 sales per hour
    counts = []
    for _ in range(400):  # the same local hour of 400 Wednesdays (wall-clock arithmetic)
        start = local.astimezone(UTC)
        w = d.window(start, start + timedelta(hours=1), 2.0)
        assert w is not None
        counts.append(sum(w.outcomes.model_dump().values()))
        local += timedelta(days=7)
    mean = sum(counts) / len(counts)
    var = sum((c - mean) ** 2 for c in counts) / len(counts)
    assert mean == pytest.approx(70, abs=3 * (70 / 400) ** 0.5 + 0.5)  # 35/h x scale 2
    assert var == pytest.approx(70, rel=0.3)  # Poisson: variance = mean


def test_a_days_windows_add_up_to_the_batch_closed_at_the_cutoff() -> None:
    d = _device("supermarket", seed=3)
    t = _oslo("2026-12-01T00:00").astimezone(UTC)
    windows: list[Transactions] = []
    for _ in range(24 * 3):
        w = d.window(t, t + timedelta(minutes=20), 1.0)
        t += timedelta(minutes=20)
        if w is not None:
            windows.append(w)
    closes = [w for w in windows if w.batch is not None]
    assert len(closes) == 1
    batch = closes[0].batch
    assert batch is not None
    assert batch.closed_at == _oslo("2026-12-01T22:00")
    assert batch.id == "B20261201"
    assert batch.count == sum(w.outcomes.approved for w in windows)
    assert batch.amount == sum(w.approved_amount - w.refunded_amount for w in windows)
    # Nothing before 08:00 or after 22:00: the store is closed.
    assert all(_oslo("2026-12-01T08:00") <= w.since for w in windows)
    assert all(w.until <= _oslo("2026-12-01T22:00") for w in windows)


@pytest.mark.parametrize(
    ("mode", "outcome", "response"),
    [
        (TxnMode.ISSUER_OUTAGE, "declined", "issuer_unavailable"),
        (TxnMode.NETWORK_TIMEOUTS, "timed_out", "other"),
    ],
)
def test_a_fault_mode_fails_its_share_of_sales_in_its_class(
    mode: TxnMode, outcome: str, response: str
) -> None:
    d = _device("convenience", seed=5)
    noon = _oslo("2026-12-02T12:00").astimezone(UTC)
    normal = d.window(noon, noon + timedelta(hours=1), 100.0)
    d.mode, d.fault_share = mode, 0.6
    bad = d.window(noon, noon + timedelta(hours=1), 100.0)
    assert normal is not None
    assert bad is not None
    n_bad = sum(bad.outcomes.model_dump().values())
    n_normal = sum(normal.outcomes.model_dump().values())
    assert getattr(normal.responses, response) / n_normal < 0.02
    assert getattr(bad.responses, response) / n_bad == pytest.approx(0.6, abs=0.05)
    assert getattr(bad.outcomes, outcome) / n_bad >= 0.55


def test_windows_are_valid_transactions_messages_for_the_collector() -> None:
    for dev_terminal in ("pp-00001-1", None):
        d = _device("convenience", seed=2, terminal=dev_terminal)
        t = _oslo("2026-11-24T20:00").astimezone(UTC)  # in the past: historical
        for _ in range(6):  # across the 23:30 cut-off: one window carries the batch
            w = d.window(t, t + timedelta(hours=1), 10.0, historical=True)
            t += timedelta(hours=1)
            assert w is not None
            topic = topic_for("gw-1", Kind.TRANSACTIONS, dev_terminal)
            got = decode(topic, encode(w), now=datetime.now(UTC))
            assert isinstance(got, Decoded), got
            assert got.message == w
        assert [b.batch_id for b in d.batches] == ["B20261124"]


def test_the_settlement_file_reads_back_and_a_duplicated_refund_shorts_its_batch() -> None:
    devices = [_device("convenience", seed=s, terminal=f"pp-{s}") for s in (1, 2, 3)]
    t = _oslo("2026-12-01T00:00").astimezone(UTC)
    for _ in range(24):
        for d in devices:
            d.window(t, t + timedelta(hours=1), 5.0)
        t += timedelta(hours=1)
    batches = [b for d in devices for b in d.batches]
    assert len(batches) == 3
    data = settlement_csv(settlement_rows(batches, {"pp-2"}))
    rows, errors, bad = parse_settlement(data)
    assert (errors, bad) == ([], 0)
    settled = {r.terminal: r for r in rows}
    for b in batches:
        r = settled[b.device]
        assert (r.batch, r.business_date, r.currency) == (b.batch_id, "2026-12-01", "CNY")
        if b.device == "pp-2":
            assert b.refund > 0
            assert (r.count, r.amount) == (b.count + 1, b.amount - b.refund)
        else:
            assert (r.count, r.amount) == (b.count, b.amount)


def _scenario(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "t",
        "transactions": {"window": "5s", "scale": 1000, "store_types": ["convenience"]},
        "collector": {"alerts": {"silence_floor_s": 40, "poll_silence_s": 2}},
        "events": [],
    }
    base.update(over)
    return base


def test_transaction_faults_need_a_transactions_table() -> None:
    with pytest.raises(ScenarioError, match=r"events\[0\] \(stuck_app\): needs a \[transactions\]"):
        parse({"name": "t", "events": [{"at": 1, "fault": "stuck_app"}]})


def test_a_late_file_must_come_after_the_on_time_ones_and_have_a_day_with_a_file() -> None:
    with pytest.raises(ScenarioError, match="is not late"):
        parse(_scenario(events=[{"at": "5s", "fault": "late_settlement"}]))
    with pytest.raises(ScenarioError, match="day -3 has no settlement file"):
        parse(_scenario(events=[{"at": "60s", "fault": "late_settlement", "day": -3}]))


def test_a_stuck_app_too_short_to_be_seen_is_refused_with_the_delay_it_needs() -> None:
    s = parse(_scenario(events=[{"at": 1, "fault": "stuck_app", "hold": "20s"}]))
    with pytest.raises(ScenarioError, match=r"make hold >= \d+s"):
        compile_plan(s, generate(40, 16))


def test_the_ci_transactions_scenario_plans_each_transaction_fault() -> None:
    s = load(library()["ci-transactions"])
    plan = compile_plan(s, generate(s.fleet.gateways, s.seed))
    assert set(plan.faults()) == set(TXN_FAULTS)
    stuck = [m for st in plan.steps for m in st.truth if m.fault == "stuck_app" and not m.end]
    assert stuck
    assert all(m.subject_type == "terminal" and m.expect_alert == "terminal_silent" for m in stuck)
    ops = [st.op for st in plan.steps if st.op.startswith("settlement")]
    # The duplicated refund marks the day's file before it goes; the late day's file goes last.
    assert ops == ["settlement_fault", "settlement_fault", "settlement", "settlement"]
    last = [st for st in plan.steps if st.op == "settlement"][-1]
    assert last.kw["day"] == -2
    assert last.at == 40.0
