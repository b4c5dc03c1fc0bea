"""Several collectors on a real Mosquitto ``$share`` group and one real PostgreSQL."""

from __future__ import annotations

import queue
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support.stack import enrol
from support.wire import wait_connected

from collector.config import ConfigError, load_settings
from collector.ingest import BrokerSettings, Item, MqttIngest, Received
from collector.process import CollectorProcess
from collector.store import db
from simulators.broker import MosquittoProcess
from simulators.stack.single_gateway import TestGateway
from simulators.stack.wait import wait_for
from telemetry import Heartbeat, Kind, encode, topic_for

pytestmark = pytest.mark.integration


def _pump_until(ingest: MqttIngest, inbox: queue.SimpleQueue[Item], n: int) -> list[str]:
    got: list[str] = []

    def more() -> bool:
        ingest.pump(0.05)
        while not inbox.empty():
            item = inbox.get_nowait()
            if isinstance(item, Received):
                got.append(item.payload.decode())
        return len(got) >= n

    wait_for(more, 20, what=f"{n} messages")
    return got


def test_a_dead_members_share_of_the_group_goes_to_the_others_at_once(
    mosquitto: MosquittoProcess,
) -> None:
    """Mosquitto keeps handing a persistent member's share to its session while it is away
    (measured: 10 of 20 queued for the dead one). Members of a share group connect with a
    clean session, so the one left sees every heartbeat."""
    inboxes: list[queue.SimpleQueue[Item]] = [queue.SimpleQueue(), queue.SimpleQueue()]
    ingests = [
        MqttIngest(
            BrokerSettings(port=mosquitto.port, client_id=f"member-{i}", share_group="g"), inbox
        )
        for i, inbox in enumerate(inboxes)
    ]
    for ingest in ingests:
        ingest.start()
        wait_for(lambda i=ingest: (i.pump(0.05), i.connected)[1], 10, what="connected")
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pub")
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    try:
        sock = ingests[1].client.socket()
        assert sock is not None
        sock.close()  # killed: no DISCONNECT
        for i in range(20):
            pub.publish("posfleet/v1/gw-1/heartbeat", f"m{i}", qos=1).wait_for_publish(10)
        got = _pump_until(ingests[0], inboxes[0], 20)
        assert sorted(got) == sorted(f"m{i}" for i in range(20))
    finally:
        pub.loop_stop()
        pub.disconnect()
        ingests[0].stop()


def test_a_share_group_needs_a_postgresql_store(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"POSFLEET_SHARE_GROUP .*PostgreSQL"):
        load_settings(db=str(tmp_path / "c.sqlite"), share_group="g")
    with pytest.raises(ConfigError, match="POSFLEET_SHARE_GROUP"):
        load_settings(db="postgresql://u@h:5432/d", share_group="a/b")
    s = load_settings(db="postgresql://u@h:5432/d", share_group="g")
    assert s.member_client_id.startswith("posfleet-collector-")  # one of its own
    assert load_settings(db="postgresql://u@h:5432/d", share_group="g", client_id="c1")
    assert load_settings(db=str(tmp_path / "c.sqlite")).member_client_id == "posfleet-collector"


_CHANGES = (
    "SELECT subject_id, from_status, to_status FROM state_changes WHERE subject_type = "
    "'gateway' ORDER BY id"
)


def test_two_collector_processes_on_a_share_group_judge_one_fleet_and_survive_a_kill(
    mosquitto: MosquittoProcess, pg_url: str, tmp_path: Path
) -> None:
    """``posfleet-collector run --db postgresql://... --share-group G`` twice: each gets
    about half of every gateway's heartbeats (judged alone, each would see them late); one
    real outage is one down; a collector SIGKILLed holds the fleet's deadlines until it is
    forgotten and the other carries on with no handover."""
    collectors = _two_collectors(pg_url, mosquitto, tmp_path)
    # Heartbeats every 2 s: late 3 s after the last one (grace 1 s), down 1 s later. Each
    # collector, judging alone, would see a gateway's heartbeats some 4 s apart.
    stays = TestGateway("gw-a", mosquitto.port, interval=2.0)
    dies = TestGateway("gw-b", mosquitto.port, interval=2.0)
    conn = db.connect(pg_url, readonly=True)
    try:
        for c in collectors:
            c.start()
        for c in collectors:  # subscribed before the gateways are born (test_collector_process)
            wait_connected(c)
        stays.connect()
        dies.connect()

        def heartbeats(c: CollectorProcess) -> float:
            return c.sample_value("posfleet_collector_messages_total", kind="heartbeat") or 0.0

        wait_for(
            lambda: all(heartbeats(c) >= 5 for c in collectors),
            60,
            what="both collectors taking heartbeats",
        )
        dies.kill()
        wait_for(
            lambda: ("gw-b", "online", "down") in [tuple(r) for r in conn.execute(_CHANGES)],
            20,
            what="the dead gateway down",
        )
        conn.rollback()
        collectors[1].stop(hard=True)  # SIGKILL: no goodbye
        # forget_s (30 s) and two deadlines after it, with gw-a beating into the survivor.
        seen = heartbeats(collectors[0])
        wait_for(lambda: heartbeats(collectors[0]) >= seen + 20, 90, what="40 s of heartbeats")
        changes = [tuple(r) for r in conn.execute(_CHANGES)]
        conn.rollback()
        assert [c for c in changes if c[0] == "gw-a"] == [("gw-a", "unknown", "online")]
        assert [c for c in changes if c[0] == "gw-b"] == [
            ("gw-b", "unknown", "online"),
            ("gw-b", "online", "down"),
        ]
        (alerts,) = conn.execute(
            "SELECT count(*) FROM alerts WHERE kind = 'gateway_down' AND subject_id = 'gw-b'"
        ).fetchone()
        assert alerts == 1
        assert collectors[0].alive()
    finally:
        conn.close()
        stays.close()
        for c in collectors:
            c.stop()


def test_the_alert_leader_killed_the_other_process_takes_over_and_resolves_its_page(
    mosquitto: MosquittoProcess, pg_url: str, tmp_path: Path
) -> None:
    """Two collector processes on a share group: exactly one runs the alert engine
    (``posfleet_collector_alert_leader``). A gateway dies: one page. The leader is SIGKILLed
    and the gateway comes back (a new session) through the other, which takes the lead at its
    next batch, with no handover, and resolves that page: one alert row, resolved."""
    collectors = _two_collectors(pg_url, mosquitto, tmp_path)
    stays = TestGateway("gw-a", mosquitto.port, interval=2.0)
    dies = TestGateway("gw-b", mosquitto.port, interval=2.0)
    back = TestGateway("gw-b", mosquitto.port, session=2, interval=2.0)
    conn = db.connect(pg_url, readonly=True)

    def leads(c: CollectorProcess) -> float | None:
        return c.sample_value("posfleet_collector_alert_leader")

    def alert_states() -> list[str]:
        rows = conn.execute(
            "SELECT state FROM alerts WHERE kind = 'gateway_down' AND subject_id = 'gw-b' "
            "ORDER BY id"
        ).fetchall()
        conn.rollback()
        return [str(r[0]) for r in rows]

    try:
        for c in collectors:
            c.start()
        for c in collectors:  # subscribed before the gateways are born (test_collector_process)
            wait_connected(c)
        stays.connect()
        dies.connect()
        wait_for(
            lambda: sorted(leads(c) or 0.0 for c in collectors) == [0.0, 1.0],
            60,
            what="one alert leader",
        )
        leader, other = sorted(collectors, key=lambda c: -(leads(c) or 0.0))
        dies.kill()
        wait_for(lambda: alert_states() == ["firing"], 30, what="the dead gateway paging")
        leader.stop(hard=True)  # SIGKILL: its lock goes with its connection
        back.connect()
        wait_for(lambda: alert_states() == ["resolved"], 60, what="the page resolved")
        assert leads(other) == 1.0
        assert other.alive()
    finally:
        conn.close()
        stays.close()
        back.close()
        for c in collectors:
            c.stop()


def _two_collectors(
    pg_url: str, mosquitto: MosquittoProcess, tmp_path: Path
) -> list[CollectorProcess]:
    """gw-a and gw-b of one store registered, and two share-group collectors (not started)
    that page a gateway down at once."""
    enrol(pg_url, "gw-a", "gw-b")
    env = {"POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S": "0"}
    return [
        CollectorProcess(
            pg_url,
            mosquitto.port,
            args=["--share-group", "g"],
            env=env,
            log_path=tmp_path / f"collector-{i}.log",
        )
        for i in range(2)
    ]


def test_a_pinpad_moved_while_two_share_group_collectors_run_is_judged_behind_its_new_gateway(
    mosquitto: MosquittoProcess, pg_url: str, tmp_path: Path
) -> None:
    """pinpad-k is moved from gw-a to gw-b, which never reports (neither itself nor the
    pad), while two share-group collectors run; then gw-a dies. The stored liveness row is
    re-parented at once by the members, so no member holds the pad behind gw-a's outage:
    it goes down behind gw-b, and its one page names gw-b."""
    from collector.main import main

    enrol(pg_url, "gw-a", "gw-b")
    inv = tmp_path / "pad"
    inv.mkdir()
    (inv / "terminals.csv").write_text(
        "terminal_id,gateway_id,site_id,region_id\npinpad-k,gw-a,S1,north\n"
    )
    assert main(["import-inventory", "--db", pg_url, str(inv)]) == 0
    env = {
        "POSFLEET_ALERT_PENDING_GATEWAY_DOWN_S": "0",
        "POSFLEET_ALERT_PENDING_TERMINAL_DOWN_S": "0",
        "POSFLEET_GRACE_MIN_S": "0.5",
        # The fleet's first connection is a broker restart for all it knows: its hold is the
        # agents' backoff, short here, so gw-b (never back) is judged within the test.
        "POSFLEET_AGENT_RECONNECT_MAX_S": "1",
        "POSFLEET_RESTART_MARGIN_S": "0",
    }
    collectors = [
        CollectorProcess(
            pg_url,
            mosquitto.port,
            args=["--share-group", "g"],
            env=env,
            log_path=tmp_path / f"collector-{i}.log",
        )
        for i in range(2)
    ]
    gw_a = TestGateway("gw-a", mosquitto.port, interval=0.5)
    raw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pinpad-traffic")
    conn = db.connect(pg_url, readonly=True)

    def rows(sql: str) -> list[tuple[object, ...]]:
        got = [tuple(r) for r in conn.execute(sql).fetchall()]
        conn.rollback()
        return got

    def pad() -> list[tuple[object, ...]]:
        return rows(
            "SELECT t.status, s.gateway_id FROM terminals t JOIN liveness_state s ON "
            "s.subject_type = 'terminal' AND s.subject_id = t.terminal_id "
            "WHERE t.terminal_id = 'pinpad-k'"
        )

    try:
        for c in collectors:
            c.start()
        for c in collectors:  # subscribed before the gateways are born (test_collector_process)
            wait_connected(c)
        gw_a.connect()
        raw.connect("127.0.0.1", mosquitto.port)
        raw.loop_start()
        hb = Heartbeat(
            gw="gw-a", terminal="pinpad-k", ts=datetime.now(UTC), session=1, seq=0, interval=10
        )
        raw.publish(topic_for("gw-a", Kind.HEARTBEAT, "pinpad-k"), encode(hb), 1).wait_for_publish(
            5
        )
        wait_for(lambda: pad() == [("online", "gw-a")], 30, what="pinpad-k online behind gw-a")
        moved = tmp_path / "moved"
        moved.mkdir()
        (moved / "terminals.csv").write_text("terminal_id,gateway_id\npinpad-k,gw-b\n")
        assert main(["import-inventory", "--db", pg_url, str(moved)]) == 0
        wait_for(
            lambda: pad() == [("online", "gw-b")],
            15,
            what="pinpad-k's stored liveness re-parented behind gw-b",
        )
        gw_a.kill()  # the socket dies: the broker publishes gw-a's will
        wait_for(lambda: pad() == [("down", "gw-b")], 30, what="pinpad-k down behind gw-b")
        wait_for(
            lambda: (
                rows(
                    "SELECT kind, subject_id, gateway_id, state, inhibited_by FROM alerts "
                    "WHERE state <> 'resolved' ORDER BY kind"
                )
                == [
                    ("gateway_down", "gw-a", "gw-a", "firing", None),
                    ("terminal_down", "pinpad-k", "gw-b", "firing", None),
                ]
            ),
            15,
            what="gw-a's page and pinpad-k's, naming gw-b",
        )
        series = [
            line
            for line in collectors[0].metrics_text().splitlines()
            if line.startswith("posfleet_alert_firing{") and 'terminal="pinpad-k"' in line
        ]
        assert len(series) == 1
        assert 'gateway="gw-b"' in series[0]
        assert all(c.alive() for c in collectors)
    finally:
        raw.disconnect()
        raw.loop_stop()
        conn.close()
        for c in collectors:
            c.stop()
