"""A snoozed alert does not climb the escalation tiers until its time, then resumes by itself:
the listener reads the snooze the console wrote, on each engine (``store_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from collector.actions import Actor, Role, snooze_alert
from collector.model import Liveness
from collector.store import db

from .store import Harness, add_site, open_store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BOB = Actor("bob", Role.OPERATOR)


@pytest.fixture
def conn(store_url: str) -> Iterator[db.Connection]:
    c = open_store(store_url)
    add_site(c, "solo", ["gw0", "gw1"])
    try:
        yield c
    finally:
        c.close()


def escalations(h: Harness, alert_id: int) -> list[str]:
    """The escalation events the webhook notifier would send (collector's own rows)."""
    return [
        r[0]
        for r in h.rows(
            "SELECT note FROM alert_events WHERE alert_id = ? AND actor = 'collector' "
            "AND note LIKE 'escalation%' ORDER BY id",
            alert_id,
        )
    ]


def test_a_snoozed_alert_does_not_escalate_until_its_time_then_resumes(
    conn: db.Connection,
) -> None:
    h = Harness(conn, T0, escalation_after_s=[300, 600], poll_actions_s=5)
    h.gateway("gw0", Liveness.DOWN)
    h.advance(61)
    (alert_id,) = h.rows("SELECT id FROM alerts WHERE state = 'firing'")[0]
    until = h.now + timedelta(minutes=30)
    snooze_alert(conn, BOB, int(alert_id), until, h.now, "merchant closed until 10:00")
    # Unsnoozed it would be at level 3 after 600 s; snoozed it stays at 1 for 30 minutes.
    h.advance(30 * 60 - 10, step=10)
    assert h.rows("SELECT escalation FROM alerts WHERE id = ?", alert_id) == [(1,)]
    assert escalations(h, int(alert_id)) == []
    # A restart reads the snooze back from the store: still no climb.
    h.restart()
    h.advance(5, step=5)
    assert h.rows("SELECT escalation FROM alerts WHERE id = ?", alert_id) == [(1,)]
    # The snooze ends: the climb resumes as if paged then (next tier after the first delay).
    h.advance(5 + 290, step=10)
    assert h.rows("SELECT escalation FROM alerts WHERE id = ?", alert_id) == [(1,)]
    h.advance(20, step=10)
    assert h.rows("SELECT escalation FROM alerts WHERE id = ?", alert_id) == [(2,)]
    assert escalations(h, int(alert_id)) == ["escalation 1 -> 2"]
    h.advance(300, step=10)
    assert escalations(h, int(alert_id)) == ["escalation 1 -> 2", "escalation 2 -> 3"]


def test_an_unsnoozed_alert_climbs_in_the_same_time(conn: db.Connection) -> None:
    """The control case of the test above: the same timeline without the snooze escalates."""
    h = Harness(conn, T0, escalation_after_s=[300, 600], poll_actions_s=5)
    h.gateway("gw0", Liveness.DOWN)
    h.advance(61)
    (alert_id,) = h.rows("SELECT id FROM alerts WHERE state = 'firing'")[0]
    h.advance(30 * 60 - 10, step=10)
    assert escalations(h, int(alert_id)) == ["escalation 1 -> 2", "escalation 2 -> 3"]
