"""The collector's MQTT connection (paho, its own network thread).

``on_message`` does nothing but stamp the collector's receipt time and queue the message:
validation, liveness and storage happen on the processing thread, so a slow disk never
holds up paho's socket loop. Connection changes travel through the same queue, so the
processing thread sees them in order with the messages around them.
"""

from __future__ import annotations

import logging
import queue
import select
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from telemetry.topics import subscription

if TYPE_CHECKING:
    from collector.metrics import CollectorMetrics

log = logging.getLogger(__name__)


class Received(NamedTuple):
    """One per message: a NamedTuple, immutable and cheaper to build than a frozen dataclass."""

    topic: str
    payload: bytes
    received_at: datetime  # collector wall clock, aware UTC
    mono: float
    retained: bool = False  # from the broker's retained store (on subscribe), not live


@dataclass(frozen=True, slots=True)
class LinkEvent:
    connected: bool
    at: datetime
    mono: float
    detail: str = ""
    # False: the broker came back without our persistent session, i.e. it restarted
    # without persistence (or this is our first connection): its clients are reconnecting.
    session_present: bool = True


Item = Received | LinkEvent

# A session taken over by another client with our client id (stolen credentials, or two
# collectors sharing one POSFLEET_CLIENT_ID) looks, over MQTT 3.1.1, like any connection the
# broker closes: no reason is given (nor by Mosquitto 2.0.11 over MQTT 5: it sends the 0x8E
# "Session taken over" DISCONNECT only from 2.0.15, and paho's MQTT 5 parsing of every PUBLISH
# costs the collector more than half its read rate, measured). What tells a takeover from a
# broker going down is what follows: the broker is still there, so our first reconnect
# attempt is accepted; a broker shutting down, or a network fault, refuses it or times out.
# And two clients fighting over one id each stay connected only until the other's reconnect
# (a second or two). So a connection lost within SHORT_CONNECTION_S of its connect and
# followed by a reconnect accepted at the first attempt counts as a takeover. A broker that
# is restarted faster than our 1 s retry, right after we connected, would count too.
SHORT_CONNECTION_S = 10.0


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "posfleet-collector"
    username: str | None = None
    password_file: Path | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    share_group: str | None = None
    keepalive: int = 15
    # In a share group: "clean" (the default, see MqttIngest) or "persistent" (a member's
    # share waits for it at the broker while it is away: only for a benchmark that drains a
    # backlog queued for its members, never for members that may not come back).
    share_session: str = "clean"


class MqttIngest:
    def __init__(
        self,
        settings: BrokerSettings,
        out: queue.SimpleQueue[Item],
        metrics: CollectorMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.out = out
        self.metrics = metrics
        self.connected = False
        self.takeovers = 0  # our session taken over by another client with our client id
        self._stopping = False  # our own farewell DISCONNECT is no lost link
        self._connected_mono = 0.0
        self._was_connected = False
        self._suspect = False  # the last loss looked like a takeover; the reconnect decides
        # Alone: a persistent session (clean_session=False, fixed client id): QoS 1 messages
        # that arrive while the collector restarts are queued by the broker, not lost.
        # In a share group: a clean session. Mosquitto (2.0.11, measured) goes on handing a
        # persistent member's share of the group to its session while the member is away,
        # so the other members would never see those heartbeats; with a clean session the
        # broker drops a dead member's share at once and the others get every message.
        self._clean = settings.share_group is not None and settings.share_session == "clean"
        self.client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            clean_session=self._clean,
            protocol=mqtt.MQTTv311,
        )
        self.client.enable_logger(logging.getLogger("collector.paho"))
        self.client.max_queued_messages_set(0)
        if settings.username:
            password = None
            if settings.password_file:
                password = settings.password_file.read_text().strip()
            self.client.username_pw_set(settings.username, password)
        if settings.tls_ca:
            self.client.tls_set(
                ca_certs=str(settings.tls_ca),
                certfile=str(settings.tls_cert) if settings.tls_cert else None,
                keyfile=str(settings.tls_key) if settings.tls_key else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        self.burst_max = 5000  # messages read per pump before processing them
        self._received = 0
        self._backoff = 1.0
        self._retry_at = 0.0
        # External-loop mode (see pump): paho queues packets for pump's loop_write.
        self.client.on_socket_register_write = lambda *_a: None
        self.client.on_socket_unregister_write = lambda *_a: None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self) -> None:
        """Connect lazily: the processing thread drives the socket through ``pump``.

        One thread for paho and processing: with paho on a thread of its own, the two
        serialise on the GIL and paho, which releases it on every socket read, waits behind
        the processing (a convoy) — measured at less than half the throughput.
        """
        self.client.connect_async(self.settings.host, self.settings.port, self.settings.keepalive)

    def stop(self) -> None:
        """Call from the thread that pumped, or after it stopped."""
        self._stopping = True
        if self.client.socket() is not None:
            self.client.disconnect()
            self.client.loop_write()

    def pump(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for traffic, then read everything already there (up to
        ``burst_max`` messages). True when more is still waiting to be read after a whole
        burst: the collector is behind, and silence it has not read yet proves nothing.
        A message that arrived once the socket was drained is not a backlog.

        The first connection may fail, and the broker may go away: we retry with backoff
        and the collector reports itself blind meanwhile instead of declaring the fleet down.
        """
        c = self.client
        if c.socket() is None:
            now = time.monotonic()
            if now < self._retry_at:
                time.sleep(min(timeout, self._retry_at - now))
                return False
            try:
                c.reconnect()
                self._backoff = 1.0
            except OSError as exc:
                self._suspect = False  # the broker is not there: no takeover, a restart
                log.warning("cannot reach the broker %s:%s: %s", self.settings.host,
                            self.settings.port, exc)  # fmt: skip
                self._retry_at = now + self._backoff
                self._backoff = min(self._backoff * 2, 10.0)
                return False
        # We drive the socket ourselves (paho's external-loop interface) instead of
        # client.loop(): loop() arms a wake-up socket pair that costs a send() for every
        # PUBACK, and writes each PUBACK as it is queued. Here the acks of a burst go out
        # together after it, and nothing else needs waking: this thread is the only user.
        sock = c.socket()
        rc = mqtt.MQTT_ERR_SUCCESS
        # Read until the socket is drained (nothing waiting at that moment) or a burst is
        # read. Only a burst cut short is a backlog: a message that arrives after the drain
        # (steady traffic: one every few milliseconds) is fresh, not one held back, and
        # calling it "behind" deferred every deadline (several seconds at 1,600 msg/s).
        drained = True
        if _readable(sock, timeout, write=c.want_write()):
            drained = False
            rc = c.loop_read()
            for _ in range(self.burst_max - 1):
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    break
                seen = self._received
                rc = c.loop_read()
                if self._received == seen and not _readable(sock):
                    drained = True
                    break
        if rc == mqtt.MQTT_ERR_SUCCESS and c.want_write():
            rc = c.loop_write()
        if rc == mqtt.MQTT_ERR_SUCCESS:
            rc = c.loop_misc()  # keepalive pings, retries
        if rc != mqtt.MQTT_ERR_SUCCESS and c.socket() is not None:
            c.disconnect()  # paho says the link is broken: close it and reconnect later
        if rc != mqtt.MQTT_ERR_SUCCESS:
            self._retry_at = time.monotonic() + self._backoff
            return False
        return not drained and _readable(c.socket())

    # paho may call these more than once for one event: each is idempotent.
    def _on_connect(
        self, client: mqtt.Client, _u: Any, flags: Any, rc: Any, _p: Any = None
    ) -> None:
        if rc.is_failure:
            self._suspect = False
            log.warning("broker refused the connection: %s", rc)
            return
        # Subscribe here so every reconnect renews the subscription.
        client.subscribe(subscription(self.settings.share_group), qos=1)
        if not self.connected:
            self.connected = True
            self._connected_mono = time.monotonic()
            kept = bool(getattr(flags, "session_present", True))
            self.out.put(LinkEvent(True, datetime.now(UTC), self._connected_mono, "", kept))
            log.info("connected to %s:%s", self.settings.host, self.settings.port)
            if self._suspect:
                self._suspect = False
                self._count_takeover()
            # A clean session is never kept, by design.
            kept = kept or self._clean
            if self._was_connected and not kept:
                log.warning(
                    "the broker kept no session for client id %r: what it queued for us while "
                    "we were away (wills included) is lost",
                    self.settings.client_id,
                )
            self._was_connected = True

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if not self.connected:
            return
        self.connected = False
        now = time.monotonic()
        self.out.put(LinkEvent(False, datetime.now(UTC), now, str(rc)))
        if self._stopping:
            return
        if self.metrics is not None:
            self.metrics.broker_disconnects.inc()
        # A suspect only: the reconnect decides (see SHORT_CONNECTION_S).
        self._suspect = now - self._connected_mono < SHORT_CONNECTION_S
        log.warning("lost the broker (%s): blind until reconnected", rc)

    def _count_takeover(self) -> None:
        self.takeovers += 1
        if self.metrics is not None:
            self.metrics.session_takeovers.inc()
        # Whoever took it holds our credentials and our client id, and what the broker had
        # queued for us (wills included) may be gone with their session.
        log.error(
            "another client took over the collector's session: the broker closed it within "
            "%.0f s of the connect and accepted us again at once; someone connects with client "
            "id %r and user %r (stolen credentials, or two collectors sharing one "
            "POSFLEET_CLIENT_ID)",
            SHORT_CONNECTION_S,
            self.settings.client_id,
            self.settings.username,
        )

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._received += 1
        self.out.put(
            Received(msg.topic, bytes(msg.payload), datetime.now(UTC), time.monotonic(), msg.retain)
        )


class _Client(mqtt.Client):
    """paho's client, two private hooks overridden for the ingest hot path (paho 2.x; if a
    later paho renames them they are simply not called, and ingest works as before):

    - its socket reads ahead (see ``_ReadAhead``);
    - a message goes straight to ``on_message``: paho first walks its per-topic callback
      tree for every message (6% of the collector's time), and the collector adds none.
    """

    def _create_socket(self) -> Any:
        return _ReadAhead(super()._create_socket())

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        on_message = self.on_message
        if on_message is not None:
            on_message(self, self._userdata, message)

    def message_callback_add(self, sub: str, callback: Any) -> None:
        raise NotImplementedError("the collector handles every topic in on_message")


class _ReadAhead:
    """A socket that reads the broker's stream 64 KiB at a time.

    paho reads each packet with at least three recv() calls (the command byte, the length
    one byte at a time, then the body): three system calls for a 100-byte heartbeat. Behind
    this wrapper they are slices of one buffer, and one recv() fetches hundreds of messages.
    Everything else (send, fileno, close, TLS's pending) goes to the socket unchanged;
    ``pending`` also counts what is buffered here, so nothing read ahead waits for a poll
    that will not come.
    """

    __slots__ = ("_buf", "_pos", "_sock")
    CHUNK = 65536

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, n: int) -> bytes:
        buf: bytes = self._buf
        pos = self._pos
        if pos >= len(buf):
            buf = self._sock.recv(max(n, self.CHUNK))  # BlockingIOError: paho's
            pos = 0
            if not buf:  # end of stream
                return buf
        end = pos + n
        self._buf, self._pos = buf, end
        return buf[pos:end]

    def pending(self) -> int:
        inner = getattr(self._sock, "pending", None)
        return max(len(self._buf) - self._pos, 0) + (inner() if inner is not None else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _readable(sock: Any, timeout: float = 0.0, *, write: bool = False) -> bool:
    """Bytes are waiting on the socket (or in its TLS buffer), without reading them;
    waits up to ``timeout`` for them (or, with ``write``, for room to write)."""
    if sock is None:
        return False
    pending = getattr(sock, "pending", None)
    if pending is not None and pending():
        return True
    poller = select.poll()  # not select(): no limit on the descriptor's number
    poller.register(sock, select.POLLIN | (select.POLLOUT if write else 0))
    events = poller.poll(max(timeout, 0.0) * 1000)
    return any(ev & (select.POLLIN | select.POLLERR | select.POLLHUP) for _fd, ev in events)
