"""Many virtual gateways, each with its own real MQTT connection, on ONE selector loop.

paho's external-loop hooks (``on_socket_open/close/register_write/unregister_write`` with
``loop_read``/``loop_write``/``loop_misc``) let one thread drive thousands of clients; a
thread per client would not fit 10,000 gateways in one process. Every ``publish()`` return
code is checked: paho reports a full queue as an error code, not an exception.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import random
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.link import full_jitter
from simulators.fleetmodel import GatewaySpec
from telemetry import Firmware, Hardware, Heartbeat, Kind, Network, Status, encode, topic_for
from telemetry.models import (
    RECONNECT_MAX_DELAY_S,
    RECONNECT_MIN_DELAY_S,
    LinkState,
    LinkType,
    OfflineReason,
)

if TYPE_CHECKING:
    from simulators.txnfleet import TxnDriver

log = logging.getLogger(__name__)


class Mode(StrEnum):
    RUNNING = "running"
    HUNG = "hung"  # connection alive (pings), heartbeats stopped
    DEAD = "dead"  # no connection


@dataclass
class Counters:
    published: int = 0
    publish_errors: int = 0
    connects: int = 0


@dataclass
class VirtualGateway:
    spec: GatewaySpec
    interval: float
    keepalive: int = 30
    session: int = 0
    seq: int = 0
    mode: Mode = Mode.DEAD
    next_beat: float = 0.0
    client: mqtt.Client | None = None
    muted_terminals: set[str] = field(default_factory=set)
    clock_skew_s: float = 0.0  # the gateway's own clock; its terminals keep theirs
    firmware: str = ""  # what it runs now (a rollout changes it); "" = the inventory's
    last_beat: float = 0.0  # monotonic time of the last heartbeat sent
    attempt: int = 0  # reconnect attempts since the broker went away (the agent's backoff)
    retry_at: float | None = None  # monotonic time of the next attempt, once the link is lost

    @property
    def gateway_id(self) -> str:
        return self.spec.gateway_id

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_skew_s)

    def status(self, state: LinkState, reason: OfflineReason | None = None) -> bytes:
        return encode(
            Status(
                gw=self.gateway_id, ts=self.now(), state=state, session=self.session, reason=reason
            )
        )


class Fleet:
    """The selector loop and the gateways it drives. Not thread-safe: one thread calls it."""

    def __init__(
        self,
        specs: list[GatewaySpec],
        host: str,
        port: int,
        *,
        interval: float = 5.0,
        keepalive: int = 30,
        seed: int = 1,
        reconnect_min_s: float = RECONNECT_MIN_DELAY_S,
        reconnect_max_s: float = RECONNECT_MAX_DELAY_S,
    ) -> None:
        """``reconnect_min_s``/``reconnect_max_s``: the agent's backoff after the broker goes
        away (exponential, full jitter, as agent/link.py); its defaults are the agent's."""
        self.host, self.port = host, port
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        self.rng = random.Random(seed)
        self.gateways = {s.gateway_id: VirtualGateway(s, interval, keepalive) for s in specs}
        self.selector = selectors.DefaultSelector()
        self.counters = Counters()
        self._by_sock: dict[int, mqtt.Client] = {}
        self._last_misc = 0.0
        # Heartbeats due, as a heap of (when, gateway id): the loop pops what is due instead
        # of scanning 10,000 gateways twenty times a second. An entry whose time is no
        # longer the gateway's next_beat is stale and skipped.
        self._due: list[tuple[float, str]] = []
        # Transaction windows of the payment devices (simulators/txnfleet.py), when on.
        self.txn: TxnDriver | None = None

    def _schedule(self, gw: VirtualGateway, when: float) -> None:
        gw.next_beat = when
        heapq.heappush(self._due, (when, gw.gateway_id))

    # ------------------------------------------------------------------ connections
    def connect(self, gw: VirtualGateway) -> None:
        gw.session += 1  # rises on every connect, like the real agent's persisted counter
        gw.seq = 0
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=gw.gateway_id)
        c.max_queued_messages_set(0)
        c.will_set(
            topic_for(gw.gateway_id, Kind.STATUS),
            gw.status(LinkState.OFFLINE, OfflineReason.CONNECTION_LOST),
            qos=1,
            retain=True,
        )
        c.on_socket_open = self._on_open
        c.on_socket_close = self._on_close
        c.on_socket_register_write = self._on_register_write
        c.on_socket_unregister_write = self._on_unregister_write
        c.on_connect = lambda *a, g=gw: self._on_connect(g)
        c.connect(self.host, self.port, gw.keepalive)
        gw.client = c
        gw.retry_at = None  # connected: a later drop starts the backoff afresh
        if gw.mode is Mode.DEAD:
            gw.mode = Mode.RUNNING  # a hung gateway stays hung across reconnects
        self.counters.connects += 1

    def _on_connect(self, gw: VirtualGateway) -> None:
        self._publish(gw, Kind.STATUS, gw.status(LinkState.ONLINE), retain=True)
        self._publish(
            gw,
            Kind.FIRMWARE,
            encode(
                Firmware(
                    gw=gw.gateway_id,
                    ts=gw.now(),
                    model=gw.spec.model,
                    os=gw.firmware or gw.spec.firmware,
                    terminal_fw=gw.firmware or gw.spec.firmware,
                    payment_app="pay-4.1",
                )
            ),
        )
        self._publish(
            gw,
            Kind.NETWORK,
            encode(
                Network(
                    gw=gw.gateway_id,
                    ts=gw.now(),
                    link=LinkType.ETHERNET,
                    latency_ms=round(self.rng.uniform(20, 60), 1),
                    loss_pct=0.0,
                )
            ),
        )
        self._schedule(gw, time.monotonic())  # first heartbeat right after the birth

    def _publish(
        self,
        gw: VirtualGateway,
        kind: Kind,
        payload: bytes,
        *,
        retain: bool = False,
        terminal: str | None = None,
    ) -> None:
        if gw.client is None:
            return
        info = gw.client.publish(topic_for(gw.gateway_id, kind, terminal), payload, 1, retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.counters.publish_errors += 1
            log.warning("%s: publish failed rc=%s", gw.gateway_id, info.rc)
        else:
            self.counters.published += 1

    def _on_open(self, client: mqtt.Client, _u: Any, sock: Any) -> None:
        self._by_sock[sock.fileno()] = client
        self.selector.register(sock, selectors.EVENT_READ, client)

    def _on_close(self, client: mqtt.Client, _u: Any, sock: Any) -> None:
        self._unregister(sock)

    def _unregister(self, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)

    def _on_register_write(self, client: mqtt.Client, _u: Any, sock: Any) -> None:
        self.selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)

    def _on_unregister_write(self, client: mqtt.Client, _u: Any, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.modify(sock, selectors.EVENT_READ, client)

    # ------------------------------------------------------------------ faults
    def kill(self, gateway_id: str) -> None:
        """The socket dies without DISCONNECT (power cut): the broker publishes the will."""
        gw = self.gateways[gateway_id]
        c = gw.client
        gw.client, gw.mode = None, Mode.DEAD
        if c is None:
            return
        sock = c.socket()
        if sock is not None:
            self._unregister(sock)
            if isinstance(sock, socket.socket):
                sock.close()

    def hang(self, gateway_id: str) -> None:
        """The payment software hangs: the connection (and its pings) live on."""
        self.gateways[gateway_id].mode = Mode.HUNG

    def unhang(self, gateway_id: str) -> None:
        gw = self.gateways[gateway_id]
        if gw.mode is Mode.HUNG:
            gw.mode = Mode.RUNNING
            self._schedule(gw, time.monotonic())
            if gw.client is not None and gw.client.socket() is None:
                self.connect(gw)  # its connection died while it was hung

    def publish_hardware(self, gateway_id: str, terminal: str | None = None, **fields: Any) -> bool:
        """One hardware report (printer, battery, ...); False when the gateway is offline
        (a real agent keeps its next periodic report instead)."""
        gw = self.gateways[gateway_id]
        if gw.client is None or not gw.client.is_connected() or gw.mode is not Mode.RUNNING:
            return False
        ts = gw.now() if terminal is None else datetime.now(UTC)
        msg = Hardware(gw=gw.gateway_id, terminal=terminal, ts=ts, **fields)
        self._publish(gw, Kind.HARDWARE, encode(msg), terminal=terminal)
        return True

    def quick_reconnect(self, gateway_id: str) -> None:
        """Drop the connection and reconnect at once with a new session."""
        self.kill(gateway_id)
        self.connect(self.gateways[gateway_id])

    def graceful_offline(self, gateway_id: str, reason: OfflineReason) -> None:
        gw = self.gateways[gateway_id]
        if gw.client is None:
            return
        self._publish(gw, Kind.STATUS, gw.status(LinkState.OFFLINE, reason), retain=True)
        gw.client.disconnect()
        gw.mode = Mode.DEAD

    def mute_terminal(self, gateway_id: str, terminal_id: str, muted: bool = True) -> None:
        """A PIN pad unplugged: its gateway lives on, its heartbeats stop."""
        gw = self.gateways[gateway_id]
        (gw.muted_terminals.add if muted else gw.muted_terminals.discard)(terminal_id)

    # ------------------------------------------------------------------ the loop
    def connect_all(self, progress: Callable[[int, int], None] | None = None) -> None:
        for i, gw in enumerate(self.gateways.values()):
            self.connect(gw)
            if i % 50 == 0:
                self.run_once(0)
                if progress:
                    progress(i + 1, len(self.gateways))
        self.run_once(0)

    def run_once(self, timeout: float) -> None:
        for key, mask in self.selector.select(timeout):
            client: mqtt.Client = key.data
            if mask & selectors.EVENT_READ:
                client.loop_read()
            if mask & selectors.EVENT_WRITE and client.socket() is not None:
                client.loop_write()
        mono = time.monotonic()
        if mono - self._last_misc >= 1.0:
            self._last_misc = mono
            for gw in self.gateways.values():
                if gw.client is None:
                    continue
                if gw.client.socket() is None:
                    if gw.mode is Mode.RUNNING:  # a hung agent cannot reconnect either
                        self._reconnect(gw, mono)  # the broker went away (restart)
                else:
                    gw.client.loop_misc()  # keepalive pings, retries
        self._beat(mono)
        if self.txn is not None:
            self.txn.tick(self, mono)

    def _reconnect(self, gw: VirtualGateway, mono: float) -> None:
        """The agent's backoff (agent/link.py): the first wait after the link drops is
        ``reconnect_min_s``; each failed attempt doubles the ceiling up to
        ``reconnect_max_s``, and the wait is drawn uniformly below it (full jitter). After
        a long broker outage the fleet comes back spread over the whole ``reconnect_max_s``.
        """
        if gw.retry_at is None:  # the link just dropped
            gw.attempt = 0
            gw.retry_at = mono + self._backoff(gw)
            return
        if mono < gw.retry_at:
            return
        try:
            self.connect(gw)  # a new connection is a new session, with a new will
        except OSError:
            gw.retry_at = mono + self._backoff(gw)

    def _backoff(self, gw: VirtualGateway) -> float:
        delay = full_jitter(gw.attempt, self.reconnect_min_s, self.reconnect_max_s, self.rng)
        gw.attempt += 1
        return float(delay)

    def _beat(self, mono: float) -> None:
        due = self._due
        while due and due[0][0] <= mono:
            when, gid = heapq.heappop(due)
            gw = self.gateways[gid]
            if when != gw.next_beat:
                continue  # rescheduled since
            # One that cannot beat now is scheduled again by its next connect or unhang.
            if gw.mode is not Mode.RUNNING or gw.client is None or not gw.client.is_connected():
                continue
            self._schedule(gw, mono + gw.interval * self.rng.uniform(0.95, 1.0))
            gw.last_beat = mono
            hb = Heartbeat(
                gw=gw.gateway_id, ts=gw.now(), session=gw.session, seq=gw.seq, interval=gw.interval
            )
            gw.seq += 1
            self._publish(gw, Kind.HEARTBEAT, encode(hb))
            for t in gw.spec.terminals:
                if t.terminal_id in gw.muted_terminals:
                    continue
                thb = Heartbeat(
                    gw=gw.gateway_id,
                    terminal=t.terminal_id,
                    ts=datetime.now(UTC),
                    session=gw.session,
                    seq=gw.seq,
                    interval=gw.interval,
                )
                self._publish(gw, Kind.HEARTBEAT, encode(thb), terminal=t.terminal_id)

    def close(self) -> None:
        for gw in self.gateways.values():
            if gw.client is not None:
                gw.client.disconnect()
                gw.client.loop_write()
        self.selector.close()
