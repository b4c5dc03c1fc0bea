"""The scorecard on transaction health: silent terminals and failure spikes as pages, and the
collector's shortfall cases (a real SQLite store, the simulator's own windows and settlement
file through the collector's writer and reconciler) as pages of their own."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from collector.actions import Actor, Role
from collector.inventory import upsert_rows
from collector.reconcile import import_settlement
from collector.store.sqlite import SqliteStore
from collector.store.transactions import TxnAggregate, write_transactions
from simulators.scorecard import Page, pair_truth, read_cases, score
from simulators.txnmodel import STORE_TYPES, Device, settlement_csv, settlement_rows

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SITES = {"gw-1": "s-1", "pp-1": "s-1", "pp-2": "s-1", "gw-2": "s-2"}
OSLO = ZoneInfo("Europe/Oslo")


def ts(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def row(
    fault: str, st: str, sid: str, start: float, end: float, expect: str
) -> list[dict[str, object]]:
    """A fault from ``start`` to ``end`` (seconds after T0) that expects ``expect``."""
    return [
        {"fault": fault, "subject_type": st, "subject_id": sid, "start": ts(start).isoformat(),
         "end": None, "expect_alert": expect},
        {"fault": f"{fault}_end", "subject_type": st, "subject_id": sid,
         "start": ts(end).isoformat(), "end": ts(end).isoformat(), "expect_alert": None},
    ]  # fmt: skip


def test_a_silent_terminal_is_detected_by_its_own_page_and_not_by_its_neighbours() -> None:
    faults = pair_truth(row("stuck_app", "terminal", "pp-1", 0, 90, "terminal_silent"))
    right = score(
        faults, [Page("terminal_silent", "terminal", "pp-1", ts(42))], SITES, until=ts(200)
    )
    assert (right.by_fault["stuck_app"].detected, right.ok) == (1, True)
    wrong = score(
        faults, [Page("terminal_silent", "terminal", "pp-2", ts(42))], SITES, until=ts(200)
    )
    assert wrong.by_fault["stuck_app"].missed == 1
    assert [p.subject_id for p in wrong.false_pages] == ["pp-2"]


def test_a_failure_spike_is_its_stores_own_kind_and_a_down_page_does_not_explain_it() -> None:
    faults = pair_truth(row("issuer_outage", "site", "s-1", 0, 90, "txn_failure_spike"))
    card = score(faults, [Page("txn_failure_spike", "site", "s-1", ts(30))], SITES, until=ts(200))
    assert (card.by_fault["issuer_outage"].detected, card.ok) == (1, True)
    down = score(faults, [Page("site_down", "site", "s-1", ts(30))], SITES, until=ts(200))
    assert down.by_fault["issuer_outage"].missed == 1
    assert len(down.false_pages) == 1


def _devices() -> list[Device]:
    return [
        Device(
            tid,
            "gw-1",
            tid,
            "s-1",
            "M-s-1",
            OSLO,
            STORE_TYPES["convenience"],
            "lakala-bj",
            random.Random(i),
        )
        for i, tid in enumerate(("pp-1", "pp-2"))
    ]


def test_shortfall_cases_are_scored_a_duplicated_refund_detected_an_unsettled_batch_false(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "c.sqlite")
    with store.transaction() as conn:
        upsert_rows(conn, "regions", [{"region_id": "north"}])
        upsert_rows(conn, "sites", [{"site_id": "s-1", "region_id": "north", "tz": "Europe/Oslo"}])
        upsert_rows(conn, "gateways", [{"gateway_id": "gw-1", "site_id": "s-1", "region_id": "north"}])  # fmt: skip
        upsert_rows(
            conn,
            "terminals",
            [{"terminal_id": t, "gateway_id": "gw-1", "site_id": "s-1", "region_id": "north"}
             for t in ("pp-1", "pp-2")],
        )  # fmt: skip
    devices = _devices()
    t = datetime(2026, 11, 20, 0, 0, tzinfo=OSLO).astimezone(UTC)
    with store.transaction() as conn:
        for _ in range(48):  # two business days, 2026-11-20 and -21
            rows = []
            for d in devices:
                w = d.window(t, t + timedelta(hours=1), 3.0, historical=True)
                assert w is not None
                rows.append(TxnAggregate("gw-1", d.device_id, t + timedelta(hours=1), w))
            write_transactions(conn, rows)
            t += timedelta(hours=1)
    day1 = [b for d in devices for b in d.batches if b.business_day.isoformat() == "2026-11-20"]
    day2 = [b for d in devices for b in d.batches if b.business_day.isoformat() == "2026-11-21"]
    assert len(day1) == len(day2) == 2
    admin = Actor("scenario", Role.ADMIN)
    conn = sqlite3.connect(tmp_path / "c.sqlite")
    # Day 1 settled as closed, except pp-2's refund booked twice; day 2 settles only pp-1.
    opened = ts(0)
    r1 = import_settlement(conn, settlement_csv(settlement_rows(day1, {"pp-2"})),
                           name="d1.csv", actor=admin, now=opened)  # fmt: skip
    r2 = import_settlement(conn, settlement_csv(settlement_rows([day2[0]])),
                           name="d2.csv", actor=admin, now=opened)  # fmt: skip
    conn.close()
    assert (r1.opened, r2.opened) == ({"mismatch": 1}, {"missing_in_settlement": 1})
    cases = read_cases(tmp_path / "c.sqlite")
    assert sorted((p.kind, p.subject_id) for p in cases) == [
        ("shortfall_mismatch", f"pp-2/{day1[1].batch_id}"),
        ("shortfall_missing_in_settlement", f"pp-2/{day2[1].batch_id}"),
    ]
    truth = [{"fault": "duplicated_refund", "subject_type": "batch",
              "subject_id": f"pp-2/{day1[1].batch_id}", "start": ts(-1).isoformat(),
              "end": ts(1).isoformat(), "expect_alert": "shortfall_mismatch"}]  # fmt: skip
    card = score(pair_truth(truth), cases, SITES, until=ts(60))
    assert card.by_fault["duplicated_refund"].detected == 1
    assert [p.kind for p in card.false_pages] == ["shortfall_missing_in_settlement"]
    assert not card.ok
