"""The processing loop: validate, decide liveness, store, notify listeners and sinks.

One thread owns the store's write connection and the liveness tracker, so neither needs a
lock. Between batches it fires due deadlines; it never sleeps past the next one.

No message can stop it (docs/collector.md, "Rejected input"): a message whose handling raises
is rejected ``internal`` and the rest of its batch goes on; a batch whose transaction fails is
rolled back and stored again message by message, so only the message that fails is lost; the
subjects whose evidence was lost are then reloaded from the store into the tracker, so the
two agree again. A step that fails as a whole (the store refuses every write, the broker link
raises) is counted and retried after a backoff that doubles up to ``backoff_max_s``.

Several collectors (``shared``, collector/store/shared.py): the store holds liveness; each
batch is one transaction that locks and loads its subjects into a fresh tracker, judges on
the database's clock, fires the deadlines this collector claimed and writes the rows back.
Nothing is kept between batches, so there is nothing to resync.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from collector.enrolment import ADMITTED, Admission, Enrolment, Sighting
from collector.hooks import BatchListener, Listener, TelemetrySink
from collector.ingest import Item, LinkEvent, Received
from collector.liveness import Key, LivenessTracker, Outcome
from collector.metrics import CollectorMetrics
from collector.model import SubjectType, Transition
from collector.store import db
from collector.store.shared import SharedLiveness, View
from collector.store.store import (
    AutoEnrolled,
    Batch,
    Store,
    StoreError,
    SubjectUpdate,
    TelemetryRow,
    WriteResult,
    dumps,
)
from collector.store.transactions import TxnAggregate
from telemetry.cards import redact
from telemetry.clock import Clock, SystemClock
from telemetry.codec import MAX_PAYLOAD_BYTES, Decoded, Rejected, RejectReason, decode
from telemetry.models import (
    Firmware,
    Hardware,
    Heartbeat,
    LinkState,
    Network,
    OfflineReason,
    Status,
    Transactions,
)
from telemetry.topics import TopicRef, parse_topic

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
    # A failing step is retried after backoff_min_s, doubling up to backoff_max_s: never a
    # hot spin on a store that stays down, and short enough for MQTT keepalive (15 s).
    backoff_min_s: float = 0.05
    backoff_max_s: float = 5.0
    # Several collectors: a batch the store refused only because it was busy (the write
    # lock not had within lock_timeout, a serialization failure, a deadlock) is kept in
    # memory and tried again, after the loop's backoff, up to this many times in a row
    # before its messages count as lost (as when the store is really down).
    busy_retries: int = 8
    # A batch that holds the write lock this long is logged with where the time went.
    slow_batch_s: float = 2.0


@dataclass(frozen=True, slots=True)
class _Share:
    """One message's share of a batch: what to store again if the batch fails."""

    topic: str
    decoded: Decoded | None  # None: its handling raised, only its transitions remain
    at: datetime
    start: int  # its transitions: batch.transitions[start:end]
    end: int


class Processor:
    def __init__(
        self,
        store: Store,
        tracker: LivenessTracker,
        metrics: CollectorMetrics,
        inbox: queue.SimpleQueue[Item],
        *,
        listeners: Sequence[Listener] = (),
        sinks: Sequence[TelemetrySink] = (),
        settings: ProcessorSettings | None = None,
        clock: Clock | None = None,
        housekeeping: Sequence[Callable[[db.Connection, datetime], object]] = (),
        pump: Callable[[float], bool] | None = None,
        enrolment: Enrolment | None = None,
        shared: SharedLiveness | None = None,
    ) -> None:
        self.store = store
        if enrolment is None:
            enrolment = Enrolment(store.enrolled, moves=store.terminal_moves)
            enrolment.load(*store.enrolled_ids())
        # Who is in the inventory: nothing else is tracked, stored or alerted on.
        self.enrolment = enrolment
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
        # Subjects whose latest evidence could not be stored: reloaded from the store.
        self._dirty: set[Key] = set()
        self._failures = 0  # consecutive failed steps (the backoff's exponent)
        # Several collectors (collector/store/shared.py): liveness lives in the store and a
        # fresh tracker decides each transaction; deadlines are claimed from the store.
        self.shared = shared
        self._next_claim = 0.0  # monotonic: the next beat and claim of due deadlines
        self._broker_restarted = False  # told to the store with the next beat
        self._ever_connected = False  # a member of the share group from its first connect
        # Messages lost to a store that refused writes (restart, failover): evidence the
        # fleet never stored, so its deadlines prove nothing until they restart.
        self._lost_evidence = False
        # A batch a busy store refused: taken again, alone, by the next step.
        self._retry: list[Received] = []
        self._busy = 0  # consecutive refusals of that batch
        # When this collector last held every message it had received (monotonic); None:
        # when its batch was taken (the queue was drained).
        self._held_since: float | None = None
        # The rejections of a shared batch in flight (reason, detail, topic): counted only
        # once its transaction commits. A batch the store refused is handled again (a
        # retry, or message by message), and would count its rejections twice.
        self._in_shared_txn: list[tuple[str, str, str, BaseException | None]] | None = None
        # When it last had read everything the broker had sent it (monotonic): a step that
        # was not behind. While it is behind, what waits unread on its socket was sent
        # before the newest message it read, possibly long before (a backlog), so its
        # watermark stays here: another member must not judge silent a heartbeat still
        # waiting in this one's socket. None: not yet drained since the start.
        self._drained_at: float | None = None
        # Several collectors: terminals the inventory moved, re-parented in the next batch's
        # transaction (terminal id -> its gateway now).
        self._moves_pending: dict[str, str] = {}

    def _accepted_counter(self, kind: str) -> Any:
        child = self._by_kind.get(kind)
        if child is None:
            child = self._by_kind[kind] = self.metrics.messages.labels(kind)
        return child

    # ------------------------------------------------------------------ loop
    def run(self, stop: threading.Event) -> None:
        """Until ``stop``; no exception ends it (each is counted, logged, backed off)."""
        while not stop.is_set():
            try:
                if self.pump is None:
                    self.step(self._wait_s())
                else:
                    more = self.pump(max(self._wait_s(), 0.0))
                    self.step(0, behind=more)
            except Exception as exc:
                self._failures += 1
                delay = min(
                    self.settings.backoff_min_s * 2 ** min(self._failures - 1, 30),
                    self.settings.backoff_max_s,
                )
                self._loop_error(f"processing step failed, retrying in {delay:.2f} s", exc)
                stop.wait(delay)
            else:
                self._failures = 0

    def step(self, wait_s: float, *, behind: bool = False) -> int:
        """Take what is queued (waiting up to ``wait_s`` for the first item) and process it.
        ``behind``: more is waiting to be read than what is queued."""
        if self._retry:
            # The same batch as the one a busy store refused, nothing added: its messages
            # are already judged late, and a bigger batch would hold the write lock longer.
            items: list[Item] = list(self._retry)
            self._retry = []
            # Newer messages wait in the queue: everything is held only up to this batch's.
            self._held_since = self._watermark(items, behind)
            self.process(items, behind=behind)
            return len(items)
        items = []
        try:
            items.append(self.inbox.get(timeout=max(wait_s, 0.0)))
            while len(items) < self.settings.batch_max:
                items.append(self.inbox.get_nowait())
        except queue.Empty:
            pass
        behind = behind or len(items) >= self.settings.batch_max
        if behind:  # newer messages wait: everything is held only up to this batch's newest
            self._held_since = self._watermark(items, behind)
        else:  # the queue, and the socket before it, are empty: all sent is in this batch
            self._drained_at = self.clock.monotonic()
        self.process(items, behind=behind)
        return len(items)

    def _watermark(self, items: Sequence[Item], behind: bool) -> float | None:
        """Up to when this collector holds everything it was sent, once ``items`` are
        stored: their newest receipt, and while more waits unread (``behind``) no later
        than the last time it had read everything."""
        newest = max((i.mono for i in items if isinstance(i, Received)), default=None)
        if behind and self._drained_at is not None:
            return self._drained_at if newest is None else min(newest, self._drained_at)
        return newest

    def _wait_s(self) -> float:
        mono = self.clock.monotonic()
        due = self._next_claim if self.shared is not None else self.tracker.next_due()
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
        """``behind``: unread messages are still waiting; deadlines wait for them.

        A message never makes this raise: it is accepted or rejected with a reason. Raises
        ``StoreError`` when the store refuses every write (the run loop backs off)."""
        with _no_cyclic_gc():
            if items:
                self._inventory_moves()
            if self.shared is not None:
                self._process_shared(items, behind)
            else:
                self._process(items, behind)

    def _inventory_moves(self) -> None:
        """Terminals the inventory moved to another gateway since the last batch: their old
        gateway is refused from this batch on (collector/enrolment.py), and liveness judges
        them through the new one from the same moment (``LivenessTracker.move``): the old
        gateway's outage neither holds them nor names them. Several collectors: each move
        is applied in the next batch's transaction, to the stored row (idempotent: every
        member applies it, the first one moves it)."""
        try:
            moved = self.enrolment.refresh()
        except Exception as exc:  # the store is down: the batch's write will say so too
            self._loop_error("could not read the inventory's terminal moves", exc)
            return
        if self.shared is not None:
            self._moves_pending.update(moved)
            return
        now, mono = self.clock.now(), self.clock.monotonic()
        for terminal_id, gateway_id in moved:
            self.tracker.move(terminal_id, gateway_id, now, mono)

    def _process(self, items: Sequence[Item], behind: bool) -> None:
        if self._dirty:
            self._resync(self.clock.now(), self.clock.monotonic())
        batch = Batch()
        accepted: list[tuple[Decoded, datetime]] = []
        shares: list[_Share] = []
        received: list[float] = []
        for item in items:
            if isinstance(item, LinkEvent):
                self._link(item)
                continue
            received.append(item.mono)
            start, counts = len(batch.transitions), batch.accepted.copy()
            try:
                decoded = self._handle(item, batch)
            except Exception as exc:
                batch.accepted = counts  # not accepted after all
                decoded = None
                self._internal(item.topic, exc)
                self._dirty.update(_keys_of_topic(item.topic))
            if decoded is not None:
                accepted.append((decoded, item.received_at))
            if decoded is not None or len(batch.transitions) > start:
                shares.append(
                    _Share(item.topic, decoded, item.received_at, start, len(batch.transitions))
                )
        now, mono = self.clock.now(), self.clock.monotonic()
        deadlines_from = len(batch.transitions)
        if self._may_judge_deadlines(behind, mono):
            try:
                batch.transitions += self.tracker.tick(now, mono)
            except Exception as exc:
                self._loop_error("deadline check failed", exc)
        tick_listeners = bool(self.listeners) and mono >= self._next_listener_tick
        counts = batch.accepted
        store_down: StoreError | None = None
        applied: list[Transition] = []
        enrolment_dropped = 0
        if batch or accepted or tick_listeners:
            t0 = time.perf_counter()
            try:
                with self.store.transaction() as conn:
                    written = self.store.write(conn, batch)
                    if written.lost:
                        self._lost_race(conn, written)
                    # Listeners (the alert engine) see only what the store's guard let through.
                    self._notify(conn, written.applied, accepted, now, tick_listeners)
                applied, enrolment_dropped = written.applied, written.enrolment_dropped
            except db.OperationalError as exc:
                # The store, not a message (locked, disk full, I/O): one transaction per
                # message would only wait on it once per message. Counted by run().
                for part in [
                    *shares,
                    _Share("", None, now, deadlines_from, len(batch.transitions)),
                ]:
                    self._lost(part, batch, exc)
                accepted, counts = [], {}
                store_down = StoreError(f"the store refuses writes: {exc}")
            except Exception as exc:
                self._loop_error("batch write failed, storing it message by message", exc)
                accepted, applied, enrolment_dropped, store_down = self._store_one_by_one(
                    batch, shares, deadlines_from, now, tick_listeners
                )
                counts = Counter(d.ref.kind.value for d, _ in accepted)
            self.metrics.store_write_seconds.observe(time.perf_counter() - t0)
            if enrolment_dropped:
                self.metrics.enrolment_dropped.inc(enrolment_dropped)
            if tick_listeners:
                self._next_listener_tick = mono + self.settings.tick_every_s
        for kind, n in counts.items():  # once per kind, not once per message
            self._accepted_counter(kind).inc(n)
        if self._dirty and store_down is None:
            self._resync(now, mono)
        self._housekeep(mono, now)
        self._report(received, applied, accepted)
        if store_down is not None:
            raise store_down

    def _housekeep(self, mono: float, now: datetime | None = None) -> None:
        """The housekeeping chores, when due (at ``now``, else the clock's); one that fails
        is logged and the others still run."""
        if not self.housekeeping or mono < self._next_housekeeping:
            return
        self._next_housekeeping = mono + self.settings.housekeeping_every_s
        at = now if now is not None else self.clock.now()
        for chore in self.housekeeping:
            try:
                chore(self.store.conn, at)
            except Exception:
                log.exception("housekeeping %s failed", getattr(chore, "__name__", chore))

    def _report(
        self,
        received: Sequence[float],
        applied: Sequence[Transition],
        accepted: Sequence[tuple[Decoded, datetime]],
    ) -> None:
        """A batch done: the latency of each message (``received``: when, monotonic) and
        the transitions in the metrics, the accepted messages handed to the sinks."""
        done = self.clock.monotonic()
        for r in received:
            self.metrics.ingest_latency.observe(max(done - r, 0.0))
        for t in applied:
            self.metrics.state_changes.labels(t.subject_type.value, t.to_status.value).inc()
        for sink in self.sinks:
            for decoded, at in accepted:
                try:
                    sink.submit(decoded, at)
                except Exception:  # a sink must never take ingest down
                    log.exception("telemetry sink failed")

    # ------------------------------------------------------------------ several collectors
    def _process_shared(self, items: Sequence[Item], behind: bool) -> None:
        """One transaction per batch on the shared store (collector/store/shared.py): its
        subjects' rows locked and loaded, the messages judged, the deadlines this collector
        claimed fired, the rows written back. A batch whose transaction fails is tried again
        message by message; the message that fails alone is rejected ``internal``."""
        msgs: list[Received] = []
        for item in items:
            if isinstance(item, LinkEvent):
                self._link(item)
            else:
                msgs.append(item)
        mono = self.clock.monotonic()
        held = mono if self._held_since is None else min(self._held_since, mono)
        self._held_since = None
        claim = mono >= self._next_claim and self._may_judge_deadlines(behind, mono)
        tick_listeners = bool(self.listeners) and mono >= self._next_listener_tick
        if not (msgs or claim or tick_listeners):
            return
        applied: list[Transition] = []
        accepted: list[tuple[Decoded, datetime]] = []
        counts: dict[str, int] = {}
        store_down: StoreError | None = None
        t0 = time.perf_counter()
        try:
            applied, accepted, counts = self._shared_batch(msgs, claim, tick_listeners, held)
        except db.BusyError as exc:
            store_down = self._store_busy(msgs, exc)
        except db.OperationalError as exc:
            for item in msgs:
                self._internal(item.topic, exc)
            self._lost_evidence |= bool(msgs)
            store_down = StoreError(f"the store refuses writes: {exc}")
        except Exception as exc:
            if len(msgs) > 1:
                self._loop_error("batch write failed, storing it message by message", exc)
            for i, item in enumerate(msgs):
                if len(msgs) == 1:
                    self._internal(item.topic, exc)
                    break
                try:
                    one = self._shared_batch([item], claim and i == 0, False, held)
                except db.BusyError as exc1:
                    store_down = self._store_busy(msgs[i:], exc1)
                    break
                except db.OperationalError as exc1:
                    for rest in msgs[i:]:
                        self._internal(rest.topic, exc1)
                    self._lost_evidence = True
                    store_down = StoreError(f"the store refuses writes: {exc1}")
                    break
                except Exception as exc1:
                    self._internal(item.topic, exc1)
                    continue
                applied += one[0]
                accepted += one[1]
                for kind, n in one[2].items():
                    counts[kind] = counts.get(kind, 0) + n
        self.metrics.store_write_seconds.observe(time.perf_counter() - t0)
        if store_down is None:
            self._busy = 0
        if tick_listeners:
            self._next_listener_tick = mono + self.settings.tick_every_s
        for kind, n in counts.items():
            self._accepted_counter(kind).inc(n)
        self._report([item.mono for item in msgs], applied, accepted)
        self._housekeep(mono)
        if store_down is not None:
            raise store_down

    def _store_busy(self, msgs: Sequence[Received], exc: BaseException) -> StoreError:
        """The store refused the batch only because another transaction was in the way: keep
        its messages for the next step (the run loop backs off first). Evidence is lost only
        after ``busy_retries`` refusals in a row, as when the store is down."""
        if not msgs:  # a tick or a beat alone: the next step makes its own
            return StoreError(f"the store is busy ({type(exc).__name__}: {exc})")
        self._busy += 1
        if self._busy <= self.settings.busy_retries:
            self._retry = list(msgs)
            self.metrics.store_retries.inc()
            return StoreError(
                f"the store is busy ({type(exc).__name__}: {exc}): the batch of {len(msgs)} "
                f"message(s) is tried again (refusal {self._busy} of "
                f"{self.settings.busy_retries})"
            )
        for item in msgs:
            self._internal(item.topic, exc)
        self._lost_evidence = True
        self._busy = 0
        return StoreError(f"the store stayed busy, {len(msgs)} message(s) lost: {exc}")

    def _shared_batch(
        self, msgs: Sequence[Received], claim: bool, tick_listeners: bool, held: float
    ) -> tuple[list[Transition], list[tuple[Decoded, datetime]], dict[str, int]]:
        shared = self.shared
        assert shared is not None
        keys: set[Key] = set()
        for item in msgs:
            ref = parse_topic(item.topic)
            if ref is not None:
                keys.add((SubjectType.GATEWAY, ref.gateway_id))
                if ref.terminal_id is not None:
                    keys.add((SubjectType.TERMINAL, ref.terminal_id))
        moves = dict(self._moves_pending)
        for terminal_id, gateway_id in moves.items():
            keys.add((SubjectType.TERMINAL, terminal_id))
            keys.add((SubjectType.GATEWAY, gateway_id))
        # Decoding is pure: done before the transaction, so the write lock is held only
        # for what needs the store.
        decoded_msgs = [self._decode(item) for item in msgs]
        now = self.clock.now()
        t0 = time.perf_counter()
        self._in_shared_txn = []
        try:
            applied, accepted, accepted_counts, view, t_locked, t_judged = self._shared_txn(
                shared, msgs, keys, decoded_msgs, claim, tick_listeners, held, now, moves
            )
            rejected = self._in_shared_txn
        finally:
            self._in_shared_txn = None
        for terminal_id, gateway_id in moves.items():  # committed: moved in the store
            if self._moves_pending.get(terminal_id) == gateway_id:
                del self._moves_pending[terminal_id]
        for reason, detail, topic, exc in rejected:
            if exc is not None:
                self._internal(topic, exc)
            else:
                self._reject(reason, detail, topic)
        self._broker_restarted = self._lost_evidence = False
        done = time.perf_counter()
        self.metrics.store_lock_wait_seconds.observe(t_locked - t0)
        self.metrics.store_lock_held_seconds.observe(done - t_locked)
        if done - t_locked >= self.settings.slow_batch_s and self._log_budget.allow(
            "slow_batch", self.clock.monotonic()
        ):
            log.warning(
                "a batch held the store's write lock %.2f s (%d messages, %d deadlines "
                "claimed; liveness and store %.2f s, listeners %.2f s; waited %.2f s for it)",
                done - t_locked,
                len(msgs),
                view.claimed,
                t_judged - t_locked,
                done - t_judged,
                t_locked - t0,
            )
        if claim:
            mono = self.clock.monotonic()
            wait = self.settings.tick_every_s
            if view.claimed >= shared.settings.claim_max:
                wait = 0.0  # more are due
            elif view.may_tick and shared.next_deadline is not None:
                # Wake at the next deadline (converted to our clock); a row due but locked
                # by another collector is retried shortly, not in a hot loop.
                wait = min(wait, max(shared.next_deadline - view.db_now, 0.05))
            self._next_claim = mono + wait
        return applied, accepted, accepted_counts

    def _shared_txn(
        self,
        shared: SharedLiveness,
        msgs: Sequence[Received],
        keys: set[Key],
        decoded_msgs: Sequence[Decoded | Rejected],
        claim: bool,
        tick_listeners: bool,
        held: float,
        now: datetime,
        moves: dict[str, str],
    ) -> tuple[
        list[Transition], list[tuple[Decoded, datetime]], dict[str, int], View, float, float
    ]:
        """The batch's transaction: (transitions applied, accepted, counts by kind, the
        view, when the write lock was had, when the liveness and store work was done)."""
        batch = Batch()
        accepted: list[tuple[Decoded, datetime]] = []
        with self.store.transaction() as conn:
            t_locked = time.perf_counter()
            # Before the database's clock is read: a message's age measured from here is
            # never more than its age then (its receipt is never placed too early).
            mono_ref = self.clock.monotonic()
            view = shared.begin(
                conn,
                keys,
                claim=claim,
                connected=self.connected if self._ever_connected else None,
                broker_restarted=self._broker_restarted,
                lost_evidence=self._lost_evidence,
                now=now,
                # Received and not yet stored since then (the lock's wait included).
                lag_s=self.clock.monotonic() - held,
            )
            self.tracker = view.tracker
            for terminal_id, gateway_id in moves.items():
                view.tracker.move(terminal_id, gateway_id, now, view.db_now)
            for item, result in zip(msgs, decoded_msgs, strict=True):
                counts = batch.accepted.copy()
                try:
                    # Its receipt on the database's clock: a deadline runs from when the
                    # heartbeat came, not from when its batch got the write lock.
                    received = view.db_now - max(mono_ref - item.mono, 0.0)
                    decoded = self._handle(item, batch, received, result)
                except Exception as exc:
                    batch.accepted = counts  # not accepted after all
                    self._internal(item.topic, exc)
                    continue
                if decoded is not None:
                    accepted.append((decoded, item.received_at))
            if view.may_tick:
                # As of the horizon: what another collector received before it is stored.
                batch.transitions += view.tracker.tick(now, view.horizon)
            written = self.store.write(conn, batch)
            if written.lost:
                self._lost_race(conn, written)
            shared.finish(conn, view)
            t_judged = time.perf_counter()
            self._notify(conn, written.applied, accepted, now, tick_listeners)
        return written.applied, accepted, batch.accepted, view, t_locked, t_judged

    def _store_one_by_one(
        self,
        batch: Batch,
        shares: Sequence[_Share],
        deadlines_from: int,
        now: datetime,
        tick_listeners: bool,
    ) -> tuple[list[tuple[Decoded, datetime]], list[Transition], int, StoreError | None]:
        """The batch's transaction failed and was rolled back: store each message (and the
        deadlines' transitions) in a transaction of its own, with the transitions the
        tracker gave it. The one that fails is rejected ``internal``; the tracker has
        already counted it, so its subjects are reloaded from the store afterwards.

        Returns what was stored, the transitions the store's guard let through, the enrolment
        rows dropped, and a ``StoreError`` when the store itself is failing
        (``db.OperationalError``: locked, disk full, I/O): then the rest is not tried,
        each of its messages is rejected ``internal``, and the caller backs off."""
        parts = [*shares, _Share("", None, now, deadlines_from, len(batch.transitions))]
        stored: list[tuple[Decoded, datetime]] = []
        transitions: list[Transition] = []
        dropped = 0
        for i, part in enumerate(parts):
            one = Batch(transitions=batch.transitions[part.start : part.end])
            tick = tick_listeners and i == len(parts) - 1
            messages = [(part.decoded, part.at)] if part.decoded is not None else []
            if not (one.transitions or messages or tick):
                continue
            try:
                if part.decoded is not None:
                    self._remember(one, part.decoded, part.at)
                with self.store.transaction() as conn:
                    written = self.store.write(conn, one)
                    if written.lost:
                        self._lost_race(conn, written)
                    self._notify(conn, written.applied, messages, now, tick)
            except db.OperationalError as exc:
                for rest in parts[i:]:
                    self._lost(rest, batch, exc)
                return stored, transitions, dropped, StoreError(f"the store refuses writes: {exc}")
            except Exception as exc:
                self._lost(part, batch, exc)
                continue
            stored += messages
            transitions += written.applied
            dropped += written.enrolment_dropped
        return stored, transitions, dropped, None

    def _lost(self, part: _Share, batch: Batch, exc: BaseException) -> None:
        if part.decoded is not None:  # a message whose handling raised is counted already
            self._internal(part.topic, exc)
        self._dirty.update(_keys_of_topic(part.topic))
        self._dirty.update(
            (t.subject_type, t.subject_id) for t in batch.transitions[part.start : part.end]
        )

    def _resync(self, now: datetime, mono: float) -> None:
        """The tracker takes back the stored facts of every subject whose evidence was lost."""
        try:
            for key in list(self._dirty):
                self.tracker.restore(self.store.stored_state(*key), now, mono)
                self._dirty.discard(key)
        except Exception as exc:  # the store cannot be read: try again after the next batch
            self._loop_error("reloading subjects from the store failed", exc)

    def _lost_race(self, conn: db.Connection, written: WriteResult) -> None:
        """Transitions the store's guard refused: the subject was not in the status the
        tracker believed (another writer moved it). The store is the truth: the tracker
        takes its status back from there, and the next evidence is judged against it."""
        for t in written.lost:
            self.metrics.transitions_lost.labels(t.subject_type.value).inc()
        keys = dict.fromkeys((t.subject_type, t.subject_id) for t in written.lost)
        self.tracker.load(self.store.stored_states(conn, keys))
        if self._log_budget.allow("transition_lost", self.clock.monotonic()):
            t = written.lost[0]
            log.warning(
                "%d transition(s) lost to another writer, e.g. %s %s %s->%s",
                len(written.lost),
                t.subject_type.value,
                t.subject_id,
                t.from_status.value,
                t.to_status.value,
            )

    def _link(self, ev: LinkEvent) -> None:
        self.connected = ev.connected
        self.metrics.broker_connected.set(1 if ev.connected else 0)
        if self.shared is not None:
            # The store learns it with the next beat, at once: the fleet's vision is decided
            # there, over every collector.
            self._next_claim = 0.0
            self._ever_connected |= ev.connected
            if ev.connected and not ev.session_present:
                self._broker_restarted = True
            return
        if ev.connected:
            # Deadlines restart from the moment we can see again: our blindness is no outage.
            # A broker that lost our session restarted: its clients are in their backoff.
            self.tracker.resume_all(ev.at, ev.mono, broker_restarted=not ev.session_present)
        else:
            self.tracker.pause()

    def _decode(self, item: Received) -> Decoded | Rejected:
        return decode(
            item.topic,
            item.payload,
            now=item.received_at,
            max_bytes=self.settings.max_payload_bytes,
        )

    def _handle(
        self,
        item: Received,
        batch: Batch,
        db_now: float | None = None,
        result: Decoded | Rejected | None = None,
    ) -> Decoded | None:
        """``db_now``: several collectors judge on the database's clock, not this one's:
        the item's receipt, as that clock read it.
        ``result``: the item decoded already (outside the batch's transaction)."""
        self.last_message_mono = item.mono
        if self.first_message_mono is None:
            self.first_message_mono = item.mono
        if result is None:
            result = self._decode(item)
        if isinstance(result, Rejected):
            self._reject(result.reason.value, result.detail, item.topic)
            return None
        msg, ref = result.message, result.ref
        at, mono = item.received_at, item.mono if db_now is None else db_now
        admission = self.enrolment.admit(ref.gateway_id, ref.terminal_id)
        if admission is not ADMITTED and admission.owner is not None:
            self._reject(
                RejectReason.WRONG_GATEWAY.value,
                f"terminal {ref.terminal_id} is enrolled behind gateway {admission.owner}, "
                f"not {ref.gateway_id}: a moved terminal is re-imported with its new gateway",
                item.topic,
            )
            return None
        if admission is not ADMITTED and not self._admit(admission, ref, at, batch):
            stype, sid = admission.unknown or ("", "")
            self._reject(
                RejectReason.UNREGISTERED.value,
                f"{stype} {sid} is not in the inventory: listed for enrolment",
                item.topic,
            )
            return None
        outcome: Outcome | None = None
        if (
            isinstance(msg, Status)
            and msg.state is LinkState.OFFLINE
            and not isinstance(msg.reason, OfflineReason | None)
        ):
            self._unknown_reason(msg.reason, item.topic)
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

    def _admit(self, admission: Admission, ref: TopicRef, at: datetime, batch: Batch) -> bool:
        """List an id that is not enrolled (False), or write down what was auto-enrolled."""
        if admission.unknown is not None:
            stype, sid = admission.unknown
            seen = batch.unregistered.get(admission.unknown)
            if seen is None:
                gateway = ref.gateway_id if stype is SubjectType.TERMINAL else ""
                seen = Sighting(stype, sid, gateway, at, at, 0, ref.kind.value)
                batch.unregistered[admission.unknown] = seen
            seen.last_seen_at, seen.last_kind = at, ref.kind.value
            seen.messages += 1
            return False
        region = self.enrolment.settings.auto_region
        for stype, sid in admission.enrol:
            terminal = stype is SubjectType.TERMINAL
            batch.enrol.append(
                AutoEnrolled(
                    stype, sid, ref.gateway_id if terminal else "", "" if terminal else region, at
                )
            )
            self.metrics.auto_enrolled.labels(stype.value).inc()
            if self._log_budget.allow("auto_enrol", self.clock.monotonic()):
                log.info("auto-enrolled %s %s (POSFLEET_AUTO_ENROL)", stype.value, sid)
        return True

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
        if isinstance(msg, Transactions):
            # Money has its own tables (collector/store/transactions.py), not the telemetry
            # history whose rollups would average counts into nonsense.
            batch.transactions.append(TxnAggregate(ref.gateway_id, ref.terminal_id or "", at, msg))
            return
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

    def _unknown_reason(self, reason: str, topic: str) -> None:
        # Accepted, not rejected: a newer agent's reason still marks its gateway offline (as
        # an unplanned fault); operators see here that an agent speaks a newer contract.
        self.metrics.unknown_offline_reasons.inc()
        if self._log_budget.allow("unknown_offline_reason", self.clock.monotonic()):
            log.warning(
                "unknown offline reason %r on %r: taken as an unplanned offline",
                reason,
                topic[:200],
            )

    def _internal(self, topic: str, exc: BaseException) -> None:
        reason = RejectReason.INTERNAL.value
        if self._in_shared_txn is not None:  # counted once the batch is stored
            self._in_shared_txn.append((reason, "", topic, exc))
            return
        self.metrics.rejected.labels(reason).inc()
        if self._log_budget.allow(reason, self.clock.monotonic()):
            log.error("rejected %s on %r: %s: %s", reason, topic[:200], type(exc).__name__, exc,
                      exc_info=exc)  # fmt: skip

    def _loop_error(self, what: str, exc: BaseException) -> None:
        self.metrics.loop_errors.inc()
        if self._log_budget.allow("loop", self.clock.monotonic()):
            log.error("%s: %s: %s", what, type(exc).__name__, exc, exc_info=exc)

    def _reject(self, reason: str, detail: str, topic: str) -> None:
        if self._in_shared_txn is not None:  # counted once the batch is stored
            self._in_shared_txn.append((reason, detail, topic, None))
            return
        self.metrics.rejected.labels(reason).inc()
        if self._log_budget.allow(reason, self.clock.monotonic()):
            # A topic that is not ours may hold anything, a card number included.
            shown = redact(topic[:260]) if reason == RejectReason.UNKNOWN_TOPIC.value else topic
            log.warning("rejected %s on %r: %s", reason, shown[:200], detail)

    def _notify(
        self,
        conn: db.Connection,
        transitions: Sequence[Transition],
        accepted: Sequence[tuple[Decoded, datetime]],
        now: datetime,
        tick: bool,
    ) -> None:
        for listener in self.listeners:
            calls: list[Callable[[], None]] = []
            if self.shared is not None and isinstance(listener, BatchListener):
                calls.append(partial(listener.begin, conn, now))
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


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """No cyclic garbage collection while a batch is processed.

    Everything a batch builds (models, rows, bookkeeping: about 25 tracked objects a
    transaction window, 8 a heartbeat) lives until its transaction ends, so a
    collection set off in the middle of the batch only walks live objects and finds no
    garbage: about 3 µs a message of the transaction mix, 8 µs a window
    (docs/transactions.md, "How fast"). After the batch, reference counting has
    freed it and the collector runs as usual. Only the thread that turned collection off
    turns it back on (another may have done so first)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _keys_of_topic(topic: str) -> list[Key]:
    """The subject a message is evidence about: its terminal, else its gateway."""
    ref = parse_topic(topic)
    if ref is None:
        return []
    if ref.terminal_id is not None:
        return [(SubjectType.TERMINAL, ref.terminal_id)]
    return [(SubjectType.GATEWAY, ref.gateway_id)]


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
