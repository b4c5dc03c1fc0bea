"""The MQTT link: session number, will and birth, jittered reconnects, store-and-forward.

Why ``on_pre_connect``: paho builds the CONNECT packet (and its will) inside
``reconnect()``, which both the first connect and its automatic reconnects go through;
``on_pre_connect`` runs there just before, so the will always carries the session number
of the connection it belongs to.

Threads: paho's network thread runs the callbacks; the agent thread sends and drains.
Callbacks never take the agent's locks (paho calls ``on_publish`` holding its own mutex,
and a lock shared with ``publish()`` would deadlock): they only flip events.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from agent.contract import (
    RECONNECT_MAX_DELAY_S,
    RECONNECT_MIN_DELAY_S,
    Body,
    Clock,
    build,
    encode,
    topic_for,
)
from agent.queue import Outbox
from agent.session import SessionCounter

log = logging.getLogger(__name__)
QOS = 1
DRAIN_WINDOW = 100  # rows handed to paho but not yet acknowledged, at most


@dataclass(frozen=True)
class BrokerConfig:
    host: str
    port: int
    keepalive: int = 60
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls: bool = False
    tls_insecure_hostname: bool = False
    reconnect_min_delay: float = RECONNECT_MIN_DELAY_S
    reconnect_max_delay: float = RECONNECT_MAX_DELAY_S


def _quiet_not_connected(record: logging.LogRecord) -> bool:
    # paho 2.2 logs "Client is not connected" at ERROR on every loop pass without a socket
    # (each failed reconnect, and after a clean disconnect); our own warnings already say so.
    return not str(record.msg).startswith("Client is not connected")


def full_jitter(attempt: int, lo: float, hi: float, rng: random.Random) -> int:
    """Exponential backoff with full jitter, so a region's gateways do not reconnect in step."""
    ceiling = min(hi, lo * 2 ** min(attempt, 20))
    return max(1, round(rng.uniform(lo, ceiling)))


class Link:
    def __init__(
        self,
        gateway_id: str,
        broker: BrokerConfig,
        *,
        sessions: SessionCounter,
        outbox: Outbox,
        clock: Clock,
        wake: threading.Event | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.gateway_id = gateway_id
        self.broker = broker
        self.sessions = sessions
        self.outbox = outbox
        self.clock = clock
        self.wake = wake or threading.Event()
        self.rng = rng or random.Random()
        # `session` is the last *established* session (heartbeats carry it); a CONNECT
        # attempt takes the next number for its will before we know if it succeeds.
        self.session = sessions.current()
        self._attempt_session = self.session
        self.connected = threading.Event()
        self._stopping = False
        self._attempt = 0
        self._drained_session = -1
        self._pending: deque[tuple[int, mqtt.MQTTMessageInfo]] = deque()
        self.status_topic = topic_for(gateway_id, "status")
        self.client = self._build_client()

    def _build_client(self) -> mqtt.Client:
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.gateway_id,
            protocol=MQTTProtocolVersion.MQTTv311,
            clean_session=True,
        )
        b = self.broker
        if b.username:
            c.username_pw_set(b.username, b.password)
        if b.tls:
            # CA pinning: only the configured CA is trusted, not the system store.
            c.tls_set(
                ca_certs=str(b.ca_file),
                certfile=str(b.cert_file) if b.cert_file else None,
                keyfile=str(b.key_file) if b.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
            c.tls_insecure_set(b.tls_insecure_hostname)
        c.reconnect_delay_set(1, max(1, round(b.reconnect_max_delay)))
        c.on_pre_connect = self._on_pre_connect
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_connect_fail = self._on_connect_fail
        c.on_publish = self._on_publish
        paho_log = logging.getLogger("agent.paho")
        paho_log.addFilter(_quiet_not_connected)
        c.enable_logger(paho_log)
        return c

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self.client.connect_async(self.broker.host, self.broker.port, self.broker.keepalive)
        self.client.loop_start()

    def stop(self, reason: str | None, timeout: float = 5.0) -> bool:
        """Publish a graceful ``offline`` (when connected), then a clean DISCONNECT.

        A clean DISCONNECT tells the broker to discard the will, so a planned stop is
        never reported as ``connection_lost``. Returns whether the offline was delivered.
        """
        delivered = False
        self._stopping = True
        if reason is not None and self.connected.is_set():
            info = self.client.publish(
                self.status_topic, self._status("offline", reason), qos=QOS, retain=True
            )
            try:
                info.wait_for_publish(timeout)
                delivered = info.is_published()
            except RuntimeError as exc:  # the connection dropped meanwhile
                log.warning("graceful offline not delivered: %s", exc)
        self.client.disconnect()
        self.client.loop_stop()
        return delivered

    # -- paho callbacks (network thread) ----------------------------------------------

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        self._attempt_session = self.sessions.next()
        client.will_set(
            self.status_topic,
            self._status("offline", "connection_lost", self._attempt_session),
            qos=QOS,
            retain=True,
        )

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s (check username/password/ACL)", reason)
            return
        self._attempt = 0
        self.session = self._attempt_session
        client.publish(self.status_topic, self._status("online"), qos=QOS, retain=True)
        log.info("connected to %s:%s, session %d", self.broker.host, self.broker.port, self.session)
        self.connected.set()
        self.wake.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        was_stopping = self._stopping
        self.connected.clear()
        self._backoff(client)
        if was_stopping:
            log.info("disconnected cleanly")
        else:
            log.warning("disconnected (%s)", reason)
        self.wake.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._backoff(client)

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any
    ) -> None:
        self.wake.set()

    def _backoff(self, client: mqtt.Client) -> None:
        delay = full_jitter(
            self._attempt,
            self.broker.reconnect_min_delay,
            self.broker.reconnect_max_delay,
            self.rng,
        )
        self._attempt += 1
        # reconnect_delay_set resets paho's own doubling: the next wait is exactly `delay`.
        client.reconnect_delay_set(delay, delay)

    # -- sending (agent thread) ---------------------------------------------------------

    def _status(self, state: str, reason: str | None = None, session: int | None = None) -> bytes:
        fields = {
            "state": state,
            "session": self.session if session is None else session,
            "reason": reason,
        }
        return encode(build("status", self.gateway_id, self.clock.time(), fields))

    def send(self, topic: str, body: Body, *, durable: bool = False) -> None:
        """Publish now when connected and nothing older waits; otherwise queue it.

        A message queued while the broker is unreachable is flagged ``historical``: the
        collector stores it but never treats it as live evidence. A ``durable`` message is
        always queued first (and sent by ``drain``): paho holds an unacknowledged publish
        only in memory, and a transaction window whose spool file is already deleted must
        survive the agent being killed before the PUBACK.
        """
        if self.connected.is_set() and len(self.outbox) == 0 and not self._pending and not durable:
            self.client.publish(topic, encode(body), qos=QOS)
            return
        if not self.connected.is_set():
            body = {**body, "historical": True}
        self.outbox.put(topic, encode(body), float(body["ts"]))

    def drain(self) -> None:
        """Acknowledge delivered rows and hand the next ones to paho, oldest first."""
        while self._pending and self._pending[0][1].is_published():
            row_id, _ = self._pending.popleft()
            self.outbox.ack(row_id)
        if not self.connected.is_set():
            return
        room = DRAIN_WINDOW - len(self._pending)
        if room <= 0:
            return
        for row in self.outbox.next_batch(room):
            info = self.client.publish(row.topic, row.payload, qos=QOS)
            # NO_CONN still means paho queued it and re-sends it after reconnecting.
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                log.warning("publish of queued row %d failed: %s", row.id, info.rc)
                break
            self.outbox.handed(row.id)
            self._pending.append((row.id, info))

    @property
    def busy(self) -> bool:
        return bool(self._pending) or (self.connected.is_set() and len(self.outbox) > 0)
