"""The wire attacked from outside: a real collector process reading a real Mosquitto, with one
enrolled gateway (gw-0042, region north) and its PIN pad (pinpad-2), and a raw MQTT publisher
that sends whatever payload a test writes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from collector.inventory import upsert_rows
from collector.process import CollectorProcess
from collector.store import db
from collector.store.store import Store
from simulators.stack.wait import wait_for

GATEWAY, TERMINAL = "gw-0042", "pinpad-2"


def wait_connected(collector: CollectorProcess, what: str = "collector connected") -> None:
    wait_for(
        lambda: collector.sample_value("posfleet_collector_broker_connected") == 1.0, 30, what=what
    )


@contextmanager
def enrolled_collector(
    db_path: Path, broker_port: int, log_path: Path, log_level: str = "WARNING"
) -> Iterator[tuple[CollectorProcess, mqtt.Client]]:
    """The collector, started and connected, and the publisher; both stopped on the way out."""
    store = Store(db_path)
    with store.conn:
        upsert_rows(store.conn, "gateways", [{"gateway_id": GATEWAY, "region_id": "north"}])
        upsert_rows(store.conn, "terminals", [{"terminal_id": TERMINAL, "gateway_id": GATEWAY}])
    store.close()
    collector = CollectorProcess(db_path, broker_port, log_path=log_path, log_level=log_level)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="integrator")
    pub.connect("127.0.0.1", broker_port)
    pub.loop_start()
    try:
        collector.start()
        wait_connected(collector)
        yield collector, pub
    finally:
        pub.disconnect()
        pub.loop_stop()
        collector.stop()


def rows(target: Path, sql: str) -> list[tuple[object, ...]]:
    """What the store holds, read by a connection of its own."""
    conn = db.connect(target, readonly=True)
    try:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()
