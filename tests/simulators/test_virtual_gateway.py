"""Virtual gateways seen by a plain MQTT subscriber: birth, will and sessions as the agent does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulators.broker import MosquittoProcess
from simulators.fleetmodel import generate
from simulators.gateways import Fleet
from simulators.runner import FleetRunner
from simulators.stack.wait import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def seen(mosquitto: MosquittoProcess) -> Iterator[list[tuple[str, dict[str, object], bool]]]:
    got: list[tuple[str, dict[str, object], bool]] = []
    lock = threading.Lock()
    ready = threading.Event()

    def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        with lock:
            got.append((m.topic, json.loads(m.payload), bool(m.retain)))

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="observer")
    c.on_message = on_message
    c.on_subscribe = lambda *a: ready.set()
    c.connect("127.0.0.1", mosquitto.port)
    c.subscribe("posfleet/v1/+/status", qos=1)
    c.loop_start()
    assert ready.wait(10)
    yield got
    c.disconnect()
    c.loop_stop()


def test_birth_will_and_session_numbers_on_the_wire(
    mosquitto: MosquittoProcess, seen: list[tuple[str, dict[str, object], bool]]
) -> None:
    model = generate(3, seed=2)
    gid = model.gateways[0].gateway_id
    runner = FleetRunner(Fleet(model.gateways[:1], "127.0.0.1", mosquitto.port, keepalive=5))
    runner.start()
    try:
        runner.call(lambda f: f.connect_all())

        def statuses() -> list[tuple[object, object, object]]:
            return [(p["state"], p["session"], p.get("reason")) for t, p, _ in list(seen)
                    if t == f"posfleet/v1/{gid}/status"]  # fmt: skip

        wait_for(lambda: statuses() == [("online", 1, None)], 10, what="birth, session 1")
        runner.call(lambda f: f.kill(gid))  # no DISCONNECT: the broker sends the will
        wait_for(lambda: statuses()[-1:] == [("offline", 1, "connection_lost")], 15, what="will")
        runner.call(lambda f: f.connect(f.gateways[gid]))
        wait_for(lambda: statuses()[-1:] == [("online", 2, None)], 10, what="birth, session 2")
        runner.call(lambda f: f.quick_reconnect(gid))
        wait_for(lambda: ("online", 3, None) in statuses(), 10, what="session 3")
        # The birth is retained: a late subscriber learns the current session at once.
        late: list[bytes] = []
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="late")
        c.on_message = lambda _c, _u, m: late.append(m.payload)
        c.connect("127.0.0.1", mosquitto.port)
        c.subscribe(f"posfleet/v1/{gid}/status", qos=1)
        c.loop_start()
        try:
            wait_for(lambda: late, 10, what="retained status")
            assert json.loads(late[0])["session"] == 3
        finally:
            c.disconnect()
            c.loop_stop()
    finally:
        runner.stop()


def test_the_same_seed_gives_the_same_fleet_and_another_seed_another() -> None:
    a, b, c = generate(300, seed=9), generate(300, seed=9), generate(300, seed=10)
    assert a.gateways == b.gateways
    assert a.sites == b.sites
    assert a.gateways != c.gateways
    assert len(a.gateways) == 300
    assert len({g.gateway_id for g in a.gateways}) == 300
