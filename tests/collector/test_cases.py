"""Working a shortfall case on each engine: a case opened by reconciling a settlement file
against batches the collector's writer stored; cause, call log and follow-up, closure with
the amount recovered, all audited; what the metrics say about open and overdue cases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from collector.actions import (
    Actor,
    InvalidAction,
    NotFound,
    PermissionDenied,
    Role,
    close_case,
    log_case_call,
    set_case_cause,
)
from collector.inventory import upsert_rows
from collector.metrics import FleetCollector
from collector.reconcile import import_settlement
from collector.store import db
from collector.store.store import open_store
from collector.store.transactions import TxnAggregate, write_transactions
from telemetry.models import BatchClose, Transactions

CLOSED = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
NOW = datetime.now(UTC).replace(microsecond=0)
NOC = Actor("chen.li", Role.OPERATOR)
HEADER = "merchant,terminal,batch,business_date,count,amount,currency\n"


@pytest.fixture
def case(store_url: str) -> Iterator[tuple[db.Connection, int, str]]:
    store = open_store(store_url)
    conn = store.conn
    with store.transaction() as c:
        upsert_rows(c, "regions", [{"region_id": "east"}])
        upsert_rows(c, "sites", [{"site_id": "s-sh", "region_id": "east", "tz": "Asia/Shanghai"}])
        upsert_rows(c, "gateways", [{"gateway_id": "gw-1", "site_id": "s-sh", "region_id": "east"}])
        upsert_rows(
            c,
            "terminals",
            [{"terminal_id": "pp-2", "gateway_id": "gw-1", "site_id": "s-sh", "region_id": "east"}],
        )
        msg = Transactions(
            gw="gw-1",
            ts=CLOSED,
            since=CLOSED - timedelta(minutes=20),
            until=CLOSED,
            batch=BatchClose(id="B2", count=80, amount=500_000, currency="CNY", closed_at=CLOSED),
        )
        write_transactions(c, [TxnAggregate("gw-1", "pp-2", CLOSED, msg)])
    result = import_settlement(
        conn,
        (HEADER + "M-100,pp-2,B2,2026-11-23,80,4980.00,CNY\n").encode(),
        name="s.csv",
        actor=NOC,
        now=NOW,
    )
    assert result.opened == {"mismatch": 1}
    (case_id,) = conn.execute("SELECT id FROM shortfall_cases").fetchone()
    yield conn, int(case_id), store_url
    store.close()


def _audit(conn: db.Connection) -> list[tuple[str, str]]:
    return [
        (str(a), str(s))
        for a, s in conn.execute(
            "SELECT action, subject FROM audit_log WHERE action LIKE 'case.%' ORDER BY id"
        )
    ]


def _samples(target: str) -> dict[tuple[str, ...], float]:
    registry = CollectorRegistry()
    fleet = FleetCollector(target)
    registry.register(fleet)
    try:
        return {
            (s.name, *s.labels.values()): s.value
            for family in registry.collect()
            for s in family.samples
            if s.name.startswith("posfleet_shortfall")
        }
    finally:
        fleet.close()


def test_a_case_is_worked_to_closure_and_every_step_is_audited(
    case: tuple[db.Connection, int, str],
) -> None:
    conn, case_id, _ = case
    due = conn.execute("SELECT follow_up_due FROM shortfall_cases").fetchone()[0]
    assert datetime.fromisoformat(due) == NOW + timedelta(days=1)  # the first follow-up
    set_case_cause(conn, NOC, case_id, "duplicated_refund", NOW)
    follow = NOW + timedelta(hours=4)
    call = log_case_call(
        conn, NOC, case_id, party="acquirer", outcome="promised_callback",
        note="refund 1234 reversed twice; acquirer reverses one", next_follow_up=follow, now=NOW,
    )  # fmt: skip
    assert conn.execute(
        "SELECT caller, party, outcome, next_follow_up FROM case_calls WHERE id = ?", (call,)
    ).fetchall() == [
        ("chen.li", "acquirer", "promised_callback", follow.isoformat(timespec="microseconds"))
    ]
    assert (
        datetime.fromisoformat(
            conn.execute("SELECT follow_up_due FROM shortfall_cases").fetchone()[0]
        )
        == follow
    )
    close_case(
        conn, NOC, case_id, resolution="acquirer re-credited 20.00", recovered_amount=2000, now=NOW
    )
    assert conn.execute(
        "SELECT status, cause, closed_by, recovered_amount FROM shortfall_cases"
    ).fetchall() == [("closed", "duplicated_refund", "chen.li", 2000)]
    assert _audit(conn) == [
        ("case.cause", f"case:{case_id}"),
        ("case.call", f"case:{case_id}"),
        ("case.close", f"case:{case_id}"),
    ]
    with pytest.raises(InvalidAction, match="closed"):
        set_case_cause(conn, NOC, case_id, "other", NOW)


def test_case_work_refuses_bad_input_and_viewers(case: tuple[db.Connection, int, str]) -> None:
    conn, case_id, _ = case
    with pytest.raises(PermissionDenied):
        set_case_cause(conn, Actor("v", Role.VIEWER), case_id, "other", NOW)
    with pytest.raises(InvalidAction, match="unknown cause"):
        set_case_cause(conn, NOC, case_id, "bad luck", NOW)
    with pytest.raises(InvalidAction, match="in the future"):
        log_case_call(
            conn, NOC, case_id, party="merchant", outcome="reached", note="",
            next_follow_up=NOW - timedelta(minutes=1), now=NOW,
        )  # fmt: skip
    with pytest.raises(NotFound):
        close_case(conn, NOC, case_id + 99, resolution="x", recovered_amount=0, now=NOW)
    with pytest.raises(InvalidAction, match="how the case was resolved"):
        close_case(conn, NOC, case_id, resolution=" ", recovered_amount=0, now=NOW)
    assert _audit(conn) == []


def test_a_call_names_who_called_and_an_empty_caller_is_refused(
    case: tuple[db.Connection, int, str],
) -> None:
    conn, case_id, _ = case
    follow = NOW + timedelta(hours=2)
    with pytest.raises(InvalidAction, match="who called"):
        log_case_call(
            conn, NOC, case_id, party="merchant", outcome="reached", note="",
            next_follow_up=follow, now=NOW, caller="  ",
        )  # fmt: skip
    log_case_call(
        conn, NOC, case_id, party="merchant", outcome="reached", note="",
        next_follow_up=follow, now=NOW, caller="wang.fang",
    )  # fmt: skip
    assert conn.execute("SELECT caller FROM case_calls").fetchall() == [("wang.fang",)]
    assert _audit(conn) == [("case.call", f"case:{case_id}")]  # logged by chen.li


def test_recovering_more_than_the_difference_or_acting_on_a_changed_case_is_refused(
    case: tuple[db.Connection, int, str],
) -> None:
    conn, case_id, _ = case
    (seen,) = conn.execute("SELECT updated_at FROM shortfall_cases").fetchone()
    with pytest.raises(InvalidAction, match="more than the case's difference"):
        close_case(conn, NOC, case_id, resolution="paid", recovered_amount=2001, now=NOW)
    set_case_cause(conn, Actor("wang.fang", Role.OPERATOR), case_id, "operator_error",
                   NOW + timedelta(minutes=1), seen=seen)  # fmt: skip
    later = NOW + timedelta(minutes=2)
    with pytest.raises(InvalidAction, match="changed since you read it"):
        set_case_cause(conn, NOC, case_id, "system_fault", later, seen=seen)
    with pytest.raises(InvalidAction, match="changed since you read it"):
        close_case(conn, NOC, case_id, resolution="x", recovered_amount=0, now=later, seen=seen)
    assert conn.execute("SELECT status, cause FROM shortfall_cases").fetchall() == [
        ("open", "operator_error")
    ]
    close_case(conn, NOC, case_id, resolution="paid", recovered_amount=2000, now=later)
    with pytest.raises(InvalidAction, match=r"closed by chen\.li"):
        close_case(conn, NOC, case_id, resolution="again", recovered_amount=0, now=later)
    assert _audit(conn) == [("case.cause", f"case:{case_id}"), ("case.close", f"case:{case_id}")]


def test_metrics_count_open_and_overdue_cases_and_the_short_amount(
    case: tuple[db.Connection, int, str],
) -> None:
    conn, case_id, target = case
    assert _samples(target) == {
        ("posfleet_shortfall_cases", "east", "open"): 1.0,
        ("posfleet_shortfall_cases", "east", "overdue"): 0.0,
        ("posfleet_shortfall_open_amount", "east", "CNY"): 2000.0,
    }
    with conn:  # the follow-up passes without a call
        conn.execute(
            "UPDATE shortfall_cases SET follow_up_due = ? WHERE id = ?",
            ((NOW - timedelta(hours=1)).isoformat(timespec="microseconds"), case_id),
        )
    assert _samples(target)[("posfleet_shortfall_cases", "east", "overdue")] == 1.0
    close_case(conn, NOC, case_id, resolution="recovered", recovered_amount=2000, now=NOW)
    assert _samples(target) == {}
