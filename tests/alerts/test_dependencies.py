"""Site down, gateway -> terminal inhibition, consistent child resolution."""

from __future__ import annotations

from datetime import timedelta

from collector.alerts.model import AlertState, Key, Kind
from collector.model import DetectedBy, Liveness, SubjectType, Transition

from .helpers import Sim, site_engine

GWS = [f"gw{i:02d}" for i in range(20)]


def test_site_whose_router_dies_pages_once_even_with_wills_spread_over_45_s() -> None:
    sim = Sim(site_engine({"store": GWS, "other": ["gwx"]}))
    for gw in GWS:  # wills trickle in over 1.5 x a 30 s keepalive
        sim.gw(gw, Liveness.DOWN)
        sim.advance(2.3)
    sim.advance(600, step=5)
    assert sim.pages() == [("site_down", "store")]
    for gw in GWS:
        assert sim.state(Kind.GATEWAY_DOWN, gw) is AlertState.SUPPRESSED
    site_alert = sim.engine.active[next(k for k in sim.engine.active if k.kind is Kind.SITE_DOWN)]
    assert all(
        a.inhibited_by == site_alert.key
        for a in sim.engine.active.values()
        if a.key.kind is Kind.GATEWAY_DOWN
    )
    assert [a.key.kind for a in sim.engine.firing()] == [Kind.SITE_DOWN]


def test_site_recovery_resolves_children_silently_and_fires_only_the_one_still_down() -> None:
    sim = Sim(site_engine({"store": GWS}))
    for gw in GWS:
        sim.gw(gw, Liveness.DOWN)
    sim.advance(120)
    for gw in GWS[:-1]:  # the router is back: gateways reconnect over 20 s, one never does
        sim.gw(gw, Liveness.ONLINE)
        sim.advance(1)
    sim.advance(300, step=5)
    assert sim.loud_resolves() == [("site_down", "store")]
    assert sim.pages() == [("site_down", "store"), ("gateway_down", GWS[-1])]
    assert set(sim.engine.active) == {
        k for k in sim.engine.active if k.kind is Kind.GATEWAY_DOWN and k.subject_id == GWS[-1]
    }
    # No orphan: every row that was ever opened is now resolved or is the one firing alert.
    opened = {s for k, s, f, to, _ in sim.events if f == "none" and k == "gateway_down"}
    assert opened == set(GWS)


def test_site_blip_shorter_than_its_pending_for_pages_nobody() -> None:
    sim = Sim(site_engine({"store": GWS[:4]}))
    for gw in GWS[:4]:
        sim.gw(gw, Liveness.DOWN)
    sim.advance(10)
    for gw in GWS[:4]:
        sim.gw(gw, Liveness.ONLINE)
        sim.advance(3)
    sim.advance(600, step=10)
    assert sim.pages() == []
    assert sim.engine.active == {}


def test_site_state_changes_are_emitted_for_down_and_back() -> None:
    sim = Sim(site_engine({"store": ["a", "b"]}))
    changes = []
    for gw, to in (("a", Liveness.DOWN), ("b", Liveness.DOWN), ("a", Liveness.ONLINE)):
        frm = sim.engine.topology.status[gw]
        sim.engine.apply_transition(
            Transition(SubjectType.GATEWAY, gw, frm, to, sim.now, DetectedBy.WILL)
        )
        changes.extend((c.site_id, c.down) for c in sim.engine.drain().site_changes)
    assert changes == [("store", True), ("store", False)]


def test_terminal_alerts_behind_a_gateway_that_goes_down_never_page() -> None:
    sim = Sim(site_engine({"s1": ["gw1", "gw2"]}, {"gw1": ["t1", "t2", "t3"]}))
    # Terminal deadlines may expire before the gateway's will arrives.
    sim.term("t1", "gw1", Liveness.ONLINE, Liveness.DOWN)
    sim.advance(20)
    sim.gw("gw1", Liveness.DOWN)
    sim.term("t2", "gw1", Liveness.ONLINE, Liveness.DOWN)
    sim.advance(30)
    sim.term("t3", "gw1", Liveness.ONLINE, Liveness.DOWN)
    sim.advance(600, step=5)
    assert sim.pages() == [("gateway_down", "gw1")]
    for t in ("t1", "t2", "t3"):
        assert sim.state(Kind.TERMINAL_DOWN, t) is AlertState.SUPPRESSED


def test_terminal_down_behind_a_live_gateway_pages() -> None:
    sim = Sim(site_engine({"s1": ["gw1"]}, {"gw1": ["t1", "t2"]}))
    sim.term("t1", "gw1", Liveness.ONLINE, Liveness.DOWN)
    sim.advance(120)
    assert sim.pages() == [("terminal_down", "t1")]


def test_gateway_recovery_fires_terminal_still_down_once_and_resolves_the_rest() -> None:
    sim = Sim(site_engine({"s1": ["gw1", "gw2"]}, {"gw1": ["t1", "t2"]}))
    sim.gw("gw1", Liveness.DOWN)
    sim.term("t1", "gw1", Liveness.ONLINE, Liveness.DOWN)
    sim.term("t2", "gw1", Liveness.ONLINE, Liveness.DOWN)
    sim.advance(120)
    sim.gw("gw1", Liveness.ONLINE)
    sim.term("t1", "gw1", Liveness.DOWN, Liveness.ONLINE)
    sim.advance(600, step=5)
    assert sim.pages() == [("gateway_down", "gw1"), ("terminal_down", "t2")]
    assert sim.loud_resolves() == [("gateway_down", "gw1")]
    assert [k.subject_id for k in sim.engine.active] == ["t2"]


def _history(sim: Sim, key: Key) -> list[tuple[str, str]]:
    return [(frm, to) for alert, frm, to in sim.row_events if alert.key == key]


def test_a_paged_fault_pages_once_when_its_single_gateway_store_blips() -> None:
    sim = Sim(site_engine({"store": ["gw1"]}))
    fault = Key(Kind.HARDWARE_FAULT, SubjectType.GATEWAY, "gw1")
    sim.fault(SubjectType.GATEWAY, "gw1")  # printer out of paper: pages at once
    sim.advance(120)
    paged = sim.engine.active[fault]
    assert sim.pages() == [("hardware_fault", "gw1")]
    sim.gw("gw1", Liveness.DOWN)  # the connection blips: the store counts as down
    assert sim.state(Kind.SITE_DOWN, "store") is AlertState.PENDING
    sim.advance(10)
    sim.gw("gw1", Liveness.ONLINE)  # back before site_down's pending_for (30 s)
    sim.advance(600, step=5)
    assert sim.pages() == [("hardware_fault", "gw1")]
    # The same row, still paging, and receivers were never told the page was over.
    assert sim.engine.active == {fault: paged}
    assert paged.state is AlertState.FIRING
    assert _history(sim, fault) == [("none", "pending"), ("pending", "firing")]


def test_paged_terminal_alerts_page_once_when_their_gateway_blips() -> None:
    sim = Sim(site_engine({"s1": ["gw1", "gw2"]}, {"gw1": ["t1", "t2"]}))
    sim.fault(SubjectType.TERMINAL, "t1")
    sim.term("t2", "gw1", Liveness.ONLINE, Liveness.DOWN)
    sim.advance(120)
    assert sim.pages() == [("hardware_fault", "t1"), ("terminal_down", "t2")]
    for _ in range(2):  # blips shorter than gateway_down's pending_for, too few to flap
        sim.gw("gw1", Liveness.DOWN)
        sim.advance(40)
        sim.gw("gw1", Liveness.ONLINE)
        sim.advance(120, step=5)
    assert sim.pages() == [("hardware_fault", "t1"), ("terminal_down", "t2")]
    assert {k.subject_id: a.state for k, a in sim.engine.active.items()} == {
        "t1": AlertState.FIRING,
        "t2": AlertState.FIRING,
    }
    assert sim.loud_resolves() == []


def test_a_site_that_pages_silences_its_paged_gateway_and_terminal_alerts() -> None:
    sim = Sim(site_engine({"store": ["gw1", "gw2"]}, {"gw1": ["t1"]}))
    sim.fault(SubjectType.GATEWAY, "gw2")
    sim.fault(SubjectType.TERMINAL, "t1")
    sim.advance(60)
    gw_fault = Key(Kind.HARDWARE_FAULT, SubjectType.GATEWAY, "gw2")
    t_fault = Key(Kind.HARDWARE_FAULT, SubjectType.TERMINAL, "t1")
    sim.gw("gw1", Liveness.DOWN)  # the router dies
    sim.advance(5)
    sim.gw("gw2", Liveness.DOWN)
    sim.advance(29)  # the site is pending: the faults' pages stay open
    assert sim.state(Kind.SITE_DOWN, "store") is AlertState.PENDING
    assert sim.state(Kind.HARDWARE_FAULT, "gw2") is AlertState.FIRING
    assert sim.state(Kind.HARDWARE_FAULT, "t1") is AlertState.FIRING
    sim.advance(1)  # the site pages: one page for the store, its paged children go quiet
    site = Key(Kind.SITE_DOWN, SubjectType.SITE, "store")
    gw1 = Key(Kind.GATEWAY_DOWN, SubjectType.GATEWAY, "gw1")
    assert sim.pages() == [
        ("hardware_fault", "gw2"),
        ("hardware_fault", "t1"),
        ("site_down", "store"),
    ]
    assert sim.engine.active[gw_fault].state is AlertState.SUPPRESSED
    assert sim.engine.active[gw_fault].inhibited_by == site
    assert sim.engine.active[t_fault].state is AlertState.SUPPRESSED
    assert sim.engine.active[t_fault].inhibited_by == gw1  # held back by the site, in turn
    assert sim.engine.firing() == [sim.engine.active[site]]
    sim.advance(600, step=5)
    assert len(sim.pages()) == 3
    # The router is back with both faults still true: their pages were closed by the
    # "suppressed" event, so each continues as a new alert and pages once more.
    sim.gw("gw1", Liveness.ONLINE)
    sim.gw("gw2", Liveness.ONLINE)
    sim.advance(600, step=5)
    assert sim.loud_resolves() == [("site_down", "store")]
    assert sim.pages()[3:] == [("hardware_fault", "gw2"), ("hardware_fault", "t1")]
    assert {a.state for a in sim.engine.active.values()} == {AlertState.FIRING}
    for key in (gw_fault, t_fault):
        assert _history(sim, key) == [
            ("none", "pending"),
            ("pending", "firing"),
            ("firing", "suppressed"),
            ("suppressed", "resolved"),
            ("none", "pending"),
            ("pending", "firing"),
        ]


SHIPPED = {"pending_gateway_down_s": 1, "pending_site_down_s": 0, "site_spread_s": 90}


def spread_power_cut(sim: Sim, gws: list[str]) -> None:
    """A store loses power: its gateways' wills arrive 20 s apart (80 s for five, under
    1.5 x a 60 s keepalive), then the outage lasts."""
    for gw in gws:
        sim.gw(gw, Liveness.DOWN)
        sim.advance(20)
    sim.advance(600, step=5)


def test_spread_store_power_cut_pages_once_as_its_first_gateway_and_resolves_once() -> None:
    # Shipped delays: the first will pages at once (nothing tells it from a single death);
    # the siblings wait for the store, and the store, down within the spread of that page,
    # is covered by it instead of paging a second time.
    sim = Sim(site_engine({"store": GWS[:5], "other": ["gwx"]}, **SHIPPED))
    spread_power_cut(sim, GWS[:5])
    sim.advance(400, step=5)  # past the first escalation delay (900 s after the page)
    assert sim.pages() == [("gateway_down", GWS[0])]
    assert [(a.key.kind, a.key.subject_id) for a in sim.engine.firing()] == [
        (Kind.GATEWAY_DOWN, GWS[0])
    ]
    # Escalation climbs on the alert that paged, never on the covered store.
    escalations = [(k, s) for k, s, f, to, n in sim.events if n.startswith("escalation")]
    assert escalations == [("gateway_down", GWS[0])]

    # Power is back: every gateway reconnects, the one that paged among them.
    for gw in [GWS[2], GWS[0], GWS[4], GWS[1], GWS[3]]:
        sim.gw(gw, Liveness.ONLINE, DetectedBy.BIRTH)
    sim.advance(600, step=5)
    assert sim.loud_resolves() == [("gateway_down", GWS[0])]
    assert sim.pages() == [("gateway_down", GWS[0])]
    assert sim.engine.active == {}


def test_the_console_shows_a_covered_store_down_and_names_the_page_that_covers_it() -> None:
    sim = Sim(site_engine({"store": GWS[:3]}, **SHIPPED))
    spread_power_cut(sim, GWS[:3])
    site = sim.engine.active[Key(Kind.SITE_DOWN, SubjectType.SITE, "store")]
    assert site.state is AlertState.FIRING
    assert site.details["covered_by"] == GWS[0]
    assert site.summary.endswith(f"; paged as gateway_down {GWS[0]}")  # the console's text
    assert site.fired_at is None  # it never paged
    assert ("store", True, "fault") in sim.site_changes
    for gw in GWS[1:3]:  # the held siblings are covered by the store, silenced for good
        sibling = sim.engine.active[Key(Kind.GATEWAY_DOWN, SubjectType.GATEWAY, gw)]
        assert sibling.state is AlertState.SUPPRESSED
        assert sibling.inhibited_by == site.key
        assert sibling.fired_at is None


def test_store_whose_gateways_all_die_within_the_hold_pages_as_site_down() -> None:
    sim = Sim(site_engine({"store": GWS[:5]}, **SHIPPED))
    for gw in GWS[:5]:  # the same instant: no gateway's page went out yet
        sim.gw(gw, Liveness.DOWN)
    sim.advance(600, step=5)
    assert sim.pages() == [("site_down", "store")]
    assert [a.key.kind for a in sim.engine.firing()] == [Kind.SITE_DOWN]
    for gw in GWS[:5]:
        sim.gw(gw, Liveness.ONLINE, DetectedBy.BIRTH)
    sim.advance(60)
    assert sim.loud_resolves() == [("site_down", "store")]


def test_wills_that_arrive_together_page_the_store_even_if_one_fired_as_they_were_applied() -> None:
    # The collector holds each will 2 s and then hands the transitions over one by one: the
    # first one's 1 s pending (counted from its will) is over when it is applied, so it
    # fires in its own evaluation, before its siblings are applied. Its page is no page of
    # an earlier death: the store was down (by the wills' times) before it fired.
    sim = Sim(site_engine({"store": GWS[:3]}, **SHIPPED))
    will_at = sim.now
    sim.now = will_at + timedelta(seconds=2)
    for gw in GWS[:3]:
        t = Transition(
            SubjectType.GATEWAY, gw, Liveness.ONLINE, Liveness.DOWN, will_at, DetectedBy.WILL
        )
        sim.transition(t)
    sim.advance(60)
    assert sim.pages() == [("gateway_down", GWS[0]), ("site_down", "store")]
    assert [a.key.kind for a in sim.engine.firing()] == [Kind.SITE_DOWN]
    assert sim.state(Kind.GATEWAY_DOWN, GWS[0]) is AlertState.SUPPRESSED


def test_partial_recovery_after_a_spread_cut_pages_each_gateway_still_down_once() -> None:
    sim = Sim(site_engine({"store": GWS[:4]}, **SHIPPED))
    spread_power_cut(sim, GWS[:4])
    sim.gw(GWS[0], Liveness.ONLINE, DetectedBy.BIRTH)  # the one that paged is back
    sim.advance(600, step=5)
    assert sim.loud_resolves() == [("gateway_down", GWS[0])]
    # The store is up again, the rest are still down: each pages now, once, as new.
    assert sorted(sim.pages()) == [("gateway_down", gw) for gw in GWS[:4]]
    assert sorted(a.key.subject_id for a in sim.engine.firing()) == GWS[1:4]
    assert Key(Kind.SITE_DOWN, SubjectType.SITE, "store") not in sim.engine.active


def test_a_sibling_back_first_leaves_the_page_open_and_pages_the_rest_still_down() -> None:
    sim = Sim(site_engine({"store": GWS[:3]}, **SHIPPED))
    spread_power_cut(sim, GWS[:3])
    sim.gw(GWS[2], Liveness.ONLINE, DetectedBy.BIRTH)  # a sibling is back, not the paged one
    sim.advance(600, step=5)
    assert sim.loud_resolves() == []
    assert sim.pages() == [("gateway_down", GWS[0]), ("gateway_down", GWS[1])]
    assert sim.state(Kind.GATEWAY_DOWN, GWS[0]) is AlertState.FIRING


def test_a_store_whose_gateways_come_back_over_a_spread_after_a_power_cut_pages_nobody() -> None:
    # Power back: the gateways boot and reconnect 20 s apart. The first one back ends the
    # store's outage; the others, still down, must not page one by one as "new" outages.
    sim = Sim(site_engine({"store": GWS[:4]}, **SHIPPED))
    spread_power_cut(sim, GWS[:4])
    for gw in GWS[:4]:
        sim.gw(gw, Liveness.ONLINE, DetectedBy.BIRTH)
        sim.advance(20)
    sim.advance(300, step=5)
    assert sim.pages() == [("gateway_down", GWS[0])]
    assert sim.loud_resolves() == [("gateway_down", GWS[0])]
    assert sim.engine.firing() == []


def test_a_gateway_still_down_after_its_store_came_back_pages_after_the_spread() -> None:
    sim = Sim(site_engine({"store": GWS[:3]}, **SHIPPED))
    spread_power_cut(sim, GWS[:3])
    sim.gw(GWS[0], Liveness.ONLINE, DetectedBy.BIRTH)  # the store is back ...
    sim.gw(GWS[1], Liveness.ONLINE, DetectedBy.BIRTH)
    sim.advance(85, step=5)  # ... GWS[2] is not: held while the store's others reconnect
    assert sim.pages() == [("gateway_down", GWS[0])]
    sim.advance(10, step=1)  # past the 90 s spread: its own outage now, paged once
    assert sim.pages() == [("gateway_down", GWS[0]), ("gateway_down", GWS[2])]


def test_a_gateway_that_paged_long_before_does_not_cover_the_store_going_down() -> None:
    sim = Sim(site_engine({"store": GWS[:2]}, **SHIPPED))
    sim.gw(GWS[0], Liveness.DOWN)
    sim.advance(600, step=5)  # its own outage, paged and known
    sim.gw(GWS[1], Liveness.DOWN)  # now the whole store is down: news, it pages
    sim.advance(60)
    assert sim.pages() == [("gateway_down", GWS[0]), ("site_down", "store")]
    assert [a.key.kind for a in sim.engine.firing()] == [Kind.SITE_DOWN]


def test_the_store_pages_when_the_page_covering_it_is_silenced_while_it_stays_down() -> None:
    sim = Sim(site_engine({"store": GWS[:3]}, **SHIPPED))
    spread_power_cut(sim, GWS[:3])
    sim.engine.suspended.add((SubjectType.GATEWAY, GWS[0]))  # an operator suspends it
    sim.advance(10)
    assert sim.pages() == [("gateway_down", GWS[0]), ("site_down", "store")]
    (site,) = sim.engine.firing()
    assert site.key.kind is Kind.SITE_DOWN
    assert "paged as" not in site.summary
    assert "covered_by" not in site.details


def test_single_gateway_death_pages_after_one_second_and_a_sibling_soon_after_is_held() -> None:
    sim = Sim(site_engine({"store": GWS[:3]}, **SHIPPED))
    sim.gw(GWS[0], Liveness.DOWN)
    sim.advance(1)
    assert sim.pages() == [("gateway_down", GWS[0])]
    sim.advance(29)
    sim.gw(GWS[1], Liveness.DOWN)  # 30 s later: maybe the store going down, maybe not
    sim.advance(59)
    assert sim.pages() == [("gateway_down", GWS[0])]
    sim.advance(2)  # 90 s after the first: the store did not follow, it pages on its own
    assert sim.pages() == [("gateway_down", GWS[0]), ("gateway_down", GWS[1])]


def test_a_sibling_down_long_ago_does_not_hold_a_new_gateway_death() -> None:
    sim = Sim(site_engine({"store": GWS[:3]}, **SHIPPED))
    sim.gw(GWS[0], Liveness.DOWN)
    sim.advance(600, step=5)
    sim.gw(GWS[1], Liveness.DOWN)
    sim.advance(1)
    assert sim.pages() == [("gateway_down", GWS[0]), ("gateway_down", GWS[1])]


# ------------------------------------------------------- a terminal the inventory moves
def _move(sim: Sim, terminal_id: str, gateway_id: str) -> None:
    """The inventory puts the terminal behind ``gateway_id`` (the listener follows it)."""
    sim.engine.topology.set_terminal(terminal_id, gateway_id=gateway_id, model="P400")
    sim.engine.relocate(terminal_id)
    sim.tick()


def test_a_paged_terminal_moved_away_keeps_its_page_through_its_old_gateways_outage() -> None:
    sim = Sim(site_engine({"s1": ["gw1", "gw2"]}, {"gw1": ["t1"]}))
    sim.term("t1", "gw1", Liveness.ONLINE, Liveness.DOWN)
    sim.advance(120)
    assert sim.pages() == [("terminal_down", "t1")]
    _move(sim, "t1", "gw2")
    sim.gw("gw1", Liveness.DOWN)
    sim.advance(600, step=5)
    assert sim.pages() == [("terminal_down", "t1"), ("gateway_down", "gw1")]
    alert = sim.engine.active[Key(Kind.TERMINAL_DOWN, SubjectType.TERMINAL, "t1")]
    assert alert.state is AlertState.FIRING
    assert alert.inhibited_by is None
    assert alert.place.gateway_id == "gw2"
    assert alert.details["moved_from"] == "gw1"
    assert "behind gateway gw2" in alert.summary
    assert [(f, to) for _k, sid, f, to, _n in sim.events if sid == "t1"] == [
        ("none", "pending"),
        ("pending", "firing"),
    ]


def test_a_terminal_held_under_its_old_gateways_outage_is_judged_under_the_new_one() -> None:
    """Down and suppressed under gw1's page; moved behind gw2, which is up: the outage is no
    longer gw1's to cover, it continues as new and pages once, naming gw2."""
    sim = Sim(site_engine({"s1": ["gw1", "gw2"]}, {"gw1": ["t1"]}))
    sim.gw("gw1", Liveness.DOWN)
    sim.term("t1", "gw1", Liveness.ONLINE, Liveness.DOWN)
    sim.advance(120)
    assert sim.state(Kind.TERMINAL_DOWN, "t1") is AlertState.SUPPRESSED
    _move(sim, "t1", "gw2")
    sim.advance(120)
    assert sim.pages() == [("gateway_down", "gw1"), ("terminal_down", "t1")]
    alert = sim.engine.active[Key(Kind.TERMINAL_DOWN, SubjectType.TERMINAL, "t1")]
    assert alert.place.gateway_id == "gw2"
    # gw1's recovery is not the pad's: its page stays.
    sim.gw("gw1", Liveness.ONLINE)
    sim.advance(60)
    assert sim.state(Kind.TERMINAL_DOWN, "t1") is AlertState.FIRING
