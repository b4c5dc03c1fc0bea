"""Transaction aggregates through the collector's processing path into a real SQLite store,
and the bounded counters the metrics endpoint serves from it."""

from __future__ import annotations

import json
import queue
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from collector.ingest import LinkEvent, Received
from collector.inventory import upsert_rows
from collector.liveness import LivenessTracker
from collector.metrics import CollectorMetrics, FleetCollector
from collector.processor import Processor
from collector.store.retention import RetentionPolicy, apply_retention
from collector.store.store import Store
from collector.store.transactions import TxnAggregate, write_transactions
from telemetry.clock import FakeClock
from telemetry.models import Transactions

START = datetime(2026, 11, 22, 9, 21, tzinfo=UTC)
SINCE, UNTIL = 1795338000, 1795339200  # 09:00 .. 09:20 UTC


def _body(gw: str, terminal: str | None, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"v": 1, "gw": gw, "ts": UNTIL + 60, "since": SINCE, "until": UNTIL}
    if terminal is not None:
        body["terminal"] = terminal
    return {**body, **kw}


def _topic(gw: str, terminal: str | None) -> str:
    if terminal is None:
        return f"posfleet/v1/{gw}/transactions"
    return f"posfleet/v1/{gw}/terminal/{terminal}/transactions"


class Rig:
    def __init__(self, target: str) -> None:
        self.db = target
        self.store = Store(self.db)
        self.fleet: list[FleetCollector] = []
        with self.store.transaction() as conn:
            upsert_rows(conn, "regions", [{"region_id": "east"}, {"region_id": "west"}])
            upsert_rows(
                conn,
                "gateways",
                [
                    {"gateway_id": "gw-1", "region_id": "east"},
                    {"gateway_id": "pos-9", "region_id": "west"},
                ],
            )
            upsert_rows(
                conn,
                "terminals",
                [
                    {"terminal_id": "pp-1", "gateway_id": "gw-1", "region_id": "east"},
                    {"terminal_id": "pp-2", "gateway_id": "gw-1", "region_id": "east"},
                ],
            )
        self.clock = FakeClock(START)
        self.registry = CollectorRegistry()
        self.processor = Processor(
            self.store,
            LivenessTracker(),
            CollectorMetrics(self.registry),
            queue.SimpleQueue(),
            clock=self.clock,
        )
        self.processor.process([LinkEvent(True, self.clock.now(), self.clock.monotonic())])

    def send(self, *bodies: dict[str, Any]) -> None:
        items = [
            Received(
                _topic(b["gw"], b.get("terminal")),
                json.dumps(b).encode(),
                self.clock.now(),
                self.clock.monotonic(),
            )
            for b in bodies
        ]
        self.processor.process(items)

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return list(self.store.conn.execute(sql, args))

    def scrape(self) -> CollectorRegistry:
        registry = CollectorRegistry()
        self.fleet.append(FleetCollector(self.db))
        registry.register(self.fleet[-1])
        return registry

    def rejected(self, reason: str) -> float:
        value = self.registry.get_sample_value(
            "posfleet_collector_rejected_total", {"reason": reason}
        )
        return value or 0.0


@pytest.fixture
def rig(store_url: str) -> Any:
    r = Rig(store_url)
    yield r
    for fleet in r.fleet:
        fleet.close()
    r.store.close()


BATCH = {
    "id": "000123",
    "count": 4120,
    "amount": 98765432,
    "currency": "CNY",
    "closed_at": UNTIL - 5,
}


def test_an_aggregate_is_stored_once_with_its_batch_even_when_replayed(rig: Rig) -> None:
    body = _body(
        "gw-1",
        "pp-1",
        outcomes={"approved": 183, "declined": 12, "timed_out": 1},
        responses={"approved": 183, "cardholder_decline": 10, "issuer_unavailable": 3},
        approved_amount=1234567,
        refunded_amount=25000,
        currency="CNY",
        last_txn_at=UNTIL - 13,
        acquirer="unionpay-sh",
        batch=BATCH,
    )
    rig.send(body)
    rig.clock.advance(600)
    rig.send({**body, "historical": True})  # the agent's queue sends it again after a crash
    accepted = rig.registry.get_sample_value(
        "posfleet_collector_messages_total", {"kind": "transactions"}
    )
    assert accepted == 2, "the replay is a valid message: accepted, then stored once"
    assert rig.rows(
        "SELECT gateway_id, terminal_id, window_start, window_end, approved, declined, reversed, "
        "timed_out, error, rc_approved, rc_cardholder_decline, rc_issuer_unavailable, "
        "rc_format_or_terminal_error, rc_other, approved_amount, refunded_amount, currency, "
        "last_txn_at, acquirer FROM txn_aggregates"
    ) == [
        (
            "gw-1",
            "pp-1",
            "2026-11-22T09:00:00.000000+00:00",
            "2026-11-22T09:20:00.000000+00:00",
            183, 12, 0, 1, 0,
            183, 10, 3, 0, 0,
            1234567, 25000, "CNY",
            "2026-11-22T09:19:47.000000+00:00",
            "unionpay-sh",
        )
    ]  # fmt: skip
    assert rig.rows("SELECT terminal_id, batch_id, count, amount, currency FROM txn_batches") == [
        ("pp-1", "000123", 4120, 98765432, "CNY")
    ]
    # Money is not telemetry history: no rollup would make sense of it.
    assert rig.rows("SELECT count(*) FROM telemetry WHERE kind = 'transactions'") == [(0,)]
    reg = rig.scrape()
    assert (
        reg.get_sample_value(
            "posfleet_transactions_total", {"outcome": "approved", "region": "east"}
        )
        == 183
    )
    assert (
        reg.get_sample_value(
            "posfleet_transaction_responses_total",
            {"class": "cardholder_decline", "region": "east", "acquirer": "unionpay-sh"},
        )
        == 10
    )


def test_counters_add_up_by_region_and_never_carry_a_terminal_label(rig: Rig) -> None:
    rig.send(
        _body("gw-1", "pp-1", outcomes={"approved": 5}, responses={"approved": 5}),
        _body(
            "gw-1",
            "pp-2",
            outcomes={"approved": 7, "error": 1},
            responses={"approved": 7, "other": 1},
        ),
        _body("pos-9", None, outcomes={"declined": 2}, responses={"cardholder_decline": 2}),
    )
    rig.clock.advance(1200)
    later = {"since": UNTIL, "until": UNTIL + 1200, "ts": UNTIL + 1260}
    rig.send({**_body("gw-1", "pp-1", outcomes={"approved": 4}), **later})
    reg = rig.scrape()

    def total(outcome: str, region: str) -> float | None:
        return reg.get_sample_value(
            "posfleet_transactions_total", {"outcome": outcome, "region": region}
        )

    assert (total("approved", "east"), total("error", "east")) == (16, 1)
    assert (total("declined", "west"), total("approved", "west")) == (2, None)
    assert (
        reg.get_sample_value(
            "posfleet_transaction_responses_total",
            {"class": "other", "region": "east", "acquirer": "unknown"},
        )
        == 1
    )
    for family in reg.collect():
        if family.name.startswith("posfleet_transaction"):
            for s in family.samples:
                assert set(s.labels) <= {"outcome", "class", "region", "acquirer"}


def test_acquirers_beyond_the_bound_are_counted_as_other_and_named_series_stay_put(
    rig: Rig,
) -> None:
    with rig.store.transaction() as conn:

        def agg(i: int, acquirer: str) -> TxnAggregate:
            start = datetime(2026, 11, 22, tzinfo=UTC) + timedelta(minutes=20 * i)
            msg = Transactions.model_validate(
                {
                    "gw": "gw-1",
                    "terminal": "pp-1",
                    "ts": start + timedelta(minutes=20),
                    "since": start,
                    "until": start + timedelta(minutes=20),
                    "responses": {"approved": 1},
                    "acquirer": acquirer,
                }
            )
            return TxnAggregate("gw-1", "pp-1", START, msg)

        write_transactions(conn, [agg(i, f"acq-{i}") for i in range(5)], acquirers_max=3)
        write_transactions(conn, [agg(10, "acq-0"), agg(11, "acq-4")], acquirers_max=3)
    reg = rig.scrape()
    labels = {
        s.labels["acquirer"]: s.value
        for f in reg.collect()
        if f.name == "posfleet_transaction_responses"
        for s in f.samples
    }
    assert labels == {"acq-0": 2, "acq-1": 1, "acq-2": 1, "other": 3}


def test_a_message_with_a_card_number_is_refused_counted_and_leaves_nothing(rig: Rig) -> None:
    rig.send(_body("gw-1", "pp-1", outcomes={"declined": 1}, note="pan 4111-1111-1111-1111"))
    assert rig.rejected("card_data") == 1
    assert rig.rows("SELECT count(*) FROM txn_aggregates") == [(0,)]
    assert rig.rows("SELECT count(*) FROM telemetry") == [(0,)]


def test_a_card_number_never_reaches_the_log(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.send(_body("gw-1", "pp-1", batch={**BATCH, "id": "6212345678901232"}))
    assert rig.rejected("card_data") == 1
    assert "batch.id" in caplog.text
    assert "6212" not in caplog.text


def test_transaction_rows_are_kept_as_long_as_the_rollups(rig: Rig) -> None:
    rig.send(_body("gw-1", "pp-1", outcomes={"approved": 1}, batch=BATCH))
    policy = RetentionPolicy(raw_keep=timedelta(days=3), rollup_keep=timedelta(days=90))
    report = apply_retention(rig.store.conn, START + timedelta(days=89), policy)
    assert report.txn_rows_deleted == 0
    report = apply_retention(rig.store.conn, START + timedelta(days=91), policy)
    assert report.txn_rows_deleted == 2
    assert rig.rows("SELECT count(*) FROM txn_aggregates") == [(0,)]
    # The counters are totals since the store began: retention never makes them go down.
    assert (
        rig.scrape().get_sample_value(
            "posfleet_transactions_total", {"outcome": "approved", "region": "east"}
        )
        == 1
    )


def _window(i: int, terminal: str = "pp-1", approved: int = 1) -> TxnAggregate:
    start = datetime(2026, 11, 22, tzinfo=UTC) + timedelta(minutes=20 * i)
    msg = Transactions.model_validate(
        {
            "gw": "gw-1",
            "terminal": terminal,
            "ts": start + timedelta(minutes=20),
            "since": start,
            "until": start + timedelta(minutes=20),
            "outcomes": {"approved": approved, "timed_out": 1},
            "responses": {"approved": approved, "issuer_unavailable": 1},
            "acquirer": "unionpay-sh",
            "batch": {
                "id": f"B{i:04d}",
                "count": approved,
                "amount": 100 * approved,
                "currency": "CNY",
                "closed_at": start + timedelta(minutes=19),
            },
        }
    )
    return TxnAggregate("gw-1", terminal, START, msg)


class _Counting:
    """The store connection, counting the statements sent to the database."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.statements = conn, 0

    def execute(self, sql: str, params: Any = ()) -> Any:
        self.statements += 1
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, seq: Any) -> Any:
        self.statements += 1
        return self.conn.executemany(sql, seq)


def test_a_batch_of_windows_costs_a_few_statements_whatever_its_size(rig: Rig) -> None:
    # docs/DESIGN "Storage": the ingest path never waits on one row at a time.
    statements = []
    for first, n in ((0, 10), (100, 400)):
        with rig.store.transaction() as conn:
            counting = _Counting(conn)
            new = write_transactions(
                counting,  # type: ignore[arg-type]
                [_window(first + i, ("pp-1", "pp-2")[i % 2]) for i in range(n)],
            )
        assert new == n
        statements.append(counting.statements)
    # Not one per window: a few per batch (windows, batch closes, labels, regions, totals).
    assert max(statements) <= 10, statements
    assert rig.rows("SELECT count(*), sum(approved) FROM txn_aggregates") == [(410, 410)]
    assert rig.rows("SELECT count(*) FROM txn_batches") == [(410,)]


def test_replayed_and_repeated_windows_in_one_batch_are_stored_and_counted_once(
    rig: Rig,
) -> None:
    with rig.store.transaction() as conn:
        assert write_transactions(conn, [_window(0, approved=5)]) == 1
    with rig.store.transaction() as conn:
        # Window 0 again (replayed), window 1 twice in the same batch, window 2 new.
        batch = [_window(0, approved=5), _window(1, approved=7), _window(1, approved=7)]
        assert write_transactions(conn, [*batch, _window(2, approved=11)]) == 2
    assert rig.rows("SELECT window_start, approved FROM txn_aggregates ORDER BY 1") == [
        ("2026-11-22T00:00:00.000000+00:00", 5),
        ("2026-11-22T00:20:00.000000+00:00", 7),
        ("2026-11-22T00:40:00.000000+00:00", 11),
    ]
    assert rig.rows("SELECT count(*) FROM txn_batches") == [(3,)]
    reg = rig.scrape()
    assert (
        reg.get_sample_value(
            "posfleet_transactions_total", {"outcome": "approved", "region": "east"}
        )
        == 5 + 7 + 11
    )
    assert (
        reg.get_sample_value(
            "posfleet_transaction_responses_total",
            {"class": "issuer_unavailable", "region": "east", "acquirer": "unionpay-sh"},
        )
        == 3
    )


def _fold_tables(rig: Rig) -> list[list[tuple[Any, ...]]]:
    return [
        rig.rows(f"SELECT * FROM {t} ORDER BY 1, 2, 3")
        for t in ("txn_baseline", "txn_state", "txn_site_baseline")
    ]


def test_the_spike_fold_takes_the_windows_the_silence_fold_just_read_and_folds_the_same(
    rig: Rig,
) -> None:
    from collector.alerts.silence import SilenceSweep
    from collector.alerts.spikes import SpikeSweep
    from collector.alerts.txnfeed import WindowFeed
    from collector.store.db import dialect

    with rig.store.transaction() as conn:
        upsert_rows(conn, "sites", [{"site_id": "s-1", "region_id": "east", "tz": "Asia/Shanghai"}])
        upsert_rows(
            conn, "terminals", [{"terminal_id": "pp-1", "gateway_id": "gw-1", "site_id": "s-1"}]
        )
        write_transactions(conn, [_window(i, ("pp-1", "pp-2")[i % 2], 3 + i) for i in range(30)])
    # Each fold reading the store itself, as before: the figures to match.
    with rig.store.transaction() as conn:
        assert SilenceSweep().fold(conn) == SpikeSweep().fold(conn) == 30
    alone = _fold_tables(rig)
    assert alone[2], "the spike baseline holds the site's windows"
    with rig.store.transaction() as conn:
        for t in ("txn_baseline", "txn_state", "txn_site_baseline"):
            conn.execute(f"DELETE FROM {t}")
        conn.execute("DELETE FROM meta WHERE key IN ('silence_fold_cursor', 'spike_fold_cursor')")
    reads: list[str] = []
    with rig.store.transaction() as conn:
        sqlite = dialect(conn) == "sqlite"
        if sqlite:
            conn.set_trace_callback(reads.append)  # type: ignore[union-attr]
        feed = WindowFeed()
        assert SilenceSweep().fold(conn, feed=feed) == SpikeSweep().fold(conn, feed=feed) == 30
        if sqlite:
            conn.set_trace_callback(None)  # type: ignore[union-attr]
    assert _fold_tables(rig) == alone
    if sqlite:  # one read of the windows for both folds (PostgreSQL: one each, as before)
        assert len([s for s in reads if "FROM txn_aggregates" in s]) == 1, reads
