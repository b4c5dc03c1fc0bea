"""Issue 13: one message stopped the collector, and a retained one crash-looped it.

The real collector as a subprocess, a real Mosquitto. A retained birth and a heartbeat whose
session (2^70) no SQLite INTEGER holds are rejected and counted; the collector keeps running,
stores the next normal message, stops cleanly, and comes back up with the retained poison
still on the broker.
"""

from __future__ import annotations

from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.inventory import upsert_rows
from collector.process import CollectorProcess
from collector.store import db
from collector.store.store import Store
from simulators.broker import MosquittoProcess
from simulators.stack.wait import wait_for

pytestmark = pytest.mark.integration

POISON_BIRTH = (
    b'{"v":1,"gw":"gw-0042","ts":1795339200,"state":"online","session":1180591620717411303424}'
)
POISON_BEAT = (
    b'{"v":1,"gw":"gw-0042","ts":1795339200,"session":1180591620717411303424,"seq":0,'
    b'"interval":120}'
)


def _out_of_range(collector: CollectorProcess) -> float:
    return collector.sample_value("posfleet_collector_rejected_total", reason="out_of_range") or 0.0


def _status(target: str, gw: str) -> str | None:
    conn = db.connect(target, readonly=True)
    try:
        row = conn.execute("SELECT status FROM gateways WHERE gateway_id=?", (gw,)).fetchone()
    finally:
        conn.close()
    return str(row[0]) if row else None


def _beat(gw: str, seq: int) -> bytes:
    return f'{{"v":1,"gw":"{gw}","ts":1795339200,"session":3,"seq":{seq},"interval":120}}'.encode()


def test_a_poison_message_and_its_retained_twin_neither_stop_nor_crash_loop_the_collector(
    mosquitto: MosquittoProcess, store_url: str, tmp_path: Path
) -> None:
    collector = CollectorProcess(store_url, mosquitto.port, log_path=tmp_path / "collector.log")
    store = Store(store_url)  # the inventory: the poisoned gateway is a real, enrolled one
    with store.conn:
        upsert_rows(store.conn, "gateways", [{"gateway_id": g} for g in ("gw-0042", "gw-0007")])
    store.close()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="poisoner")
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()

    def publish(topic: str, payload: bytes, retain: bool = False) -> None:
        pub.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    alive = collector.alive

    try:
        collector.start()
        wait_for(
            lambda: collector.sample_value("posfleet_collector_broker_connected") == 1.0,
            30,
            what="collector up and connected",
        )
        # The retained birth first: its rejection proves the subscription is in place.
        publish("posfleet/v1/gw-0042/status", POISON_BIRTH, retain=True)
        wait_for(lambda: _out_of_range(collector) >= 1 or not alive(), 20, what="birth rejected")
        assert alive(), "the collector died on a retained birth"
        publish("posfleet/v1/gw-0042/heartbeat", POISON_BEAT)
        wait_for(lambda: _out_of_range(collector) >= 2 or not alive(), 20, what="beat rejected")
        assert alive(), "the collector died on a heartbeat"
        assert _out_of_range(collector) == 2.0

        # Normal traffic after the poison is stored.
        publish(
            "posfleet/v1/gw-0007/status",
            b'{"v":1,"gw":"gw-0007","ts":1795339200,"state":"online","session":3}',
            retain=True,
        )
        publish("posfleet/v1/gw-0007/heartbeat", _beat("gw-0007", 1))
        wait_for(lambda: _status(store_url, "gw-0007") == "online", 20, what="gw-0007 online")
        # The birth alone makes it online: wait for its heartbeat to be counted too.
        wait_for(
            lambda: (
                collector.sample_value("posfleet_collector_messages_total", kind="heartbeat") == 1.0
            ),
            20,
            what="gw-0007's heartbeat counted",
        )
        # Enrolled, and nothing of the poison stored.
        assert _status(store_url, "gw-0042") == "unknown"

        # A clean stop, then a restart with the retained poison still on the broker.
        assert collector.stop() == 0
        collector.start()
        wait_for(
            lambda: (
                collector.sample_value("posfleet_collector_broker_connected") == 1.0 or not alive()
            ),
            30,
            what="restarted collector connected",
        )
        wait_for(
            lambda: _out_of_range(collector) >= 1 or not alive(), 20, what="retained birth again"
        )
        assert alive(), "the retained poison crashed the restarted collector"
        publish("posfleet/v1/gw-0007/heartbeat", _beat("gw-0007", 2))
        wait_for(
            lambda: (
                collector.sample_value("posfleet_collector_messages_total", kind="heartbeat") == 1.0
            ),
            20,
            what="a heartbeat processed after the restart",
        )
        assert alive()
        assert _status(store_url, "gw-0007") == "online"
        assert collector.sample_value("posfleet_collector_rejected_total", reason="internal") == 0.0
    finally:
        publish("posfleet/v1/gw-0042/status", b"", retain=True)  # clear the retained poison
        pub.disconnect()
        pub.loop_stop()
        collector.stop()
