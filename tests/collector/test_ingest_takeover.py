"""How the collector tells a takeover of its session from a lost broker (collector.ingest):
the broker closed a fresh connection, and took the collector back at the first attempt.
The real-broker side is in tests/agent/test_agent_broker_security.py and
tests/deploy/test_collector_health_rules.py."""

from __future__ import annotations

import queue
from types import SimpleNamespace

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client import CollectorRegistry

from collector.ingest import SHORT_CONNECTION_S, BrokerSettings, Item, MqttIngest
from collector.metrics import CollectorMetrics
from collector.process import free_port

LOST = ReasonCode(PacketTypes.DISCONNECT, "Unspecified error")  # paho's word for a bare EOF
OK = ReasonCode(PacketTypes.CONNACK, "Success")
FLAGS = SimpleNamespace(session_present=True)


def _ingest() -> tuple[MqttIngest, CollectorRegistry]:
    registry = CollectorRegistry()
    inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()
    # nothing listens on this port: every reconnect attempt is refused
    ingest = MqttIngest(BrokerSettings(port=free_port()), inbox, CollectorMetrics(registry))
    ingest.start()  # connect_async: sets the address, connects nothing until pump
    return ingest, registry


def _value(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value(f"posfleet_collector_{name}_total")


def test_a_short_connection_then_an_accepted_first_reconnect_counts_as_a_takeover() -> None:
    ingest, registry = _ingest()
    c = ingest.client
    ingest._on_connect(c, None, FLAGS, OK)
    ingest._on_disconnect(c, None, FLAGS, LOST)
    assert _value(registry, "session_takeovers") == 0  # not yet: the reconnect decides
    ingest._on_connect(c, None, FLAGS, OK)
    assert _value(registry, "session_takeovers") == 1
    assert _value(registry, "broker_disconnects") == 1
    assert ingest.takeovers == 1


def test_a_broker_that_refuses_the_reconnect_was_going_down_not_taken_over() -> None:
    ingest, registry = _ingest()
    c = ingest.client
    ingest._on_connect(c, None, FLAGS, OK)
    ingest._on_disconnect(c, None, FLAGS, LOST)
    ingest.pump(0)  # the reconnect attempt, refused
    ingest._on_connect(c, None, FLAGS, OK)  # the broker is back later
    assert _value(registry, "session_takeovers") == 0
    assert _value(registry, "broker_disconnects") == 1


def test_a_connection_that_lived_long_is_a_lost_link_not_a_takeover() -> None:
    ingest, registry = _ingest()
    c = ingest.client
    ingest._on_connect(c, None, FLAGS, OK)
    ingest._connected_mono -= SHORT_CONNECTION_S + 1  # connected that much earlier
    ingest._on_disconnect(c, None, FLAGS, LOST)
    ingest._on_connect(c, None, FLAGS, OK)
    assert _value(registry, "session_takeovers") == 0
    assert _value(registry, "broker_disconnects") == 1


def test_the_collectors_own_stop_is_neither_a_loss_nor_a_takeover() -> None:
    ingest, registry = _ingest()
    c = ingest.client
    ingest._on_connect(c, None, FLAGS, OK)
    ingest.stop()
    ingest._on_disconnect(c, None, FLAGS, LOST)
    ingest._on_connect(c, None, FLAGS, OK)
    assert _value(registry, "broker_disconnects") == 0
    assert _value(registry, "session_takeovers") == 0
