"""Suspending a subject that is down splits its outage: fault until the suspension,
administrative (excluded from the SLA) from it; unsuspending while still down turns it
back into a fault from then. On a real store of each engine, through the operators' action."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from collector.actions import Actor, Role, set_suspended
from collector.store import db
from collector.store.migrate import ensure_schema
from collector.store.times import to_db

OLGA = Actor("olga", Role.OPERATOR)
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def conn(store_url: str) -> Iterator[db.Connection]:
    c = db.connect(store_url)
    ensure_schema(c)
    with c:
        c.execute(
            "INSERT INTO gateways (gateway_id, site_id, region_id, model, status, status_since) "
            "VALUES ('gw-1', 's-1', 'north', 'RT-20', 'down', ?), "
            "('gw-2', 's-1', 'north', 'RT-20', 'online', ?)",
            (to_db(T0), to_db(T0)),
        )
        c.execute(
            "INSERT INTO incidents (subject_type, subject_id, site_id, region_id, model, "
            "started_at, class, detected_by) VALUES ('gateway', 'gw-1', 's-1', 'north', "
            "'RT-20', ?, 'fault', 'will')",
            (to_db(T0),),
        )
    try:
        yield c
    finally:
        c.close()


def _incidents(conn: db.Connection, gw: str) -> list[tuple[str, str, str | None]]:
    return conn.execute(
        "SELECT class, started_at, ended_at FROM incidents WHERE subject_id = ? ORDER BY id",
        (gw,),
    ).fetchall()


def test_suspending_a_down_gateway_ends_its_fault_and_opens_an_administrative_incident(
    conn: db.Connection,
) -> None:
    at = T0 + timedelta(minutes=10)
    set_suspended(conn, OLGA, "gateway", "gw-1", True, "unpaid fees", at)
    assert _incidents(conn, "gw-1") == [
        ("fault", to_db(T0), to_db(at)),
        ("administrative", to_db(at), None),
    ]


def test_unsuspending_a_gateway_still_down_turns_the_outage_back_into_a_fault(
    conn: db.Connection,
) -> None:
    first, then = T0 + timedelta(minutes=10), T0 + timedelta(minutes=70)
    set_suspended(conn, OLGA, "gateway", "gw-1", True, "unpaid fees", first)
    set_suspended(conn, OLGA, "gateway", "gw-1", False, "", then)
    assert _incidents(conn, "gw-1") == [
        ("fault", to_db(T0), to_db(first)),
        ("administrative", to_db(first), to_db(then)),
        ("fault", to_db(then), None),
    ]


def test_suspending_a_gateway_that_is_up_opens_no_incident(conn: db.Connection) -> None:
    set_suspended(conn, OLGA, "gateway", "gw-2", True, "unpaid fees", T0)
    set_suspended(conn, OLGA, "gateway", "gw-2", False, "", T0 + timedelta(hours=1))
    assert _incidents(conn, "gw-2") == []
