"""Test helpers for the agent: an MQTT observer, stub probes, the agent in a thread."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.config import AgentSettings, load_settings
from agent.probes import Reading
from agent.runner import Probes
from agent.service import Service


class Observer:
    """Subscribes to everything under posfleet/v1 and records what arrives, in order."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str = "observer",
        persistent: bool = False,
        username: str | None = None,
        password: str | None = None,
        topic: str = "posfleet/v1/#",
        ca_file: Path | None = None,
        keepalive: int = 10,
    ) -> None:
        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self.raw: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.topic = topic
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent
        )
        if username:
            self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set(ca_certs=str(ca_file))
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda c, u, mid, rc, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=keepalive)
        self.client.loop_start()

    def _on_connect(self, c: mqtt.Client, u: Any, f: Any, rc: Any, p: Any) -> None:
        c.subscribe(self.topic, qos=1)

    def _on_message(self, c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.raw.append((msg.topic, msg.payload))
            try:
                body = json.loads(msg.payload)
            except ValueError:
                body = {}
            self.messages.append((msg.topic, body, bool(msg.retain)))

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [b for t, b, _ in self.messages if t.endswith("/" + kind)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Fixed:
    def __init__(self, name: str, fields: dict[str, Any]) -> None:
        self.name = name
        self.fields = fields

    def read(self) -> Reading:
        return Reading(dict(self.fields))


def stub_probes() -> Probes:
    return Probes(
        system=Fixed("system", {"uptime_s": 100.0, "load1": 0.1}),
        network=Fixed("network", {"link": "ethernet", "iface": "eth0"}),
        firmware=Fixed("firmware", {"os": "TestOS 1"}),
        hardware=Fixed("hardware", {"storage_used_pct": 10.0}),
    )


def settings(port: int, state_dir: Path, **kw: Any) -> AgentSettings:
    base: dict[str, Any] = {
        "gateway_id": "gw-test",
        "broker_host": "127.0.0.1",
        "broker_port": port,
        "state_dir": state_dir,
        "heartbeat_interval": 0.2,
        "probe_interval": 0.2,
        "reconnect_min_delay": 1.0,
        "reconnect_max_delay": 1.0,
        "terminal_plugins": False,
    }
    base.update(kw)
    return load_settings(None, **base)


class AgentThread:
    def __init__(self, s: AgentSettings) -> None:
        self.service = Service(s, stub_probes())
        self.thread = threading.Thread(target=self.service.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.service.request_stop()
        self.thread.join(20)
        assert not self.thread.is_alive()
