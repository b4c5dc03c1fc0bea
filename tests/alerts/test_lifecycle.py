"""Alert lifecycle, escalation and acknowledgement with a fake clock."""

from __future__ import annotations

from datetime import timedelta

from collector.alerts.model import AlertState, Kind
from collector.alerts.rules import TelemetryRules
from collector.model import DetectedBy, Liveness, SubjectType, Transition
from telemetry.codec import Decoded
from telemetry.models import LinkState, Status
from telemetry.topics import Kind as TopicKind
from telemetry.topics import TopicRef

from .helpers import Sim, site_engine


def two_gateway_site() -> Sim:
    return Sim(site_engine({"s1": ["gw1", "gw2"]}))


def test_gateway_down_is_pending_then_fires_once_after_pending_for() -> None:
    sim = two_gateway_site()
    sim.gw("gw1", Liveness.DOWN)
    assert sim.state(Kind.GATEWAY_DOWN, "gw1") is AlertState.PENDING
    sim.advance(59)
    assert sim.pages() == []
    sim.advance(1)
    assert sim.pages() == [("gateway_down", "gw1")]
    sim.advance(300)
    assert sim.pages() == [("gateway_down", "gw1")]
    alert = sim.engine.active[next(iter(sim.engine.active))]
    assert alert.escalation == 1
    assert alert.summary == "Gateway gw1 (site s1, north) down since 2026-03-02 09:00:00Z (will)"


def test_repeated_down_evidence_keeps_one_alert_identity() -> None:
    sim = two_gateway_site()
    sim.gw("gw1", Liveness.DOWN)
    first = sim.engine.active.copy()
    sim.engine.apply_transition(
        Transition(
            SubjectType.GATEWAY, "gw1", Liveness.DOWN, Liveness.DOWN, sim.now, DetectedBy.DEADLINE
        )
    )
    sim.advance(120)
    assert list(sim.engine.active) == list(first)
    assert sim.pages() == [("gateway_down", "gw1")]


def test_outage_shorter_than_pending_for_resolves_silently() -> None:
    sim = two_gateway_site()
    sim.gw("gw1", Liveness.DOWN)
    sim.advance(20)
    sim.gw("gw1", Liveness.ONLINE, DetectedBy.BIRTH)
    sim.advance(120)
    assert sim.pages() == []
    assert sim.loud_resolves() == []
    assert ("gateway_down", "gw1", "pending", "resolved") in [e[:4] for e in sim.events]
    assert sim.engine.active == {}


def test_firing_alert_resolves_loudly_when_the_gateway_returns() -> None:
    sim = two_gateway_site()
    sim.gw("gw1", Liveness.DOWN)
    sim.advance(61)
    sim.gw("gw1", Liveness.ONLINE, DetectedBy.BIRTH)
    assert sim.loud_resolves() == [("gateway_down", "gw1")]
    assert sim.engine.active == {}


def test_escalation_rises_while_unacknowledged() -> None:
    sim = two_gateway_site()
    sim.gw("gw1", Liveness.DOWN)
    sim.advance(60)
    (alert,) = sim.engine.active.values()
    assert alert.escalation == 1
    sim.advance(899, step=10)
    assert alert.escalation == 1
    sim.advance(1)
    assert alert.escalation == 2
    sim.advance(900, step=10)
    assert alert.escalation == 3
    sim.advance(3600, step=60)
    assert alert.escalation == 3


def test_escalation_stops_rising_once_acknowledged() -> None:
    sim = two_gateway_site()
    sim.gw("gw1", Liveness.DOWN)
    sim.advance(60)
    (alert,) = sim.engine.active.values()
    sim.advance(600, step=10)
    alert.acked_by, alert.acked_at = "alice", sim.now  # what the repository loads
    sim.advance(7200, step=60)
    assert alert.escalation == 1
    assert alert.state is AlertState.FIRING


def test_stale_will_without_a_transition_raises_nothing() -> None:
    # The core drops a will from an older session (no Transition); the engine only ever
    # reacts to transitions, so a stale will's message alone must change nothing.
    sim = two_gateway_site()
    will = Status(gw="gw1", ts=sim.now, state=LinkState.OFFLINE, session=3)
    decoded = Decoded(TopicRef("gw1", TopicKind.STATUS), will)
    rules = TelemetryRules(sim.engine.settings)
    for verdict in rules.evaluate(decoded, sim.now, sim.engine.topology):
        raise AssertionError(f"a status message produced {verdict}")
    sim.advance(600, step=10)
    assert sim.engine.active == {}
    assert sim.events == []


def test_collector_restart_reloads_active_alerts_and_pages_nobody() -> None:
    sim = two_gateway_site()
    sim.gw("gw1", Liveness.DOWN)
    sim.advance(61)
    sim.term("t9", "gw2", Liveness.ONLINE, Liveness.DOWN)
    sim.advance(10)
    saved = list(sim.engine.active.values())
    assert {a.state for a in saved} == {AlertState.FIRING, AlertState.PENDING}

    restarted = Sim(site_engine({"s1": ["gw1", "gw2"]}), start=sim.now)
    restarted.engine.topology.status["gw1"] = Liveness.DOWN
    restarted.engine.load(saved)
    # The already-firing gateway is not paged again; the pending terminal keeps its
    # original pending clock (90 s from its down, 10 s of which passed before the restart).
    restarted.advance(79)
    assert restarted.pages() == []
    restarted.advance(1)
    assert restarted.pages() == [("terminal_down", "t9")]
    assert restarted.now - saved[1].pending_since == timedelta(seconds=90)


def test_broker_restart_without_transitions_pages_nobody() -> None:
    # After a broker restart the core re-arms deadlines and emits no transitions; the
    # stored statuses may even say 'down' for a subject that was down before.
    engine = site_engine({"s1": ["gw1", "gw2"], "s2": ["gw3"]})
    engine.topology.status["gw3"] = Liveness.DOWN
    engine.load([])
    sim = Sim(engine)
    sim.advance(3600, step=30)
    assert sim.events == []
    assert engine.sites_down == {"s2"}  # derived on load, without alerting


def planned_offline(sim: Sim, gw: str, reason: str) -> None:
    sim.transition(
        Transition(
            SubjectType.GATEWAY,
            gw,
            Liveness.ONLINE,
            Liveness.DOWN,
            sim.now,
            DetectedBy.GRACEFUL,
            reason=reason,
            planned=True,
        )
    )


def test_planned_reboot_that_comes_back_in_time_pages_nobody() -> None:
    sim = two_gateway_site()
    planned_offline(sim, "gw1", "reboot")
    sim.advance(240, step=5)
    sim.gw("gw1", Liveness.ONLINE, DetectedBy.BIRTH)
    sim.advance(60)
    assert sim.pages() == []
    assert sim.engine.active == {}


def test_planned_upgrade_that_never_comes_back_pages_once_after_the_grace() -> None:
    sim = two_gateway_site()  # planned_grace_s defaults to 900
    planned_offline(sim, "gw1", "upgrade")
    sim.advance(900 + 59, step=1)
    assert sim.pages() == []
    sim.advance(1)
    assert sim.pages() == [("gateway_down", "gw1")]
    sim.advance(3600, step=30)
    assert sim.pages() == [("gateway_down", "gw1")]


def test_upgrade_reboot_of_a_stores_only_router_pages_nobody() -> None:
    """The store is down while its only gateway upgrades: planned, not a site outage."""
    sim = Sim(site_engine({"s1": ["gw1"]}))
    planned_offline(sim, "gw1", "upgrade")
    sim.advance(300, step=5)
    assert sim.pages() == []
    assert sim.state(Kind.SITE_DOWN, "s1") is AlertState.SUPPRESSED
    sim.gw("gw1", Liveness.ONLINE, DetectedBy.BIRTH)
    sim.advance(60)
    assert sim.pages() == []
    assert sim.engine.active == {}
    assert sim.site_changes[0] == ("s1", True, "planned")


def test_store_whose_only_router_never_returns_from_upgrade_pages_the_site_once() -> None:
    sim = Sim(site_engine({"s1": ["gw1"]}))
    planned_offline(sim, "gw1", "upgrade")
    sim.advance(900 - 1, step=1)
    assert sim.pages() == []
    sim.advance(30 + 1)  # the grace is over: the site pages after its own pending delay
    assert sim.pages() == [("site_down", "s1")]
    sim.advance(3600, step=30)
    assert sim.pages() == [("site_down", "s1")]


def test_store_with_one_router_upgrading_and_one_dead_is_an_outage() -> None:
    sim = Sim(site_engine({"s1": ["gw1", "gw2"]}))
    planned_offline(sim, "gw1", "upgrade")
    sim.gw("gw2", Liveness.DOWN)
    sim.advance(31)
    assert sim.pages() == [("site_down", "s1")]


def test_decommission_offline_never_pages() -> None:
    sim = two_gateway_site()
    planned_offline(sim, "gw1", "decommission")
    sim.advance(7 * 86400, step=3600)
    assert sim.pages() == []


def test_planned_reboot_of_the_last_router_up_does_not_repage_an_outage_already_paged() -> None:
    """One router of a store is hung and paged; the other reboots for an upgrade: the
    store is down for a minute, but that is planned, and the hung router's page stands."""
    sim = Sim(site_engine({"s1": ["gw1", "gw2"]}))
    sim.gw("gw1", Liveness.DOWN, DetectedBy.DEADLINE)
    sim.advance(61)
    assert sim.pages() == [("gateway_down", "gw1")]
    planned_offline(sim, "gw2", "upgrade")
    sim.advance(120, step=5)
    assert sim.state(Kind.GATEWAY_DOWN, "gw1") is AlertState.FIRING
    sim.gw("gw2", Liveness.ONLINE, DetectedBy.BIRTH)
    sim.advance(120, step=5)
    assert sim.pages() == [("gateway_down", "gw1")]
    assert sim.state(Kind.GATEWAY_DOWN, "gw1") is AlertState.FIRING


def test_an_upgrade_that_overruns_its_grace_next_to_a_paged_outage_pages_the_store() -> None:
    sim = Sim(site_engine({"s1": ["gw1", "gw2"]}))
    sim.gw("gw1", Liveness.DOWN, DetectedBy.DEADLINE)
    sim.advance(61)
    planned_offline(sim, "gw2", "upgrade")
    sim.advance(900 + 31, step=5)
    assert sim.pages() == [("gateway_down", "gw1"), ("site_down", "s1")]
