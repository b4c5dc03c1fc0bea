"""Property tests: whatever order outages, recoveries and time come in, the engine keeps
its promises (one active alert per identity, no orphan, no lost resolve, no resolve
without a page, every child linked to a live parent)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.alerts.model import Alert, AlertState, Kind
from collector.model import Liveness

from .helpers import Sim, site_engine

GATEWAYS = ["g1", "g2", "g3"]
TERMINALS = {"g1": ["t1", "t2"], "g2": ["t3"]}

step = st.one_of(
    st.tuples(st.just("gw"), st.sampled_from(GATEWAYS), st.booleans()),
    st.tuples(st.just("term"), st.sampled_from(["t1", "t2", "t3"]), st.booleans()),
    st.tuples(st.just("wait"), st.integers(1, 200), st.just(True)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(step, max_size=40))
def test_any_history_keeps_the_alert_invariants(steps: list[tuple[str, object, bool]]) -> None:
    sim = Sim(site_engine({"s1": GATEWAYS}, TERMINALS, flap_changes=4, flap_quiet_s=300))
    gw_of = {t: g for g, ts in TERMINALS.items() for t in ts}
    term_status = {t: Liveness.ONLINE for t in gw_of}
    for kind, what, down in steps:
        if kind == "wait":
            sim.advance(float(what), step=5)  # type: ignore[arg-type]
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
        if alert.inhibited_by is not None:
            assert alert.state is AlertState.SUPPRESSED
            assert alert.inhibited_by in sim.engine.active, f"{key} orphaned"
        if key.kind is Kind.SITE_DOWN:
            assert sim.engine.topology.site_is_down(key.subject_id)
        if key.kind is Kind.GATEWAY_DOWN:
            assert sim.engine.topology.status[key.subject_id] is Liveness.DOWN
        parent_site = sim.engine.topology.site_is_down("s1")
        if key.kind is Kind.GATEWAY_DOWN and parent_site:
            assert alert.state is AlertState.SUPPRESSED, f"{key} pages under a down site"
