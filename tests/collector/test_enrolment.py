"""Ids not in the inventory: listed for enrolment, never tracked, stored nor paged
(collector/enrolment.py), with a fake clock, a real store of each engine and the real alert
engine."""

from __future__ import annotations

import csv
import queue
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from support.sales import sales_window

from collector.alerts.config import AlertSettings
from collector.alerts.listener import build_listener
from collector.config import ConfigError, load_settings
from collector.enrolment import AutoEnrol, Enrolment, EnrolmentSettings
from collector.ingest import LinkEvent, Received
from collector.inventory import InventoryError, import_dir, upsert_rows
from collector.liveness import LivenessTracker
from collector.main import main
from collector.metrics import CollectorMetrics
from collector.model import Liveness, SubjectType
from collector.processor import Processor
from collector.store.store import Store, connect
from telemetry import FakeClock, Heartbeat, Kind, Status, encode, topic_for
from telemetry.models import LinkState, OfflineReason

_OPEN: list[Store] = []  # every Rig's store, closed after its test


@pytest.fixture(autouse=True)
def _close_rig_stores() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()  # closing twice is harmless on both engines


class Rig:
    """A processor with the alert engine, as ``collector.main`` wires it."""

    def __init__(
        self,
        target: str,
        *,
        enrolled: Sequence[str] = ("gw-known",),
        auto: AutoEnrol = AutoEnrol.OFF,
        max_listed: int = 1000,
    ) -> None:
        self.clock = FakeClock()
        self.registry = CollectorRegistry()
        self.store = Store(target, enrolment_max=max_listed)
        _OPEN.append(self.store)
        with self.store.conn:
            upsert_rows(self.store.conn, "sites", [{"site_id": "S1", "region_id": "north"}])
            upsert_rows(
                self.store.conn,
                "gateways",
                [{"gateway_id": g, "site_id": "S1", "region_id": "north"} for g in enrolled],
            )
        with self.store.transaction() as conn:
            listener = build_listener(
                conn, AlertSettings(), now=self.clock.now(), monotonic=self.clock.monotonic
            )
        enrolment = Enrolment(
            self.store.enrolled,
            EnrolmentSettings(auto, "unassigned"),
            moves=self.store.terminal_moves,
        )
        enrolment.load(*self.store.enrolled_ids())
        self.p = Processor(
            self.store,
            LivenessTracker(),
            CollectorMetrics(self.registry),
            queue.SimpleQueue(),
            listeners=[listener],
            clock=self.clock,
            enrolment=enrolment,
        )
        self.p.process([LinkEvent(True, self.clock.now(), self.clock.monotonic())])
        self.seq: dict[str, int] = {}

    def beat(self, gw: str, terminal: str | None = None, interval: float = 10) -> Received:
        key = f"{gw}/{terminal}"
        seq = self.seq[key] = self.seq.get(key, -1) + 1
        hb = Heartbeat(
            gw=gw, terminal=terminal, ts=self.clock.now(), session=1, seq=seq, interval=interval
        )
        topic = topic_for(gw, Kind.HEARTBEAT, terminal)
        return Received(topic, encode(hb), self.clock.now(), self.clock.monotonic())

    def status(self, gw: str, state: LinkState) -> Received:
        reason = OfflineReason.CONNECTION_LOST if state is LinkState.OFFLINE else None
        st = Status(gw=gw, ts=self.clock.now(), state=state, session=1, reason=reason)
        return Received(
            topic_for(gw, Kind.STATUS), encode(st), self.clock.now(), self.clock.monotonic()
        )

    def rows(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        return self.store.conn.execute(sql, args).fetchall()

    def sample(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)

    def silence(self, seconds: float, step: float = 1.0) -> None:
        """Time passes with nothing received; deadlines and the alert engine's ticks run."""
        waited = 0.0
        while waited < seconds:
            self.clock.advance(step)
            waited += step
            self.p.process([])


def test_an_unknown_gateway_is_listed_for_enrolment_and_never_tracked_nor_stored(
    store_url: str,
) -> None:
    rig = Rig(store_url)
    t0 = rig.clock.now()
    rig.p.process([rig.status("gw-stranger", LinkState.ONLINE), rig.beat("gw-stranger")])
    rig.clock.advance(5)
    rig.p.process([rig.beat("gw-stranger")])
    assert rig.rows("SELECT gateway_id FROM gateways") == [("gw-known",)]
    assert rig.rows(
        "SELECT subject_type, subject_id, gateway_id, first_seen_at, last_seen_at, messages, "
        "last_kind FROM enrolment"
    ) == [
        (
            "gateway",
            "gw-stranger",
            "",
            t0.isoformat(timespec="microseconds"),
            rig.clock.now().isoformat(timespec="microseconds"),
            3,
            "heartbeat",
        )
    ]
    assert rig.p.tracker.get(SubjectType.GATEWAY, "gw-stranger") is None
    assert rig.sample("posfleet_collector_rejected_total", reason="unregistered") == 3.0
    assert rig.sample("posfleet_collector_messages_total", kind="heartbeat") == 0.0
    assert rig.rows("SELECT count(*) FROM telemetry") == [(0,)]


def test_an_unknown_gateway_that_stops_beating_or_dies_is_never_paged(store_url: str) -> None:
    rig = Rig(store_url, enrolled=["gw-known"])
    for gw in ("gw-known", "gw-stranger"):
        rig.p.process([rig.status(gw, LinkState.ONLINE), rig.beat(gw)])
    rig.p.process([rig.status("gw-ghost", LinkState.ONLINE), rig.beat("gw-ghost")])
    rig.p.process([rig.status("gw-ghost", LinkState.OFFLINE)])  # its will
    rig.silence(10 + 2.5 + 2.5 + 90)  # past down, then past gateway_down's pending_for
    # The enrolled gateway that went silent the same way is paged (as its store, the only
    # gateway there): the engine was running.
    assert rig.rows("SELECT kind, subject_id, state FROM alerts ORDER BY 1") == [
        ("gateway_down", "gw-known", "suppressed"),
        ("site_down", "S1", "firing"),
    ]
    assert rig.rows("SELECT DISTINCT subject_id FROM state_changes ORDER BY 1") == [
        ("S1",),
        ("gw-known",),
    ]
    assert rig.rows("SELECT subject_id FROM incidents ORDER BY 1") == [("S1",), ("gw-known",)]
    assert sorted(rig.rows("SELECT subject_id FROM enrolment")) == [
        ("gw-ghost",),
        ("gw-stranger",),
    ]


def test_the_enrolment_list_is_bounded_and_drops_the_least_recently_seen(
    store_url: str,
) -> None:
    rig = Rig(store_url, max_listed=5)
    for i in range(8):
        rig.clock.advance(1)
        rig.p.process([rig.beat(f"gw-hostile-{i}")])
    rig.clock.advance(1)
    rig.p.process([rig.beat("gw-hostile-3")])  # still talking: seen again, kept
    for i in range(8, 10):
        rig.clock.advance(1)
        rig.p.process([rig.beat(f"gw-hostile-{i}")])
    listed = sorted(str(r[0]) for r in rig.rows("SELECT subject_id FROM enrolment"))
    assert listed == [f"gw-hostile-{i}" for i in (3, 6, 7, 8, 9)]
    assert rig.sample("posfleet_collector_enrolment_dropped_total") == 5.0
    assert rig.sample("posfleet_collector_rejected_total", reason="unregistered") == 11.0
    assert rig.rows("SELECT count(*) FROM gateways") == [(1,)]


def test_an_id_imported_while_the_collector_runs_is_tracked_from_its_next_message(
    store_url: str,
) -> None:
    rig = Rig(store_url)
    rig.p.process([rig.beat("gw-new")])
    assert rig.rows("SELECT subject_id FROM enrolment") == [("gw-new",)]
    # The operator imports it from another process (posfleet-collector import-inventory).
    other = connect(rig.store.target)
    with other:
        upsert_rows(other, "sites", [{"site_id": "S2", "region_id": "north"}])
        upsert_rows(other, "gateways", [{"gateway_id": "gw-new", "site_id": "S2"}])
    other.close()
    assert rig.rows("SELECT count(*) FROM enrolment") == [(0,)]
    rig.clock.advance(1)
    rig.p.process([rig.beat("gw-new")])
    assert rig.rows("SELECT status, site_id FROM gateways WHERE gateway_id='gw-new'") == [
        ("online", "S2")
    ]
    assert rig.rows("SELECT count(*) FROM enrolment") == [(0,)]


def test_an_unknown_terminal_behind_an_enrolled_gateway_is_listed_with_its_gateway(
    store_url: str,
) -> None:
    rig = Rig(store_url)
    rig.p.process([rig.beat("gw-known"), rig.beat("gw-known", "pinpad-new")])
    assert rig.rows("SELECT count(*) FROM terminals") == [(0,)]
    assert rig.rows("SELECT subject_type, subject_id, gateway_id FROM enrolment") == [
        ("terminal", "pinpad-new", "gw-known")
    ]
    assert rig.p.tracker.get(SubjectType.TERMINAL, "pinpad-new") is None
    assert rig.rows("SELECT status FROM gateways") == [("online",)]  # its gateway goes on


def test_auto_enrol_all_tracks_an_unknown_gateway_in_the_unassigned_region(
    store_url: str,
) -> None:
    rig = Rig(store_url, auto=AutoEnrol.ALL)
    rig.p.process([rig.status("gw-auto", LinkState.ONLINE), rig.beat("gw-auto")])
    rig.p.process([rig.beat("gw-auto", "pinpad-auto")])
    assert rig.rows(
        "SELECT gateway_id, site_id, region_id, registered, status FROM gateways "
        "WHERE gateway_id='gw-auto'"
    ) == [("gw-auto", "", "unassigned", 1, "online")]
    assert rig.rows("SELECT terminal_id, region_id, registered, status FROM terminals") == [
        ("pinpad-auto", "unassigned", 1, "online")
    ]
    assert rig.rows("SELECT count(*) FROM enrolment") == [(0,)]
    assert rig.sample("posfleet_collector_auto_enrolled_total", subject_type="gateway") == 1.0
    assert rig.rows("SELECT actor, action, subject FROM audit_log ORDER BY id") == [
        ("collector", "enrolment.auto", "gateway:gw-auto"),
        ("collector", "enrolment.auto", "terminal:pinpad-auto"),
    ]
    rig.silence(10 + 2.5 + 2.5 + 90)
    assert rig.rows("SELECT kind, region_id, state FROM alerts WHERE subject_id='gw-auto'") == [
        ("gateway_down", "unassigned", "firing")
    ]


def test_auto_enrol_terminals_gives_a_new_pinpad_its_gateways_site_but_lists_gateways(
    store_url: str,
) -> None:
    rig = Rig(store_url, auto=AutoEnrol.TERMINALS)
    rig.p.process([rig.beat("gw-known"), rig.beat("gw-known", "pinpad-new")])
    rig.p.process([rig.beat("gw-stranger")])
    assert rig.rows("SELECT terminal_id, site_id, region_id, status FROM terminals") == [
        ("pinpad-new", "S1", "north", "online")
    ]
    assert rig.rows("SELECT subject_type, subject_id FROM enrolment") == [
        ("gateway", "gw-stranger")
    ]


def test_a_transition_the_store_no_longer_holds_writes_no_state_change_nor_incident(
    store_url: str,
) -> None:
    """The conditional UPDATE's row count decides (healthchecks' sendalerts)."""
    from collector.model import DetectedBy, Transition

    store = Store(store_url)
    conn = store.conn
    with conn:
        conn.execute("INSERT INTO gateways (gateway_id, status) VALUES ('gw-1', 'online')")
    clock = FakeClock()
    stale = Transition(
        SubjectType.GATEWAY, "gw-1", Liveness.LATE, Liveness.DOWN, clock.now(), DetectedBy.DEADLINE
    )
    held = Transition(
        SubjectType.GATEWAY,
        "gw-1",
        Liveness.ONLINE,
        Liveness.LATE,
        clock.now(),
        DetectedBy.DEADLINE,
    )
    with store.transaction() as c:
        applied = store.apply_transitions(c, [stale])
    assert applied == []
    assert conn.execute("SELECT count(*) FROM state_changes").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM incidents").fetchone() == (0,)
    assert conn.execute("SELECT status FROM gateways").fetchone() == ("online",)
    with store.transaction() as c:
        assert store.apply_transitions(c, [held]) == [held]
    assert conn.execute("SELECT from_status, to_status FROM state_changes").fetchall() == [
        ("online", "late")
    ]
    store.close()


class Recorder:
    def __init__(self) -> None:
        self.transitions: list[tuple[str, str, str]] = []

    def on_messages(self, conn: sqlite3.Connection, messages: object, now: datetime) -> None:
        pass

    def on_transitions(
        self, conn: sqlite3.Connection, transitions: Sequence[object], now: datetime
    ) -> None:
        for t in transitions:
            self.transitions.append((t.subject_id, t.from_status.value, t.to_status.value))  # type: ignore[attr-defined]

    def tick(self, conn: sqlite3.Connection, now: datetime) -> None:
        pass


def test_a_lost_race_is_counted_hidden_from_listeners_and_the_tracker_takes_the_stored_status(
    store_url: str,
) -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    store = Store(store_url)
    with store.conn:
        upsert_rows(store.conn, "gateways", [{"gateway_id": "gw-1"}])
    recorder = Recorder()
    p = Processor(
        store,
        LivenessTracker(),
        CollectorMetrics(registry),
        queue.SimpleQueue(),
        listeners=[recorder],
        clock=clock,
    )
    hb = Heartbeat(gw="gw-1", ts=clock.now(), session=1, seq=0, interval=10)
    p.process(
        [
            LinkEvent(True, clock.now(), clock.monotonic()),
            Received(topic_for("gw-1", Kind.HEARTBEAT), encode(hb), clock.now(), clock.monotonic()),
        ]
    )
    assert recorder.transitions == [("gw-1", "unknown", "online")]
    # Another writer (a second collector on the shared subscription) already took it down.
    other = connect(store.target)
    with other:
        other.execute("UPDATE gateways SET status='down' WHERE gateway_id='gw-1'")
    other.close()
    clock.advance(10 + 2.5 + 0.1)  # past the deadline: the tracker says online -> late
    p.process([])
    assert recorder.transitions == [("gw-1", "unknown", "online")]
    assert (
        registry.get_sample_value(
            "posfleet_collector_transitions_lost_total", {"subject_type": "gateway"}
        )
        == 1.0
    )
    assert store.conn.execute("SELECT to_status FROM state_changes").fetchall() == [("online",)]
    assert store.conn.execute("SELECT count(*) FROM incidents").fetchone() == (0,)
    state = p.tracker.get(SubjectType.GATEWAY, "gw-1")
    assert state is not None
    assert state.status is Liveness.DOWN
    clock.advance(30)
    p.process([])  # and it does not try again from the status it had believed
    assert recorder.transitions == [("gw-1", "unknown", "online")]
    store.close()


def test_unregistered_rows_of_an_older_release_are_listed_and_their_pages_voided(
    store_url: str,
) -> None:
    store = Store(store_url)
    conn = store.conn
    with conn:
        conn.execute(
            "INSERT INTO gateways (gateway_id, registered, status, last_seen_at) "
            "VALUES ('gw-rogue', 0, 'down', '2026-11-01T10:00:00.000000+00:00')"
        )
        conn.execute(
            "INSERT INTO gateways (gateway_id, site_id, status) VALUES ('gw-ok', 'S1', 'down')"
        )
        for gw, state in (("gw-rogue", "firing"), ("gw-ok", "firing")):
            conn.execute(
                "INSERT INTO alerts (kind, subject_type, subject_id, state, started_at) "
                "VALUES ('gateway_down', 'gateway', ?, ?, '2026-11-01T10:00:00+00:00')",
                (gw, state),
            )
            conn.execute(
                "INSERT INTO incidents (subject_type, subject_id, started_at) "
                "VALUES ('gateway', ?, '2026-11-01T10:00:00+00:00')",
                (gw,),
            )
    clock = FakeClock()
    counts = store.retire_unregistered(clock.now(), adopt_terminals=False, adopt_gateways=None)
    assert counts == {"alerts resolved": 1, "incidents closed": 1, "gateways listed": 1}
    assert conn.execute("SELECT gateway_id FROM gateways").fetchall() == [("gw-ok",)]
    assert conn.execute("SELECT subject_id, last_seen_at FROM enrolment").fetchall() == [
        ("gw-rogue", "2026-11-01T10:00:00.000000+00:00")
    ]
    assert conn.execute("SELECT subject_id, state FROM alerts ORDER BY 1").fetchall() == [
        ("gw-ok", "firing"),
        ("gw-rogue", "resolved"),
    ]
    assert conn.execute("SELECT subject_id FROM incidents WHERE ended_at IS NULL").fetchall() == [
        ("gw-ok",)
    ]
    assert [s.subject_id for s in store.load_liveness()] == ["gw-ok"]
    store.close()


def test_the_enrolment_list_exports_as_inventory_files_an_operator_completes_and_imports(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = Rig(store_url)
    rig.p.process([rig.beat("gw-stranger"), rig.beat("gw-known", "pinpad-new")])
    rig.store.close()
    db = store_url
    assert main(["enrolment", "list", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "gateway\tgw-stranger\t" in out
    assert "terminal\tpinpad-new\tgw-known\t" in out
    out_dir = tmp_path / "enrol"
    assert main(["enrolment", "export", "--db", db, str(out_dir)]) == 0
    with (out_dir / "terminals.csv").open() as fh:
        assert list(csv.DictReader(fh)) == [
            {
                "terminal_id": "pinpad-new",
                "gateway_id": "gw-known",
                "site_id": "S1",
                "region_id": "north",
            }
        ]
    gateways = (out_dir / "gateways.csv").read_text()
    assert gateways.splitlines() == ["gateway_id,site_id,region_id", "gw-stranger,,"]
    # Imported as exported, the empty site is refused with a message naming it.
    assert main(["import-inventory", "--db", db, str(out_dir)]) == 2
    assert "site_id" in capsys.readouterr().err
    (out_dir / "gateways.csv").write_text("gateway_id,site_id,region_id\ngw-stranger,S9,south\n")
    (out_dir / "sites.csv").write_text("site_id,region_id\nS9,south\n")  # a new store too
    conn = connect(db)
    import_dir(conn, out_dir)
    assert conn.execute("SELECT count(*) FROM enrolment").fetchone() == (0,)
    assert conn.execute(
        "SELECT site_id FROM terminals WHERE terminal_id='pinpad-new'"
    ).fetchone() == ("S1",)
    conn.close()


def test_auto_enrol_setting_reads_true_as_all_and_names_itself_when_wrong(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POSFLEET_AUTO_ENROL", "true")
    assert load_settings().auto_enrol is AutoEnrol.ALL
    monkeypatch.setenv("POSFLEET_AUTO_ENROL", "terminals")
    assert load_settings().auto_enrol is AutoEnrol.TERMINALS
    assert load_settings(auto_enrol=None).auto_enrol is AutoEnrol.TERMINALS
    monkeypatch.setenv("POSFLEET_AUTO_ENROL", "sometimes")
    with pytest.raises(ConfigError, match="POSFLEET_AUTO_ENROL"):
        load_settings()
    monkeypatch.delenv("POSFLEET_AUTO_ENROL")
    assert load_settings().auto_enrol is AutoEnrol.OFF


def test_unregistered_rows_of_an_older_release_are_adopted_when_auto_enrolment_covers_them(
    store_url: str,
) -> None:
    store = Store(store_url)
    conn = store.conn
    with conn:
        conn.execute(
            "INSERT INTO gateways (gateway_id, site_id, region_id) VALUES ('gw-ok', 'S1', 'north')"
        )
        conn.execute("INSERT INTO gateways (gateway_id, registered) VALUES ('gw-rogue', 0)")
        conn.executemany(
            "INSERT INTO terminals (terminal_id, gateway_id, registered) VALUES (?, ?, 0)",
            [("pad-behind-ok", "gw-ok"), ("pad-behind-rogue", "gw-rogue")],
        )
    counts = store.retire_unregistered(FakeClock().now(), adopt_terminals=True, adopt_gateways=None)
    assert counts == {"terminals adopted": 1, "gateways listed": 1, "terminals listed": 1}
    assert conn.execute("SELECT terminal_id, site_id, region_id FROM terminals").fetchall() == [
        ("pad-behind-ok", "S1", "north")
    ]
    assert sorted(conn.execute("SELECT subject_type, subject_id FROM enrolment")) == [
        ("gateway", "gw-rogue"),
        ("terminal", "pad-behind-rogue"),
    ]
    with conn:
        conn.execute("INSERT INTO gateways (gateway_id, registered) VALUES ('gw-walkin', 0)")
    counts = store.retire_unregistered(
        FakeClock().now(), adopt_terminals=True, adopt_gateways="unassigned"
    )
    assert counts == {"gateways adopted": 1}
    assert conn.execute(
        "SELECT region_id, registered FROM gateways WHERE gateway_id='gw-walkin'"
    ).fetchall() == [("unassigned", 1)]
    store.close()


# ------------------------------------------------- a terminal speaks only through its gateway
def _pinpad_behind(rig: Rig, terminal: str, gateway: str) -> None:
    """The inventory puts ``terminal`` behind ``gateway``, imported by another process."""
    other = connect(rig.store.target)
    with other:
        upsert_rows(
            other,
            "terminals",
            [
                {
                    "terminal_id": terminal,
                    "gateway_id": gateway,
                    "site_id": "S1",
                    "region_id": "north",
                }
            ],
        )
    other.close()


def _window(rig: Rig, gw: str, terminal: str, approved: int) -> Received:
    now = rig.clock.now()
    txn = sales_window(gw, terminal, now, approved)
    topic = topic_for(gw, Kind.TRANSACTIONS, terminal)
    return Received(topic, encode(txn), now, rig.clock.monotonic())


def _terminal_status(rig: Rig, gw: str, terminal: str, state: LinkState) -> Received:
    st = Status(gw=gw, terminal=terminal, ts=rig.clock.now(), state=state, session=1)
    topic = topic_for(gw, Kind.STATUS, terminal)
    return Received(topic, encode(st), rig.clock.now(), rig.clock.monotonic())


def test_another_gateway_cannot_keep_a_dead_terminal_alive_nor_put_money_on_it(
    store_url: str,
) -> None:
    rig = Rig(store_url, enrolled=("gw-a", "gw-b"))
    _pinpad_behind(rig, "pinpad-a", "gw-a")
    for gw in ("gw-a", "gw-b"):
        rig.p.process([rig.status(gw, LinkState.ONLINE), rig.beat(gw)])
    rig.p.process([rig.beat("gw-a", "pinpad-a"), _window(rig, "gw-a", "pinpad-a", 3)])
    assert rig.rows("SELECT status FROM terminals WHERE terminal_id='pinpad-a'") == [("online",)]
    # pinpad-a dies; gw-b goes on beating for it, marks it online and reports sales on it,
    # while both gateways stay up.
    forged = 0
    for _ in range(20):
        rig.clock.advance(1)
        rig.p.process(
            [
                rig.beat("gw-a", interval=10),
                rig.beat("gw-b", interval=10),
                rig.beat("gw-b", "pinpad-a"),
                _terminal_status(rig, "gw-b", "pinpad-a", LinkState.ONLINE),
                _window(rig, "gw-b", "pinpad-a", 50),
            ]
        )
        forged += 3
    assert rig.rows("SELECT status FROM terminals WHERE terminal_id='pinpad-a'") == [("down",)]
    assert rig.rows("SELECT status FROM gateways ORDER BY gateway_id") == [
        ("online",),
        ("online",),
    ]
    assert rig.rows("SELECT gateway_id, terminal_id FROM txn_aggregates") == [("gw-a", "pinpad-a")]
    state = rig.p.tracker.get(SubjectType.TERMINAL, "pinpad-a")
    assert state is not None
    assert state.gateway_id == "gw-a"
    assert rig.sample("posfleet_collector_rejected_total", reason="wrong_gateway") == forged
    # Rejected, not listed: pinpad-a is enrolled, it is just not gw-b's.
    assert rig.rows("SELECT count(*) FROM enrolment") == [(0,)]
    assert rig.sample("posfleet_collector_rejected_total", reason="unregistered") == 0.0


def test_auto_enrolment_never_moves_another_gateways_terminal(store_url: str) -> None:
    rig = Rig(store_url, enrolled=("gw-a", "gw-b"), auto=AutoEnrol.ALL)
    _pinpad_behind(rig, "pinpad-a", "gw-a")
    rig.p.process([rig.beat("gw-b", "pinpad-a"), rig.beat("gw-b", "pinpad-new")])
    assert rig.rows("SELECT terminal_id, gateway_id FROM terminals ORDER BY 1") == [
        ("pinpad-a", "gw-a"),
        ("pinpad-new", "gw-b"),
    ]
    assert rig.sample("posfleet_collector_rejected_total", reason="wrong_gateway") == 1.0


def test_a_terminal_moved_in_the_inventory_is_taken_from_its_new_gateway_only(
    store_url: str,
) -> None:
    rig = Rig(store_url, enrolled=("gw-a", "gw-b"))
    _pinpad_behind(rig, "pinpad-a", "gw-a")
    rig.p.process([rig.beat("gw-a", "pinpad-a")])  # held in memory behind gw-a
    # The pad is carried to gw-b's counter; the operator imports the move while we run.
    _pinpad_behind(rig, "pinpad-a", "gw-b")
    # The old gateway is refused at once, before the new one has said anything about it.
    rig.clock.advance(1)
    rig.p.process([rig.beat("gw-a", "pinpad-a"), _window(rig, "gw-a", "pinpad-a", 9)])
    assert rig.sample("posfleet_collector_rejected_total", reason="wrong_gateway") == 2.0
    assert rig.rows("SELECT count(*) FROM txn_aggregates") == [(0,)]
    rig.clock.advance(1)
    rig.p.process([rig.beat("gw-b", "pinpad-a"), _window(rig, "gw-b", "pinpad-a", 4)])
    rig.clock.advance(1)
    rig.p.process([rig.beat("gw-a", "pinpad-a")])  # and after the new one has spoken
    state = rig.p.tracker.get(SubjectType.TERMINAL, "pinpad-a")
    assert state is not None
    assert state.gateway_id == "gw-b"
    assert rig.rows("SELECT gateway_id FROM txn_aggregates") == [("gw-b",)]
    assert rig.sample("posfleet_collector_messages_total", kind="heartbeat") == 2.0
    assert rig.sample("posfleet_collector_rejected_total", reason="wrong_gateway") == 3.0


def test_an_import_without_a_gateway_for_a_terminal_moves_nothing(store_url: str) -> None:
    """A terminals row without a gateway (no gateway_id column, or an empty one) is refused,
    naming gateway_id, as before moves were taken at once: the terminal stays behind its
    gateway, and the move counter is not touched."""
    rig = Rig(store_url, enrolled=("gw-a", "gw-b"))
    _pinpad_behind(rig, "pinpad-a", "gw-a")
    rig.p.process([rig.beat("gw-a", "pinpad-a")])
    moves = rig.rows("SELECT value FROM meta WHERE key='terminal_moves'")
    other = connect(rig.store.target)
    for row in (
        {"terminal_id": "pinpad-a", "serial": "SN-2"},
        {"terminal_id": "pinpad-a", "gateway_id": ""},
    ):
        with pytest.raises(InventoryError, match="gateway_id"), other:
            upsert_rows(other, "terminals", [row])
    other.close()
    rig.clock.advance(1)
    rig.p.process([rig.beat("gw-a", "pinpad-a"), rig.beat("gw-b", "pinpad-a")])
    assert rig.rows(
        "SELECT gateway_id, serial, moved_seq FROM terminals WHERE terminal_id='pinpad-a'"
    ) == [("gw-a", "", 0)]
    assert rig.rows("SELECT value FROM meta WHERE key='terminal_moves'") == moves
    assert rig.sample("posfleet_collector_messages_total", kind="heartbeat") == 2.0
    assert rig.sample("posfleet_collector_rejected_total", reason="wrong_gateway") == 1.0


def test_only_an_import_that_moves_a_terminal_takes_a_move_number(store_url: str) -> None:
    """Re-importing the same terminals.csv (new rows, or the same gateways again: the usual
    weekly export) moves nothing: the counter stays, so running collectors re-read nothing and,
    on PostgreSQL, such imports take no lock on it. A real move takes the next number, and only
    the moved row carries it."""

    def counter() -> list[tuple[str]]:
        return rig.rows("SELECT value FROM meta WHERE key='terminal_moves'")

    rig = Rig(store_url, enrolled=("gw-a", "gw-b"))
    for _ in range(2):
        _pinpad_behind(rig, "pinpad-a", "gw-a")
        _pinpad_behind(rig, "pinpad-b", "gw-a")
    assert counter() == []
    assert rig.rows("SELECT moved_seq FROM terminals ORDER BY terminal_id") == [(0,), (0,)]
    _pinpad_behind(rig, "pinpad-b", "gw-b")
    assert counter() == [("1",)]
    _pinpad_behind(rig, "pinpad-a", "gw-a")
    _pinpad_behind(rig, "pinpad-b", "gw-b")
    assert counter() == [("1",)]
    assert rig.rows("SELECT terminal_id, moved_seq FROM terminals ORDER BY terminal_id") == [
        ("pinpad-a", 0),
        ("pinpad-b", 1),
    ]
    # and the running collector takes the move from its next batch
    rig.clock.advance(1)
    rig.p.process([rig.beat("gw-a", "pinpad-b")])
    assert rig.sample("posfleet_collector_rejected_total", reason="wrong_gateway") == 1.0


# ------------------------------------------- a moved terminal's liveness follows the inventory
def _run(rig: Rig, seconds: int, *gateways: str) -> None:
    """``seconds`` pass, the named gateways beating every second."""
    for _ in range(seconds):
        rig.clock.advance(1)
        rig.p.process([rig.beat(gw) for gw in gateways])


def test_a_terminal_moved_before_its_old_gateway_dies_is_judged_behind_the_new_one(
    store_url: str,
) -> None:
    """gw-b has never reported: after the import the pad is gw-b's all the same, so gw-a's
    death neither holds it (suppressed, unjudged) nor names it."""
    rig = Rig(store_url, enrolled=("gw-a", "gw-b"))
    _pinpad_behind(rig, "pinpad-a", "gw-a")
    rig.p.process(
        [rig.status("gw-a", LinkState.ONLINE), rig.beat("gw-a"), rig.beat("gw-a", "pinpad-a")]
    )
    _pinpad_behind(rig, "pinpad-a", "gw-b")
    _run(rig, 1, "gw-a")  # the batch that takes the move
    rig.p.process([rig.status("gw-a", LinkState.OFFLINE)])
    rig.silence(120)
    assert rig.rows(
        "SELECT terminal_id, gateway_id, status FROM terminals WHERE terminal_id='pinpad-a'"
    ) == [("pinpad-a", "gw-b", "down")]
    assert rig.rows(
        "SELECT kind, subject_id, gateway_id, state, inhibited_by FROM alerts "
        "WHERE state <> 'resolved' ORDER BY kind"
    ) == [
        ("gateway_down", "gw-a", "gw-a", "firing", None),
        ("terminal_down", "pinpad-a", "gw-b", "firing", None),
    ]
    (summary,) = rig.rows("SELECT summary FROM alerts WHERE subject_id='pinpad-a'")[0]
    assert "behind gateway gw-b" in str(summary)


def test_a_paged_terminal_moved_away_is_not_silenced_by_its_old_gateways_outage(
    store_url: str,
) -> None:
    """pinpad-a is down and paged behind gw-a; the operator moves it to gw-b (where it is
    carried to be fixed). The open alert moves with it, one row and one page: gw-a dying
    afterwards neither silences it (a 'suppressed', then a second page when gw-a is back)
    nor names gw-a."""
    rig = Rig(store_url, enrolled=("gw-a", "gw-b"))
    _pinpad_behind(rig, "pinpad-a", "gw-a")
    for gw in ("gw-a", "gw-b"):
        rig.p.process([rig.status(gw, LinkState.ONLINE), rig.beat(gw)])
    rig.p.process([rig.beat("gw-a", "pinpad-a")])
    _run(rig, 120, "gw-a", "gw-b")  # pinpad-a is silent: down, then paged
    assert rig.rows("SELECT kind, gateway_id, state FROM alerts WHERE subject_id='pinpad-a'") == [
        ("terminal_down", "gw-a", "firing")
    ]
    _pinpad_behind(rig, "pinpad-a", "gw-b")
    _run(rig, 1, "gw-a", "gw-b")
    rig.p.process([rig.status("gw-a", LinkState.OFFLINE)])
    _run(rig, 30, "gw-b")
    assert rig.rows("SELECT state FROM alerts WHERE kind='gateway_down'") == [("firing",)]
    assert rig.rows(
        "SELECT kind, gateway_id, state, inhibited_by FROM alerts WHERE subject_id='pinpad-a'"
    ) == [("terminal_down", "gw-b", "firing", None)]
    assert rig.rows(
        "SELECT e.from_state, e.to_state FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
        "WHERE a.subject_id = 'pinpad-a' ORDER BY e.id"
    ) == [("none", "pending"), ("pending", "firing")]
    (summary,) = rig.rows("SELECT summary FROM alerts WHERE subject_id='pinpad-a'")[0]
    assert "behind gateway gw-b" in str(summary)
