"""Flapping collapses N down/up changes into one alert, then resolves after quiet."""

from __future__ import annotations

from datetime import timedelta

from collector.alerts.model import AlertState, Kind
from collector.model import Liveness

from .helpers import Sim, site_engine


def flap(sim: Sim, gw: str, times: int, down_s: float, up_s: float) -> None:
    for _ in range(times):
        sim.gw(gw, Liveness.DOWN)
        sim.advance(down_s)
        sim.gw(gw, Liveness.ONLINE)
        sim.advance(up_s)


def test_gateway_bouncing_with_long_outages_pages_one_flapping_alert() -> None:
    sim = Sim(site_engine({"s1": ["gw1", "gw2"]}, flap_window_s=1800, pending_gateway_down_s=60))
    # Outages longer than pending_for: without flap detection each one would page.
    flap(sim, "gw1", times=10, down_s=70, up_s=30)
    # Changes 1-6 are three outages that each paged; the 7th change (> 5 in the window)
    # turns the subject into one flapping alert and nothing more pages.
    down = ("gateway_down", "gw1")
    assert sim.pages() == [down, down, down, ("flapping", "gw1")]
    assert sim.state(Kind.FLAPPING, "gw1") is AlertState.FIRING


def test_down_alerts_are_suppressed_while_flapping() -> None:
    sim = Sim(site_engine({"s1": ["gw1", "gw2"]}, flap_window_s=1800))
    flap(sim, "gw1", times=3, down_s=5, up_s=5)
    sim.gw("gw1", Liveness.DOWN)
    sim.advance(300, step=5)
    assert sim.pages() == [("flapping", "gw1")]
    assert sim.state(Kind.GATEWAY_DOWN, "gw1") is AlertState.SUPPRESSED


def test_flapping_resolves_after_a_quiet_period_and_a_still_down_subject_fires_once() -> None:
    sim = Sim(site_engine({"s1": ["gw1", "gw2"]}, flap_quiet_s=900))
    flap(sim, "gw1", times=3, down_s=5, up_s=5)
    sim.gw("gw1", Liveness.DOWN)
    sim.advance(899)
    assert sim.state(Kind.FLAPPING, "gw1") is AlertState.FIRING
    sim.advance(1)
    assert sim.state(Kind.FLAPPING, "gw1") is None
    assert sim.loud_resolves() == [("flapping", "gw1")]
    sim.advance(120)
    assert sim.pages() == [("flapping", "gw1"), ("gateway_down", "gw1")]


def test_flapping_that_settles_online_resolves_without_a_down_page() -> None:
    sim = Sim(site_engine({"s1": ["gw1", "gw2"]}))
    flap(sim, "gw1", times=4, down_s=5, up_s=5)
    sim.advance(2000, step=10)
    assert sim.pages() == [("flapping", "gw1")]
    assert sim.engine.active == {}
    assert len(sim.engine.flaps) == 0  # memory released


def test_a_few_changes_spread_beyond_the_window_are_not_flapping() -> None:
    sim = Sim(site_engine({"s1": ["gw1", "gw2"]}, flap_window_s=600))
    for _ in range(5):
        flap(sim, "gw1", times=1, down_s=5, up_s=400)
    assert sim.pages() == []


def test_collector_restart_keeps_flapping_until_quiet_counted_from_the_last_change() -> None:
    sim = Sim(site_engine({"s1": ["gw1", "gw2"]}, flap_quiet_s=900))
    flap(sim, "gw1", times=4, down_s=5, up_s=5)  # flapping fires on the 6th change
    sim.gw("gw1", Liveness.DOWN)
    last_change = sim.now
    sim.advance(300)
    saved = list(sim.engine.active.values())

    restarted = Sim(site_engine({"s1": ["gw1", "gw2"]}, flap_quiet_s=900), start=sim.now)
    restarted.engine.topology.status["gw1"] = Liveness.DOWN
    restarted.engine.load(saved)
    restarted.advance(599)
    assert restarted.loud_resolves() == []  # not resolved just because the detector is new
    restarted.advance(1)
    assert restarted.now - last_change == timedelta(seconds=900)
    assert restarted.loud_resolves() == [("flapping", "gw1")]


def test_a_flapping_gateway_whose_terminals_flap_with_it_pages_once() -> None:
    sim = Sim(site_engine({"s1": ["gw1", "gw2"]}, {"gw1": ["t1", "t2", "t3"]}))
    for _ in range(6):
        sim.gw("gw1", Liveness.DOWN)
        for t in ("t1", "t2", "t3"):
            sim.term(t, "gw1", Liveness.ONLINE, Liveness.DOWN)
        sim.advance(100)
        sim.gw("gw1", Liveness.ONLINE)
        for t in ("t1", "t2", "t3"):
            sim.term(t, "gw1", Liveness.DOWN, Liveness.ONLINE)
        sim.advance(20)
    sim.advance(300, step=5)
    flaps = [p for p in sim.pages() if p[0] == "flapping"]
    assert flaps == [("flapping", "gw1")]
    assert [p for p in sim.pages() if p[1].startswith("t")] == []


def test_a_repeated_down_evidence_is_not_a_flap() -> None:
    from collector.model import DetectedBy, SubjectType, Transition

    sim = Sim(site_engine({"s1": ["gw1", "gw2"]}, flap_changes=2))
    sim.gw("gw1", Liveness.DOWN)
    for _ in range(5):
        sim.transition(
            Transition(
                SubjectType.GATEWAY,
                "gw1",
                Liveness.DOWN,
                Liveness.DOWN,
                sim.now,
                DetectedBy.DEADLINE,
            )
        )
    sim.advance(120)
    assert sim.pages() == [("gateway_down", "gw1")]
