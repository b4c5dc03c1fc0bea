"""The collector against a real Mosquitto and a real store, on each engine (``store_url``:
an SQLite file, a PostgreSQL database)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support.stack import enrol

from collector.config import load_config
from collector.process import CollectorProcess
from collector.service import Collector
from collector.store import db
from simulators.broker import MosquittoProcess
from simulators.stack.single_gateway import TestGateway
from simulators.stack.wait import wait_for

pytestmark = pytest.mark.integration


# The gateways these tests run: only what is in the inventory is tracked (collector/enrolment.py).
ENROLLED = ("gw-kill", "gw-hang", "gw-quick", "gw-ok", "gw-newer", "gw-0", "gw-1", "gw-2")


@pytest.fixture
def collector(mosquitto: MosquittoProcess, store_url: str) -> Iterator[Collector]:
    enrol(store_url, *ENROLLED)
    settings = load_config(
        db=store_url,
        broker_port=mosquitto.port,
        metrics_host="127.0.0.1",
        metrics_port=0,
        grace_min_s=0.5,
        client_id="test-collector",
    )
    c = Collector(settings).start()
    wait_for(lambda: c.processor.connected, 10, what="collector connected")
    try:
        yield c
    finally:
        c.stop()


def _status(target: str, gw: str) -> str | None:
    rows = _rows(target, "SELECT status FROM gateways WHERE gateway_id=?", gw)
    return str(rows[0][0]) if rows else None


def _rows(target: str, sql: str, *args: object) -> list[tuple[object, ...]]:
    conn = db.connect(target, readonly=True)
    try:
        return [tuple(r) for r in conn.execute(sql, args).fetchall()]
    finally:
        conn.close()


def _scrape(c: Collector, path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{c.http.port}{path}", timeout=5) as r:
        return str(r.read().decode())


def test_killed_gateway_goes_down_through_its_will(
    collector: Collector, mosquitto: MosquittoProcess, store_url: str
) -> None:
    gw = TestGateway("gw-kill", mosquitto.port, interval=5).connect()
    wait_for(lambda: _status(store_url, "gw-kill") == "online", 10, what="online")
    gw.kill()
    wait_for(lambda: _status(store_url, "gw-kill") == "down", 15, what="down via will")
    assert _rows(
        store_url, "SELECT detected_by, class FROM incidents WHERE subject_id='gw-kill'"
    ) == [("will", "fault")]


def test_hung_gateway_goes_down_through_the_deadline(
    collector: Collector, mosquitto: MosquittoProcess, store_url: str
) -> None:
    gw = TestGateway("gw-hang", mosquitto.port, interval=0.5).connect()
    try:
        wait_for(lambda: _status(store_url, "gw-hang") == "online", 10, what="online")
        gw.hang()
        wait_for(lambda: _status(store_url, "gw-hang") == "down", 10, what="down via deadline")
        reasons = [
            r[0]
            for r in _rows(
                store_url,
                "SELECT to_status FROM state_changes WHERE subject_id='gw-hang' ORDER BY id",
            )
        ]
        assert reasons == ["online", "late", "down"]
        assert _rows(store_url, "SELECT detected_by FROM incidents WHERE subject_id='gw-hang'") == [
            ("deadline",)
        ]
    finally:
        gw.close()


def test_quick_reconnect_is_never_marked_down_by_the_previous_sessions_will(
    collector: Collector, mosquitto: MosquittoProcess, store_url: str
) -> None:
    gw = TestGateway("gw-quick", mosquitto.port, interval=5).connect()
    try:
        wait_for(lambda: _status(store_url, "gw-quick") == "online", 10, what="online")
        gw.reconnect_quickly()

        # The old session's will is delivered too: before the new birth (absorbed within the
        # hold) or after it (stale). Either way it must be seen and must not count.
        def will_discarded() -> bool:
            text = _scrape(collector)
            return (
                'posfleet_collector_rejected_total{reason="stale_session"} 1.0' in text
                or "posfleet_collector_absorbed_wills_total 1.0" in text
            )

        wait_for(will_discarded, 15, what="the old will seen and discarded")
        downs = _rows(
            store_url,
            "SELECT count(*) FROM state_changes WHERE subject_id='gw-quick' AND to_status='down'",
        )
        assert downs == [(0,)]
        assert _status(store_url, "gw-quick") == "online"
    finally:
        gw.close()


def test_an_offline_with_a_reason_from_a_newer_agent_still_takes_the_gateway_down_as_a_fault(
    collector: Collector, mosquitto: MosquittoProcess, store_url: str
) -> None:
    # A long interval: within the wait below only the offline itself can take it down.
    gw = TestGateway("gw-newer", mosquitto.port, interval=60).connect()
    try:
        wait_for(lambda: _status(store_url, "gw-newer") == "online", 10, what="online")
        assert gw.client is not None
        gw.hang()
        offline = b'{"v":1,"gw":"gw-newer","ts":1795339200,"state":"offline","session":1,'
        offline += b'"reason":"power_cut"}'
        gw.client.publish("posfleet/v1/gw-newer/status", offline, 1, True).wait_for_publish(5)
        wait_for(lambda: _status(store_url, "gw-newer") == "down", 15, what="down by power_cut")
        assert _rows(
            store_url,
            "SELECT reason FROM state_changes WHERE subject_id='gw-newer' AND to_status='down'",
        ) == [("will:power_cut",)]
        assert _rows(
            store_url, "SELECT class, fault_category FROM incidents WHERE subject_id='gw-newer'"
        ) == [("fault", "network")]
        text = _scrape(collector)
        assert "posfleet_collector_unknown_offline_reasons_total 1.0" in text
        assert 'posfleet_collector_rejected_total{reason="schema"} 0.0' in text
    finally:
        gw.close()


def test_malformed_and_spoofed_messages_are_rejected_and_counted_while_valid_traffic_continues(
    collector: Collector, mosquitto: MosquittoProcess, store_url: str
) -> None:
    gw = TestGateway("gw-ok", mosquitto.port, interval=0.5).connect()
    bad = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="attacker")
    bad.connect("127.0.0.1", mosquitto.port)
    bad.loop_start()
    try:
        wait_for(lambda: _status(store_url, "gw-ok") == "online", 10, what="online")
        seq_before = gw.seq
        hb_other = (
            b'{"v":1,"gw":"gw-ok","ts":"2026-01-01T00:00:00Z","session":1,"seq":1,"interval":5}'
        )
        for topic, payload in (
            ("posfleet/v1/gw-x/heartbeat", b"{not json"),
            ("posfleet/v1/gw-x/heartbeat", b'{"v":1,"gw":"gw-x"}'),
            ("posfleet/v1/gw-x/heartbeat", b"x" * 20000),
            ("posfleet/v1/gw-x/nonsense", b"{}"),
            ("posfleet/v1/gw-spoof/heartbeat", hb_other),
            (
                "posfleet/v1/gw-x/heartbeat",
                b'{"v":1,"gw":"gw-x","ts":1,"session":1,"seq":1,"interval":NaN}',
            ),
        ):
            bad.publish(topic, payload, 1).wait_for_publish(5)
        expected = [
            'reason="malformed_json"} 1.0',
            'reason="schema"} 1.0',
            'reason="oversized"} 1.0',
            'reason="unknown_topic"} 1.0',
            'reason="gateway_mismatch"} 1.0',
            'reason="non_finite"} 1.0',
        ]
        wait_for(lambda: all(e in _scrape(collector) for e in expected), 10, what="rejections")
        # Valid traffic kept flowing and nothing was stored for the garbage.
        wait_for(lambda: gw.seq > seq_before + 2, 10, what="heartbeats continue")
        assert _status(store_url, "gw-ok") == "online"
        assert _rows(
            store_url, "SELECT gateway_id FROM gateways WHERE last_seen_at IS NOT NULL"
        ) == [("gw-ok",)]
        assert collector.processor.connected
    finally:
        bad.disconnect()
        bad.loop_stop()
        gw.close()


def test_metrics_count_the_fleet_by_status_and_healthz_reports_the_broker(
    collector: Collector, mosquitto: MosquittoProcess, store_url: str
) -> None:
    gws = [TestGateway(f"gw-{i}", mosquitto.port, interval=5).connect() for i in range(3)]
    try:
        wait_for(
            lambda: (
                'posfleet_gateways{model="",region="north",status="online"} 3.0'
                in _scrape(collector)
            ),
            10,
            what="3 gateways counted",
        )
        health = _scrape(collector, "/healthz")
        assert '"broker_connected": true' in health
    finally:
        for g in gws:
            g.close()


def test_collector_killed_and_restarted_opens_no_incident_for_gateways_that_stayed_up(
    mosquitto: MosquittoProcess, store_url: str, tmp_path: Path
) -> None:
    collector = CollectorProcess(
        store_url, mosquitto.port, log_path=tmp_path / "collector.log",
        env={"POSFLEET_GRACE_MIN_S": "0.5"},
    )  # fmt: skip
    enrol(store_url, *(f"gw-r{i}" for i in range(5)))
    gws = [TestGateway(f"gw-r{i}", mosquitto.port, interval=0.5).connect() for i in range(5)]
    try:
        collector.start()
        wait_for(
            lambda: (
                _rows(store_url, "SELECT count(*) FROM gateways WHERE status='online'") == [(5,)]
            ),
            20,
            what="5 online",
        )
        collector.stop(hard=True)
        # Down for several heartbeat deadlines (0.5 s + grace): silence we did not see.
        mark = _rows(store_url, "SELECT max(id) FROM state_changes")[0][0]
        collector.start()

        def beats_seen_after_restart() -> bool:
            rows = _rows(store_url, "SELECT min(last_seen_at) FROM gateways")
            return bool(rows[0][0]) and all(g.seq > 10 for g in gws)

        seq_at_restart = [g.seq for g in gws]
        wait_for(
            lambda: all(g.seq > s + 8 for g, s in zip(gws, seq_at_restart, strict=True)),
            20,
            what="several heartbeat intervals after the restart",
        )
        assert beats_seen_after_restart()
        assert _rows(store_url, "SELECT count(*) FROM incidents") == [(0,)]
        assert (
            _rows(store_url, "SELECT subject_id, to_status FROM state_changes WHERE id > ?", mark)
            == []
        )
    finally:
        for g in gws:
            g.close()
        collector.stop()


def test_pump_says_when_more_is_waiting_than_one_burst(mosquitto: MosquittoProcess) -> None:
    """The backlog signal the processor defers deadlines on, from a real socket."""
    import queue

    from collector.ingest import BrokerSettings, MqttIngest, Received

    inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
    ingest = MqttIngest(BrokerSettings(port=mosquitto.port, client_id="pump-test"), inbox)  # type: ignore[arg-type]
    ingest.burst_max = 5
    ingest.start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pump-pub")
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()

    def subscribed() -> bool:  # a probe gets through once the subscription is in place
        pub.publish("posfleet/v1/gw-probe/heartbeat", b"{}", qos=1).wait_for_publish(5)
        ingest.pump(0.2)
        return any(isinstance(inbox.get_nowait(), Received) for _ in range(inbox.qsize()))

    wait_for(subscribed, 10, what="collector subscribed")
    infos = [pub.publish("posfleet/v1/gw-1/heartbeat", b"{}" * 2000, qos=1) for _ in range(200)]
    wait_for(lambda: all(i.is_published() for i in infos), 10, what="published")
    pub.disconnect()
    pub.loop_stop()

    def received() -> int:
        n = 0
        while not inbox.empty():
            item = inbox.get_nowait()
            n += isinstance(item, Received) and "/gw-1/" in item.topic
        return n

    assert ingest.pump(1.0) is True  # five read, the rest still waiting
    got = received()
    flags = []
    while got < 200:
        flags.append(ingest.pump(1.0))
        got += received()
        assert len(flags) < 200
    assert got == 200
    assert ingest.pump(0.05) is False  # caught up
    ingest.stop()


def test_pump_is_not_behind_for_a_message_that_arrives_once_it_has_drained(
    mosquitto: MosquittoProcess,
) -> None:
    """Steady traffic: a message lands just after the socket was read empty. It is read
    in the same pump and the collector is not behind (it used to say so, and the processor
    deferred every deadline while traffic flowed: bench/liveness_shared.py)."""
    import queue
    import select

    from collector.ingest import BrokerSettings, MqttIngest, Received

    inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
    ingest = MqttIngest(BrokerSettings(port=mosquitto.port, client_id="drain-test"), inbox)  # type: ignore[arg-type]
    ingest.start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="drain-pub")
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()

    def taken() -> list[str]:
        out = []
        while not inbox.empty():
            item = inbox.get_nowait()
            if isinstance(item, Received):
                out.append(item.topic)
        return out

    def subscribed() -> bool:
        pub.publish("posfleet/v1/gw-probe/heartbeat", b"{}", qos=1).wait_for_publish(5)
        ingest.pump(0.2)
        return bool(taken())

    wait_for(subscribed, 10, what="collector subscribed")
    client = ingest.client
    read = client.loop_read
    injected: list[bool] = []

    def loop_read(*args: object, **kw: object) -> int:
        before = ingest._received
        rc = read(*args, **kw)
        if ingest._received == before and not injected:
            # Drained: the next message arrives now, before the pump looks again.
            injected.append(True)
            pub.publish("posfleet/v1/gw-late/heartbeat", b"{}", qos=1).wait_for_publish(5)
            poller = select.poll()
            poller.register(client.socket(), select.POLLIN)
            assert poller.poll(5000), "the message did not reach the collector's socket"
        return int(rc)

    client.loop_read = loop_read  # type: ignore[method-assign]
    pub.publish("posfleet/v1/gw-1/heartbeat", b"{}", qos=1).wait_for_publish(5)
    more = ingest.pump(5.0)
    assert injected
    topics = taken()
    assert "posfleet/v1/gw-late/heartbeat" in topics  # read in the same pump
    assert more is False
    pub.disconnect()
    pub.loop_stop()
    ingest.stop()


def test_metrics_include_the_collectors_own_process(collector: Collector) -> None:
    """Memory, CPU and open files of the collector itself, as every Prometheus exporter has."""
    import os

    text = _scrape(collector)
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"):
        assert f"\n{name} " in text, name
    rss = next(line for line in text.splitlines() if line.startswith("process_resident_memory"))
    with open(f"/proc/{os.getpid()}/status") as f:
        vm_rss_kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    # The figure is this process's (the collector runs in it here), not another's.
    assert abs(float(rss.split()[1]) / 1024 - vm_rss_kb) < 0.5 * vm_rss_kb
    assert "python_info{" in text
