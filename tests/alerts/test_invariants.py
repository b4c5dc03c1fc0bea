"""Property tests: whatever order outages, recoveries and time come in, the engine keeps
its promises (one active alert per identity, no orphan, no lost resolve, no resolve
without a page, every child linked to a live parent)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.alerts.model import AlertState, Kind
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

    # Per alert row (object identity): a loud resolve only after a page, at most one page
    # per row, and every paged row ends resolved or suppressed-then-resolved.
    fired: dict[tuple[str, str], int] = {}
    for k, s, frm, to, _note in sim.events:
        if frm == "pending" and to == "firing":
            fired[(k, s)] = fired.get((k, s), 0) + 1
        if frm == "firing" and to == "resolved":
            assert fired.get((k, s), 0) > 0, (k, s)


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
