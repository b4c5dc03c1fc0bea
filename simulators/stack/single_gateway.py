"""A minimal agent-like gateway on a raw paho client, for collector integration tests."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from telemetry import Heartbeat, Kind, Status, encode, topic_for
from telemetry.models import LinkState, OfflineReason


class TestGateway:
    __test__ = False  # not a pytest class

    def __init__(self, gateway_id: str, port: int, *, session: int = 1, interval: float = 0.5):
        self.gateway_id = gateway_id
        self.port = port
        self.session = session
        self.interval = interval
        self.seq = 0
        self.client: mqtt.Client | None = None
        self._beating = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _status(self, state: LinkState, reason: OfflineReason | None = None) -> bytes:
        return encode(
            Status(
                gw=self.gateway_id,
                ts=datetime.now(UTC),
                state=state,
                session=self.session,
                reason=reason,
            )
        )

    def connect(self) -> TestGateway:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.gateway_id)
        c.will_set(
            topic_for(self.gateway_id, Kind.STATUS),
            self._status(LinkState.OFFLINE, OfflineReason.CONNECTION_LOST),
            qos=1,
            retain=True,
        )
        connected = threading.Event()
        c.on_connect = lambda *a: connected.set()
        c.connect("127.0.0.1", self.port, keepalive=5)
        c.loop_start()
        if not connected.wait(10):
            raise AssertionError(f"{self.gateway_id} could not connect")
        c.publish(
            topic_for(self.gateway_id, Kind.STATUS), self._status(LinkState.ONLINE), 1, True
        ).wait_for_publish(10)
        self.client = c
        self._stop.clear()
        self._beating.set()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()
        return self

    def beat_once(self) -> None:
        assert self.client is not None
        hb = Heartbeat(
            gw=self.gateway_id,
            ts=datetime.now(UTC),
            session=self.session,
            seq=self.seq,
            interval=self.interval,
        )
        self.seq += 1
        self.client.publish(topic_for(self.gateway_id, Kind.HEARTBEAT), encode(hb), 1)

    def _beat(self) -> None:
        while not self._stop.is_set():
            if self._beating.is_set():
                self.beat_once()
            self._stop.wait(self.interval)

    def hang(self) -> None:
        """The connection stays up (paho keeps pinging) but heartbeats stop."""
        self._beating.clear()

    def kill(self) -> None:
        """The socket dies without DISCONNECT: the broker publishes the will."""
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        assert self.client is not None
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()
        self.client = None

    def reconnect_quickly(self) -> None:
        """A new session while the previous connection's will may still be on its way."""
        self.kill()
        self.session += 1
        self.seq = 0
        self.connect()

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None
