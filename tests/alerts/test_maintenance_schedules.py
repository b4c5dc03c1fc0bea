"""Maintenance schedules per task type in the alert engine, on each engine (``store_url``):
what they raise, what a task's service clears, and that overdue maintenance never pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from collector.actions import Actor, Role, record_service, set_schedule
from collector.model import Liveness
from collector.store import db

from .store import Harness, add_site, open_store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = Actor("ada", Role.ADMIN)


@pytest.fixture
def conn(store_url: str) -> Iterator[db.Connection]:
    c = open_store(store_url)
    add_site(c, "store", ["gw0"])
    with c:
        c.executemany(
            "INSERT INTO terminals (terminal_id, gateway_id, site_id, region_id, model, "
            "install_date, receipts_printed) VALUES (?, 'gw0', 'store', 'north', 'P400', "
            "'2026-02-01T00:00:00.000000+00:00', ?)",
            [("t1", 52_000), ("t2", 1_000)],
        )
    try:
        yield c
    finally:
        c.close()


def test_a_printer_schedule_by_receipts_raises_overdue_and_a_printer_service_clears_it(
    conn: db.Connection,
) -> None:
    set_schedule(
        conn, ADMIN, task_type="printer", scope_type="model", scope_id="P400",
        usage_metric="receipts", usage_limit=50_000, now=T0,
    )  # fmt: skip
    h = Harness(conn, T0, maintenance_chunk=10, poll_maintenance_s=5)
    h.advance(6)
    assert h.paging() == [("maintenance_overdue", "t1")]
    (summary,) = h.rows("SELECT summary FROM alerts WHERE subject_id = 't1'")[0]
    assert summary == "Terminal t1 (site store) maintenance overdue: printer: receipts"
    # A cleaning visit is not a printer service: still overdue.
    record_service(
        conn, Actor("tech", Role.OPERATOR), subject_type="terminal", subject_id="t1",
        work="wiped", now=h.now, task_type="cleaning",
    )  # fmt: skip
    h.advance(6)
    assert h.paging() == [("maintenance_overdue", "t1")]
    record_service(
        conn, Actor("tech", Role.OPERATOR), subject_type="terminal", subject_id="t1",
        work="new print head", now=h.now, task_type="printer",
    )  # fmt: skip
    h.advance(6)
    assert h.paging() == []
    assert h.rows(
        "SELECT task_type, receipts_at FROM maintenance_done WHERE subject_id = 't1' "
        "ORDER BY task_type"
    ) == [("cleaning", 52_000), ("printer", 52_000)]


def test_a_store_schedule_wins_over_its_models_for_the_same_task(conn: db.Connection) -> None:
    # Model-wide: cleaning every 6 months (nothing due a month after install); this store:
    # every 2 weeks (a dusty market stall), so both its terminals are overdue.
    set_schedule(
        conn, ADMIN, task_type="cleaning", scope_type="model", scope_id="P400",
        every_n=6, every_unit="months", now=T0,
    )  # fmt: skip
    h = Harness(conn, T0, maintenance_chunk=10, poll_maintenance_s=5)
    h.advance(6)
    assert h.paging() == []
    set_schedule(
        conn, ADMIN, task_type="cleaning", scope_type="site", scope_id="store",
        every_n=2, every_unit="weeks", now=T0,
    )  # fmt: skip
    h.advance(40)  # the policy poll (30 s) reloads schedules
    assert sorted(h.paging()) == [("maintenance_overdue", "t1"), ("maintenance_overdue", "t2")]


def test_overdue_maintenance_never_escalates_so_it_pages_no_supervisor(
    conn: db.Connection,
) -> None:
    set_schedule(
        conn, ADMIN, task_type="inspection", scope_type="region", scope_id="north",
        every_n=7, every_unit="days", now=T0,
    )  # fmt: skip
    h = Harness(conn, T0, maintenance_chunk=10, poll_maintenance_s=5, escalation_after_s=[10, 20])
    h.advance(60)
    assert sorted(h.paging()) == [("maintenance_overdue", "t1"), ("maintenance_overdue", "t2")]
    # Alertmanager sends escalation >= 2 to the supervisors' pager: planning work stays at 1.
    assert h.rows("SELECT DISTINCT escalation FROM alerts") == [(1,)]
    h.gateway("gw0", Liveness.DOWN)  # an outage does climb
    h.advance(120)
    assert h.rows(
        "SELECT kind, escalation FROM alerts WHERE state = 'firing' AND kind != ?",
        "maintenance_overdue",
    ) == [("site_down", 3)]
    assert h.rows("SELECT DISTINCT escalation FROM alerts WHERE kind = 'maintenance_overdue'") == [
        (1,)
    ]
