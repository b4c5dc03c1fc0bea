"""Maintenance windows and suspension with a fake clock."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from collector.alerts.model import AlertState, Blocker, Kind, Place
from collector.alerts.windows import Window
from collector.model import Liveness, SubjectType

from .helpers import T0, Sim, site_engine


def window(scope: str, sid: str, start: datetime, minutes: float, **kw: object) -> Window:
    return Window(1, scope, sid, start, start + timedelta(minutes=minutes), **kw)  # type: ignore[arg-type]


def test_weekly_window_follows_the_sites_local_time_across_dst() -> None:
    # Sundays 02:00-03:00 Europe/Paris: 01:00 UTC in winter, 00:00 UTC in summer.
    w = Window(
        7,
        "site",
        "s1",
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 1, tzinfo=UTC),
        recurrence="0 2 * * 0",
        duration_s=3600,
        tz="Europe/Paris",
    )
    winter = datetime(2026, 1, 4, 1, 30, tzinfo=UTC)  # Sunday
    summer = datetime(2026, 7, 5, 0, 30, tzinfo=UTC)  # Sunday
    assert w.active(winter)
    assert not w.active(winter + timedelta(hours=1))
    assert w.active(summer)
    assert not w.active(summer + timedelta(hours=1))
    assert not w.active(datetime(2026, 7, 6, 0, 30, tzinfo=UTC))  # Monday


def test_recurring_window_does_not_apply_before_its_first_start() -> None:
    w = Window(
        1,
        "site",
        "s1",
        datetime(2026, 6, 1, tzinfo=UTC),
        datetime(2026, 6, 1, 1, tzinfo=UTC),
        recurrence="0 0 * * *",
        duration_s=3600,
    )
    assert not w.active(datetime(2026, 5, 31, 0, 30, tzinfo=UTC))
    assert w.active(datetime(2026, 6, 3, 0, 30, tzinfo=UTC))


def test_ended_early_window_stops_at_once_and_for_later_occurrences() -> None:
    start = datetime(2026, 6, 1, tzinfo=UTC)
    w = Window(
        1,
        "gateway",
        "g",
        start,
        start + timedelta(hours=1),
        recurrence="0 0 * * *",
        duration_s=3600,
        ended_early_at=start + timedelta(minutes=10),
    )
    assert w.active(start + timedelta(minutes=5))
    assert not w.active(start + timedelta(minutes=10))
    assert not w.active(start + timedelta(days=1, minutes=5))


@pytest.mark.parametrize(
    ("scope", "sid", "covered"),
    [
        ("terminal", "t1", True),
        ("terminal", "t2", False),
        ("gateway", "gw1", True),
        ("site", "s1", True),
        ("region", "north", True),
        ("region", "south", False),
        ("model", "P400", True),
        ("model", "R1", False),
    ],
)
def test_window_scope_matches_the_terminal_through_its_gateway_site_region_model(
    scope: str, sid: str, covered: bool
) -> None:
    place = Place("north", "s1", "gw1", "t1", "P400")
    w = window(scope, sid, T0, 60)
    assert w.covers(SubjectType.TERMINAL, "t1", place) is covered


def sim_with_window(w: Window) -> Sim:
    engine = site_engine({"s1": ["gw1", "gw2"]}, {"gw1": ["t1"]})
    engine.calendar.replace([w], T0)
    return Sim(engine)


def test_gateway_down_inside_a_window_never_pages_and_is_classed_planned() -> None:
    sim = sim_with_window(window("gateway", "gw1", T0, 30))
    sim.gw("gw1", Liveness.DOWN)
    assert sim.incident_classes == [("gw1", "planned")]
    sim.advance(600, step=5)
    assert sim.pages() == []
    assert sim.state(Kind.GATEWAY_DOWN, "gw1") is AlertState.SUPPRESSED


def test_window_that_ends_with_the_gateway_still_down_fires_once_as_new() -> None:
    sim = sim_with_window(window("gateway", "gw1", T0, 30))
    sim.gw("gw1", Liveness.DOWN)
    old = sim.engine.active[next(iter(sim.engine.active))]
    sim.advance(30 * 60 - 1, step=5)
    assert sim.pages() == []
    sim.advance(3600, step=5)
    assert sim.pages() == [("gateway_down", "gw1")]
    new = sim.engine.active[old.key]
    assert new is not old
    assert old.state is AlertState.RESOLVED
    assert old.fired_at is None
    assert sim.loud_resolves() == []
    assert new.started_at == T0  # "since when" still says when the outage began


def test_window_that_ends_after_the_gateway_came_back_sends_nothing() -> None:
    sim = sim_with_window(window("gateway", "gw1", T0, 30))
    sim.gw("gw1", Liveness.DOWN)
    sim.advance(600, step=5)
    sim.gw("gw1", Liveness.ONLINE)
    sim.advance(3600, step=10)
    assert sim.pages() == []
    assert sim.loud_resolves() == []
    assert sim.engine.active == {}


def test_window_starting_over_a_firing_alert_suppresses_it_and_fires_again_after() -> None:
    engine = site_engine({"s1": ["gw1", "gw2"]})
    sim = Sim(engine)
    sim.gw("gw1", Liveness.DOWN)
    sim.advance(120)
    assert sim.pages() == [("gateway_down", "gw1")]
    engine.calendar.replace([window("site", "s1", sim.now, 10)], sim.now)
    sim.advance(5)
    assert engine.firing() == []
    sim.advance(15 * 60, step=5)
    assert sim.pages() == [("gateway_down", "gw1"), ("gateway_down", "gw1")]


def test_suspended_terminal_and_terminals_of_a_suspended_gateway_never_page() -> None:
    engine = site_engine({"s1": ["gw1", "gw2"]}, {"gw1": ["t1"], "gw2": ["t2"]})
    engine.suspended = {(SubjectType.TERMINAL, "t1"), (SubjectType.GATEWAY, "gw2")}
    sim = Sim(engine)
    sim.term("t1", "gw1", Liveness.ONLINE, Liveness.DOWN)
    sim.term("t2", "gw2", Liveness.ONLINE, Liveness.DOWN)
    sim.advance(600, step=5)
    assert sim.pages() == []
    assert sorted(sim.incident_classes) == [("t1", "administrative"), ("t2", "administrative")]


def test_unsuspending_a_subject_still_down_fires_it_once() -> None:
    engine = site_engine({"s1": ["gw1", "gw2"]})
    engine.suspended = {(SubjectType.GATEWAY, "gw1")}
    sim = Sim(engine)
    sim.gw("gw1", Liveness.DOWN)
    sim.advance(300, step=5)
    engine.suspended = set()
    sim.advance(300, step=5)
    assert sim.pages() == [("gateway_down", "gw1")]


def test_terminal_in_a_window_is_classed_planned_even_when_its_gateway_inhibits_it() -> None:
    engine = site_engine({"s1": ["gw1", "gw2"]}, {"gw1": ["t1"]})
    engine.calendar.replace([window("terminal", "t1", T0, 60)], T0)
    sim = Sim(engine)
    sim.gw("gw1", Liveness.DOWN)
    sim.term("t1", "gw1", Liveness.ONLINE, Liveness.DOWN)
    alert = engine.active[next(k for k in engine.active if k.subject_id == "t1")]
    assert alert.blocker is Blocker.INHIBITED
    assert sim.incident_classes == [("t1", "planned")]


def test_upcoming_is_the_current_occurrence_else_the_next_and_none_once_over() -> None:
    daily = Window(
        1, "site", "s1", datetime(2026, 6, 1, 5, tzinfo=UTC), datetime(2026, 6, 1, 7, tzinfo=UTC),
        recurrence="0 2 * * *", tz="Asia/Shanghai",
    )  # fmt: skip
    # Before the series opens: its first cron start after it (02:00 Shanghai = 18:00 UTC).
    first = (datetime(2026, 6, 1, 18, tzinfo=UTC), datetime(2026, 6, 1, 20, tzinfo=UTC))
    assert daily.upcoming(datetime(2026, 5, 1, tzinfo=UTC)) == first
    assert daily.upcoming(datetime(2026, 6, 1, 18, tzinfo=UTC)) == first  # a start counts
    assert daily.upcoming(datetime(2026, 6, 1, 19, 59, tzinfo=UTC)) == first  # running
    assert daily.upcoming(datetime(2026, 6, 1, 20, tzinfo=UTC)) == (
        first[0] + timedelta(days=1),
        first[1] + timedelta(days=1),
    )
    ended = dataclasses.replace(daily, ended_early_at=first[1])
    assert ended.upcoming(first[1]) is None
    once = window("site", "s1", datetime(2026, 6, 1, 5, tzinfo=UTC), 60)
    assert once.upcoming(datetime(2026, 6, 1, 4, tzinfo=UTC)) == (once.starts_at, once.ends_at)
    assert once.upcoming(once.ends_at) is None
