"""The processing loop: validate, decide liveness, store, notify listeners and sinks.

One thread owns the store's write connection and the liveness tracker, so neither needs a
lock. Between batches it fires due deadlines; it never sleeps past the next one.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from collector.hooks import Listener, TelemetrySink
from collector.ingest import Item, LinkEvent, Received
from collector.liveness import LivenessTracker, Outcome
from collector.metrics import CollectorMetrics
from collector.model import SubjectType, Transition
from collector.store.sqlite import Batch, SqliteStore, SubjectUpdate, TelemetryRow, dumps
from telemetry.clock import Clock, SystemClock
from telemetry.codec import MAX_PAYLOAD_BYTES, Decoded, Rejected, decode
from telemetry.models import Firmware, Hardware, Heartbeat, Network, Status

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProcessorSettings:
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    batch_max: int = 5000
    tick_every_s: float = 1.0
    housekeeping_every_s: float = 60.0
    # While unread messages wait (a backlog after a broker restart, a burst), deadlines are
    # not judged: the heartbeats that would meet them may be in the backlog. At most this
    # long in a row; a collector that stays behind longer judges with what it has read.
    max_defer_s: float = 30.0


class Processor:
    def __init__(
        self,
        store: SqliteStore,
        tracker: LivenessTracker,
        metrics: CollectorMetrics,
        inbox: queue.SimpleQueue[Item],
        *,
        listeners: Sequence[Listener] = (),
        sinks: Sequence[TelemetrySink] = (),
        settings: ProcessorSettings | None = None,
        clock: Clock | None = None,
        housekeeping: Sequence[Callable[[sqlite3.Connection, datetime], object]] = (),
        pump: Callable[[float], bool] | None = None,
    ) -> None:
        self.store = store
        self.tracker = tracker
        self.metrics = metrics
        self.inbox = inbox
        self.listeners = list(listeners)
        self.sinks = list(sinks)
        self.settings = settings or ProcessorSettings()
        self.clock = clock or SystemClock()
        self.connected = False
        self.last_message_mono: float | None = None
        self.first_message_mono: float | None = None  # for benchmarks: when traffic began
        self._next_listener_tick = 0.0
        self._log_budget = _LogBudget()
        self._by_kind: dict[str, Any] = {}  # label children, looked up once
        # Slow chores (retention, inventory refresh) run between batches, outside any
        # transaction, at most once per housekeeping_every_s.
        self.housekeeping = list(housekeeping)
        # The network I/O to drive on this thread (MqttIngest.pump): it waits for traffic
        # up to the given time and fills the inbox.
        self.pump = pump
        self._next_housekeeping = self.clock.monotonic() + self.settings.housekeeping_every_s
        self._behind_since: float | None = None

    def _accepted_counter(self, kind: str) -> Any:
        child = self._by_kind.get(kind)
        if child is None:
            child = self._by_kind[kind] = self.metrics.messages.labels(kind)
        return child

    # ------------------------------------------------------------------ loop
    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if self.pump is None:
                self.step(self._wait_s())
            else:
                more = self.pump(max(self._wait_s(), 0.0))
                self.step(0, behind=more)

    def step(self, wait_s: float, *, behind: bool = False) -> int:
        """Take what is queued (waiting up to ``wait_s`` for the first item) and process it.
        ``behind``: more is waiting to be read than what is queued."""
        items: list[Item] = []
        try:
            items.append(self.inbox.get(timeout=max(wait_s, 0.0)))
            while len(items) < self.settings.batch_max:
                items.append(self.inbox.get_nowait())
        except queue.Empty:
            pass
        self.process(items, behind=behind or len(items) >= self.settings.batch_max)
        return len(items)

    def _wait_s(self) -> float:
        mono = self.clock.monotonic()
        due = self.tracker.next_due()
        wait = self.settings.tick_every_s
        if due is not None:
            wait = min(wait, due - mono)
        return min(wait, self._next_listener_tick - mono) if self.listeners else wait

    # ------------------------------------------------------------------ one batch
    def _may_judge_deadlines(self, behind: bool, mono: float) -> bool:
        if not behind:
            if self._behind_since is not None:
                log.info("caught up after %.1f s behind", mono - self._behind_since)
            self._behind_since = None
            return True
        if self._behind_since is None:
            self._behind_since = mono
        if mono - self._behind_since >= self.settings.max_defer_s:
            return True
        self.metrics.deferred_ticks.inc()
        return False

    def process(self, items: Sequence[Item], *, behind: bool = False) -> None:
        """``behind``: unread messages are still waiting; deadlines wait for them."""
        batch = Batch()
        accepted: list[tuple[Decoded, datetime]] = []
        received: list[float] = []
        for item in items:
            if isinstance(item, LinkEvent):
                self._link(item)
                continue
            received.append(item.mono)
            decoded = self._handle(item, batch)
            if decoded is not None:
                accepted.append((decoded, item.received_at))
        for kind, n in batch.accepted.items():  # once per kind, not once per message
            self._accepted_counter(kind).inc(n)
        now, mono = self.clock.now(), self.clock.monotonic()
        if self._may_judge_deadlines(behind, mono):
            batch.transitions += self.tracker.tick(now, mono)
        tick_listeners = bool(self.listeners) and mono >= self._next_listener_tick
        if batch or accepted or tick_listeners:
            t0 = time.perf_counter()
            with self.store.transaction() as conn:
                self.store.write(conn, batch)
                self._notify(conn, batch.transitions, accepted, now, tick_listeners)
            self.metrics.store_write_seconds.observe(time.perf_counter() - t0)
            if tick_listeners:
                self._next_listener_tick = mono + self.settings.tick_every_s
        if self.housekeeping and mono >= self._next_housekeeping:
            self._next_housekeeping = mono + self.settings.housekeeping_every_s
            for chore in self.housekeeping:
                try:
                    chore(self.store.conn, now)
                except Exception:
                    log.exception("housekeeping %s failed", getattr(chore, "__name__", chore))
        done = self.clock.monotonic()
        for r in received:
            self.metrics.ingest_latency.observe(max(done - r, 0.0))
        for t in batch.transitions:
            self.metrics.state_changes.labels(t.subject_type.value, t.to_status.value).inc()
        for sink in self.sinks:
            for decoded, at in accepted:
                try:
                    sink.submit(decoded, at)
                except Exception:  # a sink must never take ingest down
                    log.exception("telemetry sink failed")

    def _link(self, ev: LinkEvent) -> None:
        self.connected = ev.connected
        self.metrics.broker_connected.set(1 if ev.connected else 0)
        if ev.connected:
            # Deadlines restart from the moment we can see again: our blindness is no outage.
            # A broker that lost our session restarted: its clients are in their backoff.
            self.tracker.resume_all(ev.at, ev.mono, broker_restarted=not ev.session_present)
        else:
            self.tracker.pause()

    def _handle(self, item: Received, batch: Batch) -> Decoded | None:
        self.last_message_mono = item.mono
        if self.first_message_mono is None:
            self.first_message_mono = item.mono
        result = decode(
            item.topic,
            item.payload,
            now=item.received_at,
            max_bytes=self.settings.max_payload_bytes,
        )
        if isinstance(result, Rejected):
            self._reject(result.reason.value, result.detail, item.topic)
            return None
        msg, ref = result.message, result.ref
        at, mono = item.received_at, item.mono
        outcome: Outcome | None = None
        if not msg.historical:
            if isinstance(msg, Status):
                outcome = self.tracker.observe_status(
                    ref.gateway_id,
                    ref.terminal_id,
                    msg.state,
                    msg.session,
                    msg.reason,
                    at,
                    mono,
                    item.retained,
                )
            elif isinstance(msg, Heartbeat):
                outcome = self.tracker.observe_heartbeat(
                    ref.gateway_id, ref.terminal_id, msg.session, msg.seq, msg.interval, at, mono
                )
        if outcome is not None:
            if outcome.rejected is not None:
                self._reject(outcome.rejected.value, outcome.detail, item.topic)
                return None
            batch.transitions += outcome.transitions
            if outcome.absorbed_will:
                self.metrics.absorbed_wills.inc()
        batch.accepted[ref.kind.value] = batch.accepted.get(ref.kind.value, 0) + 1
        self._remember(batch, result, at)
        return result

    def _remember(self, batch: Batch, decoded: Decoded, at: datetime) -> None:
        msg, ref = decoded.message, decoded.ref
        gw = batch.gateways.get(ref.gateway_id)
        if gw is None:
            gw = batch.gateways[ref.gateway_id] = SubjectUpdate(last_seen_at=at)
        gw.last_seen_at = at
        subject = gw
        if ref.terminal_id is not None:
            subject = batch.terminals.get(ref.terminal_id) or SubjectUpdate(
                last_seen_at=at, gateway_id=ref.gateway_id
            )
            batch.terminals[ref.terminal_id] = subject
            subject.last_seen_at = at
        key = (
            (SubjectType.TERMINAL, ref.terminal_id)
            if ref.terminal_id is not None
            else (SubjectType.GATEWAY, ref.gateway_id)
        )
        state = self.tracker.get(*key)
        if state is not None:
            subject.due_at = state.deadline_wall
            if ref.terminal_id is None:
                gw.session = state.session
        if isinstance(msg, Heartbeat):
            subject.interval = msg.interval
            if not msg.historical and ref.terminal_id is None:
                gw.clock_skew_s = round((msg.ts - at).total_seconds(), 3)
            return  # liveness evidence: kept as columns and state changes, not as history rows
        if isinstance(msg, Firmware):
            subject.columns.update(
                {
                    k: v
                    for k, v in (
                        ("firmware_version", msg.terminal_fw or msg.os),
                        ("os_version", msg.os),
                        ("payment_app", msg.payment_app),
                    )
                    if v is not None
                }
            )
        elif isinstance(msg, Network):
            subject.columns["link_type"] = msg.link.value
        elif isinstance(msg, Hardware):
            for name in ("receipts_printed", "battery_health_pct", "error_count"):
                value = getattr(msg, name)
                if value is not None:
                    subject.columns[name] = value
        batch.telemetry.append(
            TelemetryRow(
                ref.gateway_id,
                ref.terminal_id or "",
                ref.kind.value,
                at,
                msg.ts,
                msg.historical,
                dumps(msg.model_dump(mode="json", exclude_none=True)),
            )
        )

    def _reject(self, reason: str, detail: str, topic: str) -> None:
        self.metrics.rejected.labels(reason).inc()
        if self._log_budget.allow(reason, self.clock.monotonic()):
            log.warning("rejected %s on %r: %s", reason, topic[:200], detail)

    def _notify(
        self,
        conn: sqlite3.Connection,
        transitions: Sequence[Transition],
        accepted: Sequence[tuple[Decoded, datetime]],
        now: datetime,
        tick: bool,
    ) -> None:
        for listener in self.listeners:
            calls: list[Callable[[], None]] = []
            if transitions:
                calls.append(partial(listener.on_transitions, conn, transitions, now))
            if accepted:
                calls.append(partial(listener.on_messages, conn, accepted, now))
            if tick:
                calls.append(partial(listener.tick, conn, now))
            for call in calls:
                # A savepoint per call: a failing listener loses its own writes, never the
                # batch's liveness rows.
                conn.execute("SAVEPOINT listener")
                try:
                    call()
                except Exception:
                    conn.execute("ROLLBACK TO SAVEPOINT listener")
                    self.metrics.listener_errors.inc()
                    log.exception("listener %s failed", type(listener).__name__)
                conn.execute("RELEASE SAVEPOINT listener")


class _LogBudget:
    """At most a few log lines per reason per minute: a flood of garbage must not flood logs."""

    def __init__(self, per_minute: int = 5) -> None:
        self.per_minute = per_minute
        self._window: dict[str, tuple[float, int]] = {}

    def allow(self, reason: str, mono: float) -> bool:
        start, count = self._window.get(reason, (mono, 0))
        if mono - start > 60:
            start, count = mono, 0
        self._window[reason] = (start, count + 1)
        return count < self.per_minute
