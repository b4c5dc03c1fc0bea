"""Property tests: whatever order outages, recoveries and time come in, the engine keeps
its promises (one active alert per identity, no orphan, no lost resolve, no resolve
without a page, every child linked to a live parent, nothing fires under a parent that
pages, and one page per condition while it stays true and no parent pages)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.alerts.model import COVERED_BY, Alert, AlertState, Blocker, Key, Kind
from collector.model import Liveness, SubjectType

from .helpers import Sim, site_engine

GATEWAYS = ["g1", "g2", "g3"]
TERMINALS = {"g1": ["t1", "t2"], "g2": ["t3"]}

step = st.one_of(
    st.tuples(st.just("gw"), st.sampled_from(GATEWAYS), st.booleans()),
    st.tuples(st.just("term"), st.sampled_from(["t1", "t2", "t3"]), st.booleans()),
    st.tuples(st.just("fault"), st.sampled_from(["g1", "g3", "t1", "t3"]), st.booleans()),
    st.tuples(st.just("wait"), st.integers(1, 200), st.just(True)),
)


def subject_type(subject: str) -> SubjectType:
    return SubjectType.TERMINAL if subject.startswith("t") else SubjectType.GATEWAY


@settings(max_examples=150, deadline=None)
@given(st.lists(step, max_size=40))
def test_any_history_keeps_the_alert_invariants(steps: list[tuple[str, object, bool]]) -> None:
    sim = Sim(site_engine({"s1": GATEWAYS}, TERMINALS, flap_changes=4, flap_quiet_s=300))
    gw_of = {t: g for g, ts in TERMINALS.items() for t in ts}
    term_status = {t: Liveness.ONLINE for t in gw_of}
    faults: set[str] = set()
    for kind, what, down in steps:
        if kind == "wait":
            sim.advance(float(what), step=5)  # type: ignore[arg-type]
        elif kind == "fault":
            sim.fault(subject_type(str(what)), str(what), down)
            (faults.add if down else faults.discard)(str(what))
        elif kind == "gw":
            to = Liveness.DOWN if down else Liveness.ONLINE
            if sim.engine.topology.status[str(what)] is not to:
                sim.gw(str(what), to)
        else:
            tid = str(what)
            to = Liveness.DOWN if down else Liveness.ONLINE
            if term_status[tid] is not to:
                sim.term(tid, gw_of[tid], term_status[tid], to)
                term_status[tid] = to
        check_links(sim)

    # Everything comes back and time passes: nothing may stay open.
    for gw in GATEWAYS:
        if sim.engine.topology.status[gw] is Liveness.DOWN:
            sim.gw(gw, Liveness.ONLINE)
    for tid, status in term_status.items():
        if status is Liveness.DOWN:
            sim.term(tid, gw_of[tid], status, Liveness.ONLINE)
    for subject in faults:
        sim.fault(subject_type(subject), subject, False)
    sim.advance(3600, step=60)
    assert sim.engine.active == {}

    # Per alert row (object identity): at most one page per row, a loud resolve only after
    # that row's page, and every paged row ends resolved or suppressed.
    assert_row_promises(sim.row_events)


def assert_row_promises(row_events: list[tuple[Alert, str, str]]) -> None:
    pages: dict[int, int] = {}
    last: dict[int, str] = {}
    for alert, frm, to in row_events:
        row = id(alert)
        if COVERED_BY in alert.details:
            # A store covered by its gateway's page fires without paging, and ends silently.
            assert alert.fired_at is None, f"{alert.key} covered, yet paged"
            continue
        if frm == "pending" and to == "firing":
            pages[row] = pages.get(row, 0) + 1
            assert pages[row] == 1, f"{alert.key} paged {pages[row]} times in one row"
        if frm == "firing" and to == "resolved":
            assert pages.get(row, 0) == 1, f"{alert.key} resolved loudly without its page"
        last[row] = to
    for row in pages:
        assert last[row] in ("resolved", "suppressed"), f"paged row ends {last[row]}"


def test_the_row_promises_catch_a_second_page_and_a_resolve_without_a_page() -> None:
    """The checker above is what the property relies on: it must see each broken promise."""
    sim = Sim(site_engine({"s1": GATEWAYS}))
    sim.gw("g1", Liveness.DOWN)
    sim.advance(120, step=5)
    sim.gw("g1", Liveness.ONLINE)
    assert_row_promises(sim.row_events)  # a real page and its resolve keep them
    paged = next(a for a, frm, to in sim.row_events if (frm, to) == ("pending", "firing"))
    with pytest.raises(AssertionError, match="paged 2 times"):
        assert_row_promises([*sim.row_events, (paged, "pending", "firing")])
    other_row = replace(paged)  # same kind and subject, another row
    with pytest.raises(AssertionError, match="without its page"):
        assert_row_promises([*sim.row_events, (other_row, "firing", "resolved")])
    with pytest.raises(AssertionError, match="paged row ends firing"):
        assert_row_promises([(other_row, "pending", "firing")])


def check_links(sim: Sim) -> None:
    for key, alert in sim.engine.active.items():
        assert alert.state is not AlertState.RESOLVED
        if alert.state is AlertState.FIRING:
            assert alert.inhibited_by is None, key
            assert (alert.fired_at is None) is (COVERED_BY in alert.details), key
        if alert.inhibited_by is not None:
            assert alert.state is AlertState.SUPPRESSED
            assert alert.inhibited_by in sim.engine.active, f"{key} orphaned"
        if key.kind is Kind.SITE_DOWN:
            assert sim.engine.topology.site_is_down(key.subject_id)
        if key.kind is Kind.GATEWAY_DOWN:
            assert sim.engine.topology.status[key.subject_id] is Liveness.DOWN
        for parent in parents(sim, alert):
            # Inhibition comes from a parent that pages; a parent that has not paged only
            # holds back what has not paged either (a page already out stays open).
            if pages(sim, parent):
                assert alert.state is not AlertState.FIRING, f"{key} pages under {parent.key}"
            elif alert.state is AlertState.FIRING and parent.blocker is not Blocker.PLANNED:
                assert alert.fired_at is not None
                assert alert.fired_at <= parent.started_at, f"{key} paged under {parent.key}"


def parents(sim: Sim, alert: Alert) -> list[Alert]:
    key, place = alert.key, alert.place
    if key.subject_type is SubjectType.TERMINAL:
        keys = [
            Key(Kind.GATEWAY_DOWN, SubjectType.GATEWAY, place.gateway_id),
            Key(Kind.FLAPPING, SubjectType.GATEWAY, place.gateway_id),
        ]
    elif key.subject_type is SubjectType.GATEWAY:
        keys = [Key(Kind.SITE_DOWN, SubjectType.SITE, place.site_id)]
    else:
        keys = []
    return [sim.engine.active[k] for k in keys if k in sim.engine.active]


def pages(sim: Sim, alert: Alert) -> bool:
    """The alert fires, or is inhibited by a parent that pages (the store's page covers
    the gateways it silenced and their terminals). A store covered by its first gateway's
    page does not page."""
    if alert.state is AlertState.FIRING:
        return COVERED_BY not in alert.details
    parent = sim.engine.active.get(alert.inhibited_by) if alert.inhibited_by else None
    return parent is not None and pages(sim, parent)


# Histories in which no parent ever pages: gateways and whole stores only blip, for less
# than site_down's pending_for (30 s, shorter than gateway_down's 60 s), and too rarely to
# flap. A fault or a terminal outage that stays true then pages exactly once, and no page
# is ever closed before its condition clears.
SITES = {"s1": ["g1", "g2"], "s2": ["g3"]}  # s2: a store with a single gateway
BEHIND = {"g1": ["t1"], "g3": ["t2"]}
blip = st.one_of(
    st.tuples(st.just("fault"), st.sampled_from(["g1", "g2", "g3", "t1", "t2"]), st.booleans()),
    st.tuples(st.just("term"), st.sampled_from(["t1", "t2"]), st.booleans()),
    st.tuples(st.just("blip"), st.sampled_from(["s1", "s2", "g1", "g2"]), st.integers(1, 29)),
    st.tuples(st.just("wait"), st.just(""), st.integers(1, 300)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(blip, max_size=30))
def test_blips_shorter_than_a_site_outage_never_page_a_true_condition_twice(
    steps: list[tuple[str, object, object]],
) -> None:
    sim = Sim(site_engine(SITES, BEHIND, flap_changes=1000))
    gw_of = {t: g for g, ts in BEHIND.items() for t in ts}
    true: dict[Key, int] = {}  # condition held by the test -> pages since it became true
    seen = 0
    for kind, what, arg in steps:
        subject = str(what)
        if kind == "wait":
            sim.advance(float(arg), step=5)  # type: ignore[arg-type]
        elif kind == "blip":
            down = SITES.get(subject, [subject])
            for gw in down:
                sim.gw(gw, Liveness.DOWN)
            sim.advance(float(arg))  # type: ignore[arg-type]
            for gw in down:
                sim.gw(gw, Liveness.ONLINE)
        else:
            key = (
                Key(Kind.HARDWARE_FAULT, subject_type(subject), subject)
                if kind == "fault"
                else Key(Kind.TERMINAL_DOWN, SubjectType.TERMINAL, subject)
            )
            if bool(arg) is (key in true):
                continue
            if kind == "fault":
                sim.fault(key.subject_type, subject, bool(arg))
            else:
                frm, to = (
                    (Liveness.ONLINE, Liveness.DOWN) if arg else (Liveness.DOWN, Liveness.ONLINE)
                )
                sim.term(subject, gw_of[subject], frm, to)
            if arg:
                true[key] = 0
        for alert, frm, to in sim.row_events[seen:]:
            assert (frm, to) != ("firing", "suppressed"), f"{alert.key}: page closed by a blip"
            if (frm, to) == ("pending", "firing"):
                assert alert.key in true, f"{alert.key} pages, yet no outage here may page"
                true[alert.key] += 1
                assert true[alert.key] == 1, f"{alert.key} paged twice while true"
        seen = len(sim.row_events)
        if kind in ("fault", "term") and not arg:
            del true[key]
    sim.advance(3600, step=60)
    # What is still true pages (once); everything else is over.
    assert {k for k, a in sim.engine.active.items() if a.state is AlertState.FIRING} == set(true)
    assert set(sim.engine.active) == set(true)
    for key in true:
        if key.kind is Kind.HARDWARE_FAULT:
            sim.fault(key.subject_type, key.subject_id, False)
        else:
            sim.term(key.subject_id, gw_of[key.subject_id], Liveness.DOWN, Liveness.ONLINE)
    assert sim.engine.active == {}
    assert_row_promises(sim.row_events)


SHIPPED = {"pending_gateway_down_s": 1, "pending_site_down_s": 0, "site_spread_s": 90}


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(0, 85), min_size=2, max_size=5),
    st.permutations(range(5)),
    st.floats(0, 600),
)
def test_any_store_power_cut_within_the_spread_pages_once_and_resolves_once(
    offsets: list[float], back_order: list[int], lasts: float
) -> None:
    """Wills anywhere within 1.5 x keepalive of the cut, an outage of any length, power
    back for every gateway at once in any order: one page for the store, one resolve."""
    gws = [f"g{i}" for i in range(len(offsets))]
    sim = Sim(site_engine({"s1": gws, "s2": ["g9"]}, **SHIPPED))
    elapsed = 0.0
    for gw, at in sorted(zip(gws, offsets, strict=True), key=lambda p: p[1]):
        sim.advance(at - elapsed)
        elapsed = at
        sim.gw(gw, Liveness.DOWN)
    sim.advance(lasts, step=5)
    check_links(sim)
    assert len(sim.pages()) == 1, sim.pages()
    assert len(sim.engine.firing()) == 1
    assert Key(Kind.SITE_DOWN, SubjectType.SITE, "s1") in sim.engine.active
    for i in back_order:
        if i < len(gws):
            sim.gw(gws[i], Liveness.ONLINE)
    sim.advance(300, step=5)
    assert len(sim.pages()) == 1, sim.pages()
    assert sim.loud_resolves() == [sim.pages()[0]]
    assert sim.engine.active == {}
    assert_row_promises(sim.row_events)
