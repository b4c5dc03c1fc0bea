"""Availability, MTTR and MTBF from incidents, excluding planned time."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from collector.sla import Incident, by_group, reliability

from .store import open_store

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY1 = DAY0 + timedelta(days=1)


def inc(sid: str, start_h: float, end_h: float | None, cls: str = "fault", **kw: str) -> Incident:
    end = DAY0 + timedelta(hours=end_h) if end_h is not None else None
    return Incident("terminal", sid, DAY0 + timedelta(hours=start_h), end, cls, **kw)


def test_one_two_hour_fault_in_a_day_is_about_91_7_percent_available() -> None:
    r = reliability([inc("t1", 10, 12)], DAY0, DAY1)
    assert r.downtime_s == 7200
    assert r.availability == pytest.approx(1 - 2 / 24)
    assert r.mttr_s == 7200
    assert r.mtbf_s == 22 * 3600
    assert r.failures == r.repairs == 1


def test_planned_time_is_removed_from_the_period_and_from_overlapping_faults() -> None:
    incidents = [inc("t1", 10, 14, "planned"), inc("t1", 13, 16)]  # fault runs 1 h into it
    r = reliability(incidents, DAY0, DAY1)
    assert r.excluded_s == 4 * 3600
    assert r.downtime_s == 2 * 3600  # 14:00-16:00 only
    assert r.availability == pytest.approx(1 - 2 / 20)


def test_population_counts_subjects_without_incidents_as_fully_up() -> None:
    r = reliability([inc("t1", 0, 12)], DAY0, DAY1, population=4)
    assert r.availability == pytest.approx(1 - 12 / 96)


def test_open_incident_runs_until_now_and_incidents_are_clipped_to_the_period() -> None:
    now = DAY0 + timedelta(hours=20)
    r = reliability([inc("t1", -5, 2), inc("t2", 18, None)], DAY0, DAY1, now=now, population=2)
    assert r.downtime_s == (2 + 2) * 3600
    assert r.failures == 1  # t1's started before the period
    assert r.repairs == 1
    assert r.mttr_s == 7 * 3600  # a repair is measured whole


def test_overlapping_rows_for_one_subject_are_not_counted_twice() -> None:
    r = reliability([inc("t1", 1, 3), inc("t1", 2, 4)], DAY0, DAY1)
    assert r.downtime_s == 3 * 3600


def test_by_region_and_model_group_incidents_and_report_quiet_groups() -> None:
    incidents = [
        inc("t1", 0, 6, region_id="north", model="P400"),
        inc("t2", 0, 12, region_id="south", model="A920"),
    ]
    regions = by_group(
        incidents, DAY0, DAY1, "region", population={"north": 2, "south": 1, "east": 3}
    )
    assert regions["north"].availability == pytest.approx(1 - 6 / 48)
    assert regions["south"].availability == pytest.approx(0.5)
    assert regions["east"].availability == 1.0
    models = by_group(incidents, DAY0, DAY1, "model")
    assert set(models) == {"P400", "A920"}


def test_incidents_read_from_the_store_feed_the_functions(store_url: str) -> None:
    conn = open_store(store_url)
    try:
        conn.row_factory = sqlite3.Row
        with conn:
            conn.execute(
                "INSERT INTO incidents (subject_type, subject_id, region_id, started_at, "
                "ended_at, class) VALUES ('gateway', 'g1', 'north', "
                "'2026-03-01T06:00:00.000000+00:00', '2026-03-01T07:30:00.000000+00:00', 'fault')"
            )
        rows = [Incident.from_row(dict(r)) for r in conn.execute("SELECT * FROM incidents")]
    finally:
        conn.close()
    assert reliability(rows, DAY0, DAY1).downtime_s == 5400


def test_empty_period_is_refused() -> None:
    with pytest.raises(ValueError, match="empty period"):
        reliability([], DAY1, DAY0)


@pytest.mark.parametrize("seed", range(20))
def test_a_period_split_in_two_and_combined_gives_the_same_figures(seed: int) -> None:
    """How the Overview builds the month: finished days (cached) combined with today."""
    import random

    from collector.sla import combine

    rnd = random.Random(seed)
    incidents = []
    for _ in range(rnd.randint(0, 40)):
        start = rnd.uniform(-10, 70)
        end = None if rnd.random() < 0.2 else start + rnd.uniform(0.01, 20)
        cls = rnd.choice(["fault", "fault", "fault", "planned", "administrative"])
        incidents.append(inc(f"t{rnd.randint(1, 6)}", start, end, cls))
    start, end = DAY0, DAY0 + timedelta(hours=72)
    cut = DAY0 + timedelta(hours=rnd.uniform(1, 71))
    whole = reliability(incidents, start, end, population=8)
    parts = combine(
        reliability(incidents, start, cut, population=8),
        reliability(incidents, cut, end, population=8),
    )
    assert parts.subjects == whole.subjects == 8
    assert parts.failures == whole.failures
    assert parts.repairs == whole.repairs
    for field in ("observed_s", "downtime_s", "excluded_s", "mttr_s", "mtbf_s"):
        got, want = getattr(parts, field), getattr(whole, field)
        assert (got is None) == (want is None), field
        if want is not None:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-6), field
    assert parts.availability == pytest.approx(whole.availability)


@pytest.mark.parametrize("seed", range(20))
def test_a_population_counted_by_first_sighting_gives_the_figures_of_its_subjects(
    seed: int,
) -> None:
    """How the Overview counts the fleet (``dashboard.queries``): cohorts of gateways by first
    sighting, the same figures as one ``Subject`` per gateway."""
    import random
    from collections import Counter

    from collector.sla import Cohort, Subject

    rnd = random.Random(seed)
    start, end = DAY0, DAY0 + timedelta(hours=48)
    sightings = [None, DAY0 - timedelta(days=3), DAY0 + timedelta(hours=5)]
    sightings += [DAY0 + timedelta(hours=rnd.uniform(-30, 60)) for _ in range(3)]
    subjects = [Subject("terminal", f"t{i}", rnd.choice(sightings)) for i in range(30)]
    incidents = []
    for _ in range(rnd.randint(0, 40)):
        at = rnd.uniform(-10, 60)
        until = None if rnd.random() < 0.2 else at + rnd.uniform(0.01, 20)
        cls = rnd.choice(["fault", "fault", "fault", "planned", "administrative"])
        incidents.append(inc(f"t{rnd.randint(0, 29)}", at, until, cls))
    # Outside the population but with an incident: counted as seen at the period's start.
    outsiders = {f"x{i}" for i in range(rnd.randint(0, 3))}
    incidents += [inc(x, rnd.uniform(0, 40), None) for x in outsiders]
    now = DAY0 + timedelta(hours=rnd.uniform(1, 60))
    cohorts = [Cohort(at, n) for at, n in Counter(s.observed_from for s in subjects).items()]
    if outsiders:
        cohorts.append(Cohort(start, len(outsiders)))

    want = reliability(incidents, start, end, subjects=subjects, now=now)
    got = reliability(incidents, start, end, cohorts=cohorts, now=now)

    assert got.subjects == want.subjects == 30 + len(outsiders)
    assert (got.downtime_s, got.excluded_s) == (want.downtime_s, want.excluded_s)
    assert (got.failures, got.repairs, got.mttr_s) == (want.failures, want.repairs, want.mttr_s)
    assert got.observed_s == pytest.approx(want.observed_s, rel=1e-12)
    assert got.availability == pytest.approx(want.availability, rel=1e-12)
