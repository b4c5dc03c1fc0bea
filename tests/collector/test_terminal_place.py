"""A terminal listed without a store or region of its own (``terminals.csv`` naming only the
terminal and its gateway, as most estates list PIN pads) is where its gateway is: in the
alert sweeps (the page's region routes it), in ``/metrics`` (the region label), in the
effective status (a store's maintenance window covers it) and in the incidents it opens
(the incidents page groups by region and store). The store keeps '' for the columns the
file leaves out, so every read that took the terminal's own columns put it nowhere.

Each test runs on SQLite and PostgreSQL (``store_url``), the estate imported from CSV
(tests/support/estate.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from support.estate import import_estate

from collector.actions import Actor, Role, create_window, set_schedule, set_suspended
from collector.alerts.repository import load_policies
from collector.alerts.sweeps import FirmwareSweep
from collector.metrics import FleetCollector
from collector.model import DetectedBy, Liveness, SubjectType, Transition
from collector.store import db
from collector.store.store import Store
from collector.store.times import to_db
from tests.alerts.store import Harness

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # past pp-1's service date + 365 days
OPERATOR = Actor("olga", Role.OPERATOR)


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    s = Store(store_url)
    import_estate(s.conn, tmp_path / "estate")
    try:
        yield s
    finally:
        s.close()


def _places(conn: db.Connection, sql: str) -> dict[str, tuple[object, ...]]:
    return {str(r[0]): tuple(r[1:]) for r in conn.execute(sql).fetchall()}


def test_a_pin_pads_overdue_maintenance_is_paged_to_its_gateways_region(store: Store) -> None:
    h = Harness(store.conn, T0, maintenance_chunk=10, poll_maintenance_s=5)
    h.advance(6)
    found = _places(
        store.conn,
        "SELECT subject_id, region_id, site_id, summary FROM alerts "
        "WHERE kind = 'maintenance_overdue'",
    )
    assert found["pp-1"][:2] == ("east", "s-sh")
    assert "Terminal pp-1 (site s-sh) maintenance overdue" in str(found["pp-1"][2])
    assert found["pp-9"][:2] == ("west", "s-cd")  # its own place, as before


def test_a_stores_cleaning_schedule_applies_to_the_pin_pads_listed_without_a_store(
    store: Store, store_url: str
) -> None:
    with store.conn as conn:  # serviced a month ago: the model's 365 days are far off
        conn.execute("UPDATE terminals SET last_service_at = ?", (to_db(T0 - timedelta(30)),))
    set_schedule(
        store.conn, Actor("ada", Role.ADMIN), task_type="cleaning", scope_type="site",
        scope_id="s-sh", every_n=2, every_unit="weeks", now=T0,
    )  # fmt: skip
    h = Harness(store.conn, T0, maintenance_chunk=10, poll_maintenance_s=5)
    h.advance(6)
    assert _places(
        store.conn,
        "SELECT subject_id, region_id, state FROM alerts WHERE kind = 'maintenance_overdue'",
    ) == {"pp-1": ("east", "firing"), "pp-2": ("east", "firing")}


def test_a_firmware_policy_change_pages_a_pin_pad_in_its_gateways_region(store: Store) -> None:
    with store.conn as conn:
        conn.execute("INSERT INTO firmware_policy (model, min_version) VALUES ('PP-10', '2.0')")
        conn.execute("UPDATE terminals SET firmware_version = '1.0'")
    sweep = FirmwareSweep(chunk=1)  # a chunk per terminal: paging goes on past the first
    sweep.start()
    verdicts = []
    while sweep.running:
        verdicts += sweep.step(store.conn, load_policies(store.conn), T0)
    where = {v.key.subject_id: (v.place.region_id, v.place.site_id, v.active) for v in verdicts}
    assert where == {
        "pp-1": ("east", "s-sh", True),
        "pp-2": ("east", "s-sh", True),
        "pp-9": ("west", "s-cd", True),
    }


def _samples(url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    registry = CollectorRegistry()
    fleet = FleetCollector(url)
    registry.register(fleet)
    try:
        return {
            tuple(sorted(s.labels.items())): s.value
            for family in registry.collect()
            for s in family.samples
            if s.name == name
        }
    finally:
        fleet.close()


def test_maintenance_due_and_terminal_gauges_count_a_pin_pad_in_its_gateways_region(
    store: Store, store_url: str
) -> None:
    due = _samples(store_url, "posfleet_maintenance_due")
    # pp-1 and pp-2 were serviced on 2025-01-02, every 365 days: overdue in region east.
    assert due == {
        (("region", "east"), ("state", "overdue")): 2,
        (("region", "west"), ("state", "overdue")): 1,
    }
    terminals = _samples(store_url, "posfleet_terminals")
    assert terminals == {
        (("model", "PP-10"), ("region", "east"), ("status", "online")): 2,
        (("model", "PP-10"), ("region", "west"), ("status", "online")): 1,
    }


def test_the_terminal_gauge_counts_a_pin_pad_whose_gateway_is_unlisted_or_placeless(
    store: Store, store_url: str
) -> None:
    # The gauge joins each terminal's gateway: a terminal whose gateway is not in the
    # inventory, or is there without a region, is still counted, in region '' (as the
    # console's place rule has it), and one with a region of its own keeps it.
    with store.conn as conn:
        conn.execute(
            "INSERT INTO gateways (gateway_id, model, status) VALUES ('gw-3', 'R1', 'online')"
        )
        conn.execute(
            "INSERT INTO terminals (terminal_id, gateway_id, model, status) VALUES "
            "('pp-30', 'gw-3', 'PP-10', 'online'), ('pp-40', 'gw-gone', 'PP-10', 'online')"
        )
        conn.execute(
            "INSERT INTO terminals (terminal_id, gateway_id, region_id, model, status) "
            "VALUES ('pp-41', 'gw-gone', 'west', 'PP-10', 'online')"
        )
    terminals = _samples(store_url, "posfleet_terminals")
    assert terminals == {
        (("model", "PP-10"), ("region", "east"), ("status", "online")): 2,
        (("model", "PP-10"), ("region", "west"), ("status", "online")): 2,  # pp-9, pp-41
        # pp-30 behind a gateway with no region; pp-40 behind one the inventory lacks.
        (("model", "PP-10"), ("region", ""), ("status", "online")): 2,
    }


def test_a_stores_maintenance_window_covers_the_pin_pads_listed_without_a_store(
    store: Store, store_url: str
) -> None:
    now = datetime.now(UTC)  # the scrape reads the windows active now
    create_window(
        store.conn, OPERATOR, scope_type="site", scope_id="s-sh",
        starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1),
        reason="refit", now=now,
    )  # fmt: skip
    terminals = _samples(store_url, "posfleet_terminals")
    assert terminals == {
        (("model", "PP-10"), ("region", "east"), ("status", "maintenance")): 2,
        (("model", "PP-10"), ("region", "west"), ("status", "online")): 1,
    }


def _down(store: Store, terminal: str, at: datetime) -> None:
    t = Transition(
        SubjectType.TERMINAL, terminal, Liveness.ONLINE, Liveness.DOWN, at,
        DetectedBy.DEADLINE, gateway_id="gw-1",
    )  # fmt: skip
    with store.conn as conn:
        assert store.apply_transitions(conn, [t]) == [t]


def test_a_pin_pads_incidents_are_filed_under_its_gateways_store_and_region(
    store: Store,
) -> None:
    _down(store, "pp-1", T0)
    set_suspended(store.conn, OPERATOR, "terminal", "pp-1", True, "merchant violation", T0)
    rows = store.conn.execute(
        "SELECT class, region_id, site_id FROM incidents WHERE subject_id = 'pp-1' "
        "ORDER BY started_at, class"
    ).fetchall()
    # The fault until the suspension, then the administrative one: both in s-sh, east.
    assert [tuple(r) for r in rows] == [
        ("administrative", "east", "s-sh"),
        ("fault", "east", "s-sh"),
    ]
