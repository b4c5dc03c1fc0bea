"""How the collector tells a takeover of its session from a lost broker (collector.ingest).
The real-broker side is in tests/agent/test_agent_broker_security.py."""

from __future__ import annotations

import queue
from types import SimpleNamespace

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client import CollectorRegistry

from collector.ingest import BrokerSettings, Item, MqttIngest, takeover_evidence
from collector.metrics import CollectorMetrics
from simulators.broker import free_port

TAKEN_OVER = ReasonCode(PacketTypes.DISCONNECT, "Session taken over")
SHUTTING_DOWN = ReasonCode(PacketTypes.DISCONNECT, "Server shutting down")
LOST = ReasonCode(PacketTypes.DISCONNECT, "Unspecified error")  # paho's word for a bare EOF
OK = ReasonCode(PacketTypes.CONNACK, "Success")
FROM_SERVER = SimpleNamespace(is_disconnect_packet_from_server=True)
FROM_SOCKET = SimpleNamespace(is_disconnect_packet_from_server=False)
SESSION = SimpleNamespace(session_present=True)


def test_the_brokers_reason_code_is_believed_whatever_the_connection_lived() -> None:
    assert takeover_evidence(TAKEN_OVER, 3600.0, from_server=True) == "reason_code"
    assert takeover_evidence(SHUTTING_DOWN, 1.0, from_server=True) is None


def test_a_bare_close_is_a_suspect_only_soon_after_the_connect() -> None:
    assert takeover_evidence(LOST, 1.5) == "short_connection"
    assert takeover_evidence(LOST, 600.0) is None


def _ingest() -> tuple[MqttIngest, CollectorRegistry]:
    registry = CollectorRegistry()
    inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()
    # nothing listens on this port: every reconnect attempt is refused
    ingest = MqttIngest(BrokerSettings(port=free_port()), inbox, CollectorMetrics(registry))
    ingest.start()  # connect_async: sets the address, connects nothing until pump
    return ingest, registry


def _counted(registry: CollectorRegistry, evidence: str) -> float | None:
    return registry.get_sample_value(
        "posfleet_collector_session_takeovers_total", {"evidence": evidence}
    )


def test_a_short_connection_then_an_accepted_first_reconnect_counts_as_a_takeover() -> None:
    ingest, registry = _ingest()
    c = ingest.client
    ingest._on_connect(c, None, SESSION, OK)
    ingest._on_disconnect(c, None, FROM_SOCKET, LOST)
    assert _counted(registry, "short_connection") == 0  # not yet: the reconnect decides
    ingest._on_connect(c, None, SESSION, OK)
    assert _counted(registry, "short_connection") == 1
    assert registry.get_sample_value("posfleet_collector_broker_disconnects_total") == 1


def test_a_broker_that_refuses_the_reconnect_was_restarting_not_taken_over() -> None:
    ingest, registry = _ingest()
    c = ingest.client
    ingest._on_connect(c, None, SESSION, OK)
    ingest._on_disconnect(c, None, FROM_SOCKET, LOST)
    ingest.pump(0)  # the reconnect attempt, refused
    ingest._on_connect(c, None, SESSION, OK)  # the broker is back later
    assert _counted(registry, "short_connection") == 0
    assert registry.get_sample_value("posfleet_collector_broker_disconnects_total") == 1


def test_the_collectors_own_stop_is_neither_a_loss_nor_a_takeover() -> None:
    ingest, registry = _ingest()
    c = ingest.client
    ingest._on_connect(c, None, SESSION, OK)
    ingest.stop()
    ingest._on_disconnect(c, None, FROM_SOCKET, LOST)
    assert registry.get_sample_value("posfleet_collector_broker_disconnects_total") == 0
    assert _counted(registry, "short_connection") == 0
    assert _counted(registry, "reason_code") == 0


def test_a_reason_code_takeover_is_counted_at_once() -> None:
    ingest, registry = _ingest()
    c = ingest.client
    ingest._on_connect(c, None, SESSION, OK)
    ingest._on_disconnect(c, None, FROM_SERVER, TAKEN_OVER)
    assert _counted(registry, "reason_code") == 1
    assert ingest.takeovers == 1
