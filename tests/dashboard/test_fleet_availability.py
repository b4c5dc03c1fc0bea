"""The Overview's availability: the fleet counted by first sighting in SQL gives the figures
of the per-gateway rule (``collector.sla`` with one ``Subject`` per gateway), on a store with
gateways first seen inside the period, never seen, and decommissioned with an incident; on
both engines."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from collector import sla
from collector.store import db
from collector.store.times import from_db, to_db
from dashboard import queries
from dashboard.queries_ops import day_start, month_start
from simulators.stack.seeded_store import NOW


def reference(conn: db.Connection, start: datetime, end: datetime) -> sla.Reliability:
    """The rule as written down (docs/dashboard.md), read with plain queries: every
    registered, not decommissioned gateway, observed from its first state change."""
    first: dict[str, datetime] = {}
    for gw, at in conn.execute(
        "SELECT subject_id, at FROM state_changes WHERE subject_type = 'gateway'"
    ).fetchall():
        first[gw] = min(first.get(gw, from_db(at)), from_db(at))
    subjects = [
        sla.Subject("gateway", gw, first.get(gw))
        for gw, registered, decommissioned in conn.execute(
            "SELECT gateway_id, registered, decommissioned FROM gateways"
        ).fetchall()
        if registered == 1 and decommissioned == 0
    ]
    incidents = [
        sla.Incident("gateway", sid, from_db(s), from_db(e) if e else None, cls)
        for sid, s, e, cls in conn.execute(
            "SELECT subject_id, started_at, ended_at, class FROM incidents "
            "WHERE subject_type = 'gateway'"
        ).fetchall()
        if from_db(s) < end and (e is None or from_db(e) > start)
    ]
    return sla.reliability(incidents, start, end, subjects=subjects)


def edit_fleet(path: object) -> tuple[str, str, str]:
    """A gateway first seen yesterday, one never seen, one decommissioned with an outage."""
    conn = db.connect(str(path))
    try:
        with conn:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT gateway_id FROM gateways WHERE decommissioned = 0 "
                    "ORDER BY gateway_id LIMIT 3"
                ).fetchall()
            ]
            new, unseen, gone = ids
            for gw in (new, unseen):
                conn.execute(
                    "DELETE FROM state_changes WHERE subject_type = 'gateway' AND subject_id = ?",
                    (gw,),
                )
            conn.execute(
                "INSERT INTO state_changes (subject_type, subject_id, from_status, to_status, "
                "at, reason) VALUES ('gateway', ?, 'unknown', 'online', ?, 'birth')",
                (new, to_db(NOW - timedelta(hours=30))),
            )
            conn.execute("UPDATE gateways SET decommissioned = 1 WHERE gateway_id = ?", (gone,))
            conn.execute(
                "INSERT INTO incidents (subject_type, subject_id, started_at, ended_at, class) "
                "VALUES ('gateway', ?, ?, ?, 'fault')",
                (gone, to_db(NOW - timedelta(hours=3)), to_db(NOW - timedelta(hours=2))),
            )
    finally:
        conn.close()
    return new, unseen, gone


PERIODS = {
    "today": (day_start(NOW), NOW),
    "the month's finished days": (month_start(NOW), day_start(NOW)),
    "two days": (NOW - timedelta(days=2), NOW),
    "before the fleet existed": (NOW - timedelta(days=60), NOW),
}


@pytest.mark.parametrize("period", list(PERIODS))
def test_the_fleet_counted_by_first_sighting_has_the_figures_of_each_gateway_counted(
    fleet, period: str
) -> None:
    edit_fleet(fleet.path)
    start, end = PERIODS[period]
    with queries.open_ro(str(fleet.path)) as conn:
        got = queries.fleet_reliability(conn, start, end)
        want = reference(conn, start, end)
    assert got.subjects == want.subjects
    assert (got.downtime_s, got.excluded_s) == (want.downtime_s, want.excluded_s)
    assert (got.failures, got.repairs, got.mttr_s) == (want.failures, want.repairs, want.mttr_s)
    assert got.observed_s == pytest.approx(want.observed_s, rel=1e-12)
    assert queries.availability_text(got.availability or 0, got.downtime_s) == (
        queries.availability_text(want.availability or 0, want.downtime_s)
    )


def test_a_decommissioned_gateway_with_an_outage_today_is_counted_today(fleet) -> None:
    start, end = PERIODS["today"]
    with queries.open_ro(str(fleet.path)) as conn:
        before = queries.fleet_reliability(conn, start, end)
    edit_fleet(fleet.path)
    with queries.open_ro(str(fleet.path)) as conn:
        after = queries.fleet_reliability(conn, start, end)
    # Decommissioned (one fewer in the fleet) but its outage today keeps it counted.
    assert after.subjects == before.subjects
    assert after.downtime_s == pytest.approx(before.downtime_s + 3600)


def test_the_fleet_figure_builds_no_object_per_gateway(fleet, monkeypatch) -> None:
    """At 100,000 terminals one ``Subject`` per gateway was 25,000 objects on every cold read
    of the Overview (0.1 s); the figure needs only the counts by first sighting."""
    built: list[object] = []

    class Counted(sla.Subject):
        __slots__ = ()

        def __init__(self, *args: object, **kwargs: object) -> None:
            built.append(args)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sla, "Subject", Counted)
    start, end = PERIODS["today"]
    with queries.open_ro(str(fleet.path)) as conn:
        figures = queries.fleet_reliability(conn, start, end)
    assert figures.subjects > 0
    assert built == []
