"""The ``collector.hooks.Listener`` that wires the engine to the collector loop and store.

Build it once, after the store is open: ``build_listener(conn, settings, now=...)``. It
loads topology and active alerts (firing nothing) and then runs on the processing thread,
writing with the batch's connection (the loop commits).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from collector.alerts import repository as repo
from collector.alerts.config import AlertSettings
from collector.alerts.engine import AlertEngine
from collector.alerts.model import Key
from collector.alerts.rules import TelemetryRules
from collector.alerts.silence import SilenceSettings, SilenceSweep
from collector.alerts.spikes import SpikeSettings, SpikeSweep
from collector.alerts.sweeps import FirmwareSweep, OverdueSweep, load_maintenance_policies
from collector.alerts.txnfeed import WindowFeed
from collector.hooks import Listener
from collector.model import SubjectType, Transition
from collector.store import db
from collector.store.policies import load_schedules
from telemetry.codec import Decoded

log = logging.getLogger(__name__)


class AlertListener:
    def __init__(
        self,
        engine: AlertEngine,
        rules: TelemetryRules,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.rules = rules
        self._mono = monotonic
        self._next_poll: dict[str, float] = {}
        self._topology_marker: tuple[Any, ...] | None = None
        self._moves_seen: int | None = None  # the inventory's move counter, as last read
        self._stale = False
        self.overdue = OverdueSweep(engine.settings.maintenance_chunk)
        self.firmware = FirmwareSweep(engine.settings.maintenance_chunk)
        s = engine.settings
        self.silence = SilenceSweep(
            SilenceSettings(
                expected=s.silence_expected,
                floor_s=s.silence_floor_s,
                min_hours=s.silence_min_hours,
            ),
            chunk=s.silence_chunk,
        )
        self.spikes = SpikeSweep(
            SpikeSettings(
                window_s=s.spike_window_s,
                min_attempts=s.spike_min_attempts,
                min_failures=s.spike_min_failures,
                min_ratio=s.spike_min_ratio,
                factor=s.spike_factor,
            )
        )

    # ------------------------------------------------------------ Listener protocol
    def on_messages(
        self, conn: db.Connection, messages: Sequence[tuple[Decoded, datetime]], now: datetime
    ) -> None:
        with self._guard(conn, now):
            self._on_messages(conn, messages, now)

    def on_transitions(
        self, conn: db.Connection, transitions: Sequence[Transition], now: datetime
    ) -> None:
        with self._guard(conn, now):
            self._on_transitions(conn, transitions, now)

    def tick(self, conn: db.Connection, now: datetime) -> None:
        with self._guard(conn, now):
            self._tick(conn, now)

    @contextmanager
    def _guard(self, conn: db.Connection, now: datetime) -> Iterator[None]:
        """The loop rolls a failed listener call back to a savepoint; the engine's memory
        would then disagree with the store, so the next call resyncs from the store."""
        try:
            if self._stale:
                self._resync(conn, now)
            yield
        except BaseException:
            self._stale = True
            raise

    def _resync(self, conn: db.Connection, now: datetime) -> None:
        log.warning("alert engine resyncing from the store after a failed call")
        settings = self.engine.settings
        self.engine = AlertEngine(settings)
        self.load(conn, now)
        self.engine.reconcile(repo.down_subjects(conn), now)
        self._flush(conn, now)
        self._stale = False

    # ------------------------------------------------------------ implementations
    def _on_messages(
        self, conn: db.Connection, messages: Sequence[tuple[Decoded, datetime]], now: datetime
    ) -> None:
        engine = self.engine
        for decoded, received_at in messages:
            self._know(conn, decoded.ref.gateway_id, decoded.ref.terminal_id)
            verdicts = self.rules.evaluate(
                decoded, received_at, engine.topology, engine.active.__contains__
            )
            engine.apply_verdicts(verdicts, received_at)
        # Most batches change nothing: evaluating then is the tick's job, not the hot path's.
        if engine.changed:
            self._flush(conn, now)

    def _on_transitions(
        self, conn: db.Connection, transitions: Sequence[Transition], now: datetime
    ) -> None:
        # Before a gateway's outage is judged: a terminal moved off it is no longer its.
        self._follow_moves(conn)
        for t in transitions:
            if t.subject_type is SubjectType.GATEWAY:
                self._know(conn, t.subject_id, None)
            elif t.subject_type is SubjectType.TERMINAL:
                self._know(conn, t.gateway_id, t.subject_id)
            self.engine.apply_transition(t)
        self._flush(conn, now)

    def _tick(self, conn: db.Connection, now: datetime) -> None:
        s = self.engine.settings
        self._follow_moves(conn)
        if self._due("actions", s.poll_actions_s):
            repo.refresh_acks(conn, self.engine.active)
            self.engine.suspended = repo.load_suspended(conn)
        if self._due("windows", s.poll_windows_s):
            self.engine.calendar.replace(repo.load_windows(conn, now), now)
        if self._due("policy", s.poll_policy_s):
            policies = repo.load_policies(conn)
            if policies != self.rules.policies:
                self.rules.policies = policies
                self.firmware.start()  # re-judge the fleet's stored versions, a chunk a tick
            self.overdue.policies = load_maintenance_policies(conn)
            self.overdue.schedules = load_schedules(conn)
            self._refresh_topology(conn)
        if self._due("maintenance", s.poll_maintenance_s):
            self.engine.apply_verdicts(self.overdue.step(conn, now), now)
        if self.firmware.running:
            self.engine.apply_verdicts(self.firmware.step(conn, self.rules.policies, now), now)
        # One read of the new windows for both folds, in this transaction (the feed is
        # emptied when the tick ends, so a rolled-back read is never reused): the spike
        # baseline is folded with the silence one; its judgement keeps its own poll, and
        # folds first whatever came since.
        feed = WindowFeed()
        if self._due("silence", s.poll_silence_s):
            self.silence.fold(conn, feed=feed)
            self.spikes.fold(conn, feed=feed)
            self.engine.apply_verdicts(self.silence.step(conn, now), now)
        if self._due("spikes", s.poll_spikes_s):
            self.spikes.fold(conn, feed=feed)
            self.engine.apply_verdicts(self.spikes.step(conn, now), now)
        self._flush(conn, now)

    # ------------------------------------------------------------ internals
    def load(self, conn: db.Connection, now: datetime) -> None:
        """Startup: inventory, operator data, active alerts. Pages nobody."""
        self._moves_seen, _ = repo.terminal_moves(conn, None, self.engine.topology)
        repo.load_topology(conn, self.engine.topology)
        self._topology_marker = repo.topology_marker(conn)
        self.engine.suspended = repo.load_suspended(conn)
        self.engine.calendar.replace(repo.load_windows(conn, now), now)
        self.rules.policies = repo.load_policies(conn)
        self.firmware.start()  # the policy may have changed while the collector was down
        self.overdue.policies = load_maintenance_policies(conn)
        self.overdue.schedules = load_schedules(conn)
        self.engine.load(repo.load_active_alerts(conn))
        self.spikes.load(conn)
        log.info(
            "alert engine loaded: %d gateways, %d active alerts, %d sites down",
            len(self.engine.topology.gateways),
            len(self.engine.active),
            len(self.engine.sites_down),
        )

    def _flush(self, conn: db.Connection, now: datetime) -> None:
        self.engine.evaluate(now)
        out = self.engine.drain()
        if out:
            repo.write(conn, out, self._id_of)

    def _id_of(self, key: Key) -> int | None:
        alert = self.engine.active.get(key)
        return alert.id if alert is not None else None

    def _due(self, what: str, every_s: float) -> bool:
        now = self._mono()
        if now < self._next_poll.get(what, 0.0):
            return False
        self._next_poll[what] = now + every_s
        return True

    def _know(self, conn: db.Connection, gateway_id: str, terminal_id: str | None) -> None:
        """Look up a subject the engine has not seen (registered after startup)."""
        topo = self.engine.topology
        if gateway_id and gateway_id not in topo.gateways:
            row = conn.execute(
                "SELECT site_id, region_id, model, status, decommissioned FROM gateways "
                "WHERE gateway_id = ?",
                (gateway_id,),
            ).fetchone()
            site, region, model, status, decom = row or ("", "", "", "unknown", 0)
            topo.set_gateway(
                gateway_id,
                site_id=site,
                region_id=region,
                model=model,
                status=repo._liveness(status),
                decommissioned=bool(decom),
            )
        held = topo.terminals.get(terminal_id) if terminal_id else None
        # Known behind another gateway than the evidence's: moved by an import the tick has
        # not followed yet (the tracker re-parents at once, collector/liveness.py).
        if terminal_id and (held is None or (gateway_id and held.gateway_id != gateway_id)):
            row = conn.execute(
                f"SELECT {repo.TERMINAL_PLACE} FROM terminals WHERE terminal_id = ?",
                (terminal_id,),
            ).fetchone()
            repo.set_terminal(topo, terminal_id, *(row or (gateway_id, "", "", "", 0)))
            if held is not None:
                self.engine.relocate(terminal_id)

    def _follow_moves(self, conn: db.Connection) -> None:
        """Terminals the inventory moved to another gateway (an import bumps a counter, one
        primary-key read here): the topology puts them behind their new gateway and their
        active alerts move with them, before anything of the old gateway is judged again.
        The collector's liveness tracker re-parents them from the same batch on."""
        self._moves_seen, moved = repo.terminal_moves(conn, self._moves_seen, self.engine.topology)
        for terminal_id in moved:
            self.engine.relocate(terminal_id)

    def _refresh_topology(self, conn: db.Connection) -> None:
        marker = repo.topology_marker(conn)
        if marker != self._topology_marker:
            self._topology_marker = marker
            status = dict(self.engine.topology.status)
            repo.load_topology(conn, self.engine.topology)
            # The engine's view of gateway liveness comes from transitions; keep it.
            self.engine.topology.status.update(status)


def build_listener(
    conn: db.Connection,
    settings: AlertSettings,
    *,
    now: datetime,
    monotonic: Callable[[], float] = time.monotonic,
) -> AlertListener:
    """The collector's main calls this once with the store connection and its clock's now."""
    listener = AlertListener(AlertEngine(settings), TelemetryRules(settings), monotonic=monotonic)
    listener.load(conn, now)
    return listener


def _is_a_listener(listener: AlertListener) -> Listener:
    return listener  # mypy proves AlertListener satisfies collector.hooks.Listener
