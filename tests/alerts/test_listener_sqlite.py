"""The listener and repository against a real store, on each engine (``store_url``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from collector.metrics import FleetCollector
from collector.model import DetectedBy, Liveness
from collector.store import db
from collector.store.times import from_db, to_db

from .store import Harness, add_site, open_store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GWS = [f"gw{i}" for i in range(6)]


@pytest.fixture
def conn(store_url: str) -> Iterator[db.Connection]:
    c = open_store(store_url)
    add_site(c, "store", GWS)
    add_site(c, "solo", ["lonely", "buddy"])
    try:
        yield c
    finally:
        c.close()


def test_site_outage_is_one_firing_row_and_children_point_at_it(conn: db.Connection) -> None:
    h = Harness(conn, T0)
    for gw in GWS:
        h.gateway(gw, Liveness.DOWN)
        h.advance(5)
    h.advance(120)
    assert h.paging() == [("site_down", "store")]
    (site_id,) = h.rows("SELECT id FROM alerts WHERE kind = 'site_down'")[0]
    children = h.rows("SELECT state, inhibited_by FROM alerts WHERE kind = 'gateway_down'")
    assert children == [("suppressed", site_id)] * len(GWS)
    assert h.rows(
        "SELECT from_status, to_status, reason FROM state_changes WHERE subject_type = 'site'"
    ) == [("online", "down", "children")]
    assert h.rows("SELECT ended_at FROM incidents WHERE subject_type = 'site'") == [(None,)]


def test_site_recovery_resolves_everything_and_closes_the_site_incident(
    conn: db.Connection,
) -> None:
    h = Harness(conn, T0)
    for gw in GWS:
        h.gateway(gw, Liveness.DOWN)
    h.advance(120)
    for gw in GWS:
        h.gateway(gw, Liveness.ONLINE, DetectedBy.BIRTH)
        h.advance(1)
    h.advance(120)
    assert h.rows("SELECT count(*) FROM alerts WHERE state != 'resolved'") == [(0,)]
    assert h.fired_events() == [("site_down", "store")]
    loud = h.rows(
        "SELECT a.kind FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
        "WHERE e.from_state = 'firing' AND e.to_state = 'resolved'"
    )
    assert loud == [("site_down",)]
    assert h.rows(
        "SELECT count(*) FROM incidents WHERE subject_type = 'site' AND ended_at IS NOT NULL"
    ) == [(1,)]


def test_collector_restart_reloads_alerts_and_pages_nobody(conn: db.Connection) -> None:
    h = Harness(conn, T0)
    h.gateway("lonely", Liveness.DOWN)
    h.advance(61)
    h.gateway("buddy", Liveness.DOWN)  # site 'solo' down: pending site alert
    h.advance(5)
    before = h.rows("SELECT id, state, inhibited_by FROM alerts ORDER BY id")
    events_before = h.rows("SELECT count(*) FROM alert_events")[0][0]

    h.restart()
    h.advance(10)
    assert h.rows("SELECT id, state, inhibited_by FROM alerts ORDER BY id") == before
    assert h.rows("SELECT count(*) FROM alert_events")[0][0] == events_before
    h.advance(20)  # the reloaded pending site alert keeps its clock and fires once
    assert h.fired_events() == [("gateway_down", "lonely"), ("site_down", "solo")]


def test_acknowledgement_written_by_the_dashboard_stops_escalation(
    conn: db.Connection,
) -> None:
    h = Harness(conn, T0, escalation_after_s=[300, 600])
    h.gateway("gw0", Liveness.DOWN)
    h.advance(61)
    (alert_id,) = h.rows("SELECT id FROM alerts WHERE state = 'firing'")[0]
    h.advance(120, step=10)
    with conn:  # the dashboard process (collector.actions.acknowledge_alert) does this
        conn.execute(
            "UPDATE alerts SET acked_by = 'alice', acked_at = ?, ack_note = 'on it' WHERE id = ?",
            (to_db(h.now), alert_id),
        )
        conn.execute(
            "INSERT INTO alert_events (alert_id, at, from_state, to_state, actor, note) "
            "VALUES (?, ?, 'firing', 'firing', 'alice', 'acknowledged: on it')",
            (alert_id, to_db(h.now)),
        )
    h.advance(1200, step=10)
    assert h.rows("SELECT escalation, acked_by, ack_note FROM alerts WHERE id = ?", alert_id) == [
        (1, "alice", "on it")
    ]


def test_unacknowledged_alert_escalates_in_the_store(conn: db.Connection) -> None:
    h = Harness(conn, T0, escalation_after_s=[300, 600])
    h.gateway("gw0", Liveness.DOWN)
    h.advance(61 + 600, step=10)
    assert h.rows("SELECT escalation FROM alerts") == [(3,)]


def test_a_critical_alert_climbs_on_its_own_per_severity_delays(
    conn: db.Connection,
) -> None:
    # gateway_down is critical: its own delays (60 s, 120 s) win over the general ones.
    h = Harness(conn, T0, escalation_after_s=[300, 600], escalation_after_critical_s=[60, 120])
    h.gateway("gw0", Liveness.DOWN)
    h.advance(61)
    ((fired,),) = h.rows("SELECT fired_at FROM alerts WHERE state = 'firing'")
    h.advance((from_db(fired) + timedelta(seconds=59) - h.now).total_seconds())
    assert h.rows("SELECT severity, escalation FROM alerts") == [("critical", 1)]
    h.advance(1)
    assert h.rows("SELECT escalation FROM alerts") == [(2,)]
    h.advance(60)
    assert h.rows("SELECT escalation FROM alerts") == [(3,)]


def test_window_that_ends_early_with_a_gateway_still_down_fires_it_exactly_once(
    conn: db.Connection,
) -> None:
    h = Harness(conn, T0)
    with conn:
        cur = conn.execute(
            "INSERT INTO maintenance_windows (scope_type, scope_id, starts_at, ends_at, "
            "reason, created_by, created_at) VALUES ('gateway', 'gw1', ?, ?, 'swap router', "
            "'bob', ?) RETURNING id",
            (to_db(T0), "2026-03-02T12:00:00.000000+00:00", to_db(T0)),
        )
        (window_id,) = cur.fetchone()
    h.advance(10)
    h.gateway("gw1", Liveness.DOWN, DetectedBy.DEADLINE)
    h.advance(600, step=5)
    assert h.paging() == []
    assert h.rows("SELECT class FROM incidents WHERE subject_id = 'gw1'") == [("planned",)]
    with conn:  # ended early by a named person (collector.actions.end_window_early)
        conn.execute(
            "UPDATE maintenance_windows SET ended_early_at = ?, ended_early_by = 'bob' "
            "WHERE id = ?",
            (to_db(h.now), window_id),
        )
    h.advance(600, step=5)
    assert h.fired_events() == [("gateway_down", "gw1")]
    assert h.paging() == [("gateway_down", "gw1")]
    rows = h.rows("SELECT state, fired_at IS NOT NULL FROM alerts ORDER BY id")
    assert rows == [("resolved", False), ("firing", True)]
    never_fired_resolves = h.rows(
        "SELECT count(*) FROM alert_events WHERE from_state = 'firing' AND to_state = 'resolved'"
    )
    assert never_fired_resolves == [(0,)]


def test_suspended_gateway_never_pages_and_its_incident_is_administrative(
    conn: db.Connection,
) -> None:
    h = Harness(conn, T0)
    with conn:
        conn.execute(
            "UPDATE gateways SET suspended = 1, suspended_reason = 'contract ended' "
            "WHERE gateway_id = 'gw2'"
        )
    h.advance(5)
    h.gateway("gw2", Liveness.DOWN)
    h.advance(600, step=5)
    assert h.paging() == []
    assert h.rows("SELECT state, details FROM alerts")[0][0] == "suppressed"
    details = json.loads(str(h.rows("SELECT details FROM alerts")[0][0]))
    assert details["blocker"] == "suspended"
    assert h.rows("SELECT class FROM incidents") == [("administrative",)]


def test_firmware_policy_from_the_store_raises_a_noncompliance_alert(
    conn: db.Connection,
) -> None:
    from telemetry.codec import Decoded
    from telemetry.models import Firmware
    from telemetry.topics import Kind, TopicRef

    with conn:
        conn.execute("INSERT INTO firmware_policy (model, min_version) VALUES ('R1', '2.10.0')")
    h = Harness(conn, T0)
    old = Decoded(TopicRef("gw3", Kind.FIRMWARE), Firmware(gw="gw3", ts=T0, os="2.9.7"))
    new = Decoded(TopicRef("gw3", Kind.FIRMWARE), Firmware(gw="gw3", ts=T0, os="2.10.1"))
    with conn:
        h.listener.on_messages(conn, [(old, h.now)], h.now)
    h.advance(2)
    assert h.paging() == [("firmware_non_compliant", "gw3")]
    with conn:
        h.listener.on_messages(conn, [(new, h.now)], h.now)
    assert h.paging() == []


def test_maintenance_overdue_is_swept_in_chunks_and_clears_after_a_service(
    conn: db.Connection,
) -> None:
    with conn:
        conn.execute(
            "INSERT INTO maintenance_policy (model, service_interval_days) VALUES ('P400', 365)"
        )
        conn.executemany(
            "INSERT INTO terminals (terminal_id, gateway_id, site_id, region_id, model, "
            "install_date, last_service_at) VALUES (?, 'gw0', 'store', 'north', 'P400', "
            "'2024-01-01', ?)",
            [
                ("t1", "2025-01-10T00:00:00+00:00"),  # 416 days before T0: overdue
                ("t2", "2026-01-10T00:00:00+00:00"),
                ("t3", "2024-06-01T00:00:00+00:00"),  # overdue
            ],
        )
    h = Harness(conn, T0, maintenance_chunk=2, poll_maintenance_s=5)
    h.advance(1)  # first chunk: t1, t2
    assert h.paging() == [("maintenance_overdue", "t1")]
    h.advance(5)  # second chunk: t3, then wrap around
    assert h.paging() == [("maintenance_overdue", "t1"), ("maintenance_overdue", "t3")]
    (summary,) = h.rows("SELECT summary FROM alerts WHERE subject_id = 't1'")[0]
    assert summary == "Terminal t1 (site store) maintenance overdue: interval (due 2026-01-10)"
    with conn:  # collector.actions.record_service resets the calendar
        conn.execute(
            "UPDATE terminals SET last_service_at = ? WHERE terminal_id = 't1'", (to_db(h.now),)
        )
    h.advance(10)
    assert h.paging() == [("maintenance_overdue", "t3")]


def test_a_new_firmware_policy_is_applied_to_the_versions_already_in_the_store(
    conn: db.Connection,
) -> None:
    with conn:
        conn.execute("UPDATE gateways SET firmware_version = '1.4.2' WHERE gateway_id = 'gw0'")
        conn.execute("UPDATE gateways SET firmware_version = '1.10.0' WHERE gateway_id = 'gw1'")
        conn.execute(
            "INSERT INTO terminals (terminal_id, gateway_id, model, firmware_version) "
            "VALUES ('t7', 'gw1', 'P400', '7.0-beta')"
        )
    h = Harness(conn, T0, maintenance_chunk=3, poll_policy_s=30)
    h.advance(30)
    assert h.paging() == []
    with conn:  # the dashboard edits the fleet policy
        conn.execute("INSERT INTO firmware_policy (model, min_version) VALUES ('R1', '1.5')")
        conn.execute(
            "INSERT INTO firmware_policy (model, approved_versions) VALUES ('P400', '[\"7.0\"]')"
        )
    h.advance(40)
    assert sorted(h.paging()) == [
        ("firmware_non_compliant", "gw0"),
        ("firmware_non_compliant", "t7"),
    ]
    (summary,) = h.rows("SELECT summary FROM alerts WHERE subject_id = 't7'")[0]
    # t7 names no store of its own: it is in its gateway's (gw1's 'store')
    assert summary == (
        "Terminal t7 (site store) firmware non-compliant: version 7.0-beta is not approved for P400"
    )


def test_one_batch_taking_a_whole_site_and_its_terminals_down_links_every_child(
    conn: db.Connection,
) -> None:
    from collector.model import SubjectType, Transition

    with conn:
        conn.executemany(
            "INSERT INTO terminals (terminal_id, gateway_id, site_id, region_id, model) "
            "VALUES (?, ?, 'solo', 'north', 'P400')",
            [("t1", "lonely"), ("t2", "lonely"), ("t3", "buddy")],
        )
    h = Harness(conn, T0)
    batch = [
        Transition(SubjectType.TERMINAL, t, Liveness.ONLINE, Liveness.DOWN, h.now,
                   DetectedBy.DEADLINE, gateway_id=gw)
        for t, gw in (("t1", "lonely"), ("t2", "lonely"), ("t3", "buddy"))
    ] + [
        Transition(SubjectType.GATEWAY, gw, Liveness.ONLINE, Liveness.DOWN, h.now, DetectedBy.WILL)
        for gw in ("lonely", "buddy")
    ]  # fmt: skip
    with conn:  # children first, parents last, all in one flush
        h.listener.on_transitions(conn, batch, h.now)
    h.advance(300, step=5)
    ids = dict(h.rows("SELECT subject_id, id FROM alerts"))
    links = dict(h.rows("SELECT subject_id, inhibited_by FROM alerts"))
    assert links == {
        "solo": None,
        "lonely": ids["solo"],
        "buddy": ids["solo"],
        "t1": ids["lonely"],
        "t2": ids["lonely"],
        "t3": ids["buddy"],
    }
    assert h.paging() == [("site_down", "solo")]
    assert h.fired_events() == [("site_down", "solo")]


def test_a_call_rolled_back_by_the_loop_is_resynced_from_the_store_without_losing_the_outage(
    conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collector.alerts import repository

    h = Harness(conn, T0)
    real_write = repository.write

    def broken_write(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(repository, "write", broken_write)
    # What collector.processor does: a savepoint per listener call, rolled back on error.
    conn.execute("BEGIN")
    conn.execute(
        "UPDATE gateways SET status = 'down', status_since = ? WHERE gateway_id = 'gw4'",
        (to_db(h.now),),
    )
    conn.execute("SAVEPOINT listener")
    from collector.model import SubjectType, Transition

    with pytest.raises(sqlite3.OperationalError):
        h.listener.on_transitions(
            conn,
            [
                Transition(
                    SubjectType.GATEWAY,
                    "gw4",
                    Liveness.ONLINE,
                    Liveness.DOWN,
                    h.now,
                    DetectedBy.WILL,
                )
            ],
            h.now,
        )
    conn.execute("ROLLBACK TO SAVEPOINT listener")
    conn.execute("RELEASE SAVEPOINT listener")
    conn.execute("COMMIT")
    assert h.rows("SELECT count(*) FROM alerts") == [(0,)]

    monkeypatch.setattr(repository, "write", real_write)
    h.advance(1)
    assert h.rows("SELECT kind, subject_id, state FROM alerts") == [
        ("gateway_down", "gw4", "pending")
    ]
    h.advance(60)
    assert h.fired_events() == [("gateway_down", "gw4")]


def test_operator_actions_ack_and_window_ended_early_drive_the_engine_on_each_engine(
    conn: db.Connection,
) -> None:
    """The operators' actions (collector.actions) against the store the engine reads: an
    acknowledgement stops escalation (a second one is refused), a window ended early lets
    what is still down page."""
    from collector.actions import (
        Actor,
        InvalidAction,
        Role,
        acknowledge_alert,
        create_window,
        end_window_early,
    )

    bob = Actor("bob", Role.OPERATOR)
    h = Harness(conn, T0, escalation_after_s=[300, 600])
    window_id = create_window(
        conn, bob, scope_type="gateway", scope_id="buddy", starts_at=T0,
        ends_at=T0 + timedelta(hours=3), reason="swap router", now=T0,
    )  # fmt: skip
    h.gateway("gw0", Liveness.DOWN)
    h.gateway("buddy", Liveness.DOWN)
    h.advance(61)
    assert h.paging() == [("gateway_down", "gw0")]
    (alert_id,) = h.rows("SELECT id FROM alerts WHERE state = 'firing'")[0]
    acknowledge_alert(conn, bob, int(alert_id), "on it", h.now)
    with pytest.raises(InvalidAction, match="already acknowledged"):
        acknowledge_alert(conn, bob, int(alert_id), "me too", h.now)
    h.advance(1200, step=10)
    assert h.rows("SELECT escalation, acked_by FROM alerts WHERE id = ?", alert_id) == [(1, "bob")]
    end_window_early(conn, bob, window_id, h.now)
    h.advance(120, step=5)
    assert h.paging() == [("gateway_down", "gw0"), ("gateway_down", "buddy")]
    assert h.rows("SELECT action FROM audit_log ORDER BY id") == [
        ("window.create",),
        ("alert.acknowledge",),
        ("window.end_early",),
    ]


SHIPPED = {"pending_gateway_down_s": 1, "pending_site_down_s": 0, "site_spread_s": 90}


def _exported(target: str) -> list[tuple[str, str]]:
    """The posfleet_alert_firing series the collector's /metrics serves from this store."""
    registry = CollectorRegistry()
    fleet = FleetCollector(target)
    registry.register(fleet)
    try:
        return sorted(
            (s.labels["alertname"], s.labels["gateway"] or s.labels["site"])
            for family in registry.collect()
            for s in family.samples
            if s.name == "posfleet_alert_firing"
        )
    finally:
        fleet.close()


def test_a_spread_store_outage_is_stored_down_but_exported_as_one_page(
    conn: db.Connection, store_url: str
) -> None:
    h = Harness(conn, T0, **SHIPPED)
    for gw in GWS:  # wills 15 s apart: 75 s, within 1.5 x a 55 s keepalive
        h.gateway(gw, Liveness.DOWN)
        h.advance(15)
    h.advance(60)
    assert _exported(store_url) == [("gateway_down", "gw0")]
    # The store and the console see the store down, and which page covers it.
    (state, fired_at, details) = h.rows(
        "SELECT state, fired_at, details FROM alerts WHERE kind = 'site_down'"
    )[0]
    assert (state, fired_at) == ("firing", None)
    assert json.loads(str(details))["covered_by"] == "gw0"
    assert h.rows("SELECT ended_at FROM incidents WHERE subject_type = 'site'") == [(None,)]

    h.restart()  # a restarted collector keeps the store covered, and pages nobody
    h.advance(30)
    assert _exported(store_url) == [("gateway_down", "gw0")]

    for gw in GWS:
        h.gateway(gw, Liveness.ONLINE, DetectedBy.BIRTH)
    h.advance(30)
    assert _exported(store_url) == []
    assert h.rows("SELECT count(*) FROM alerts WHERE state != 'resolved'") == [(0,)]
