"""The agent loop: schedule probes, apply the publishing policy, hand messages to a sink.

Pure scheduling (``tick(now)``) with the clock passed in; MQTT sits behind ``Sink``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.contract import KINDS, Body, Clock, ContractError, build, topic_for
from agent.policy import HARDWARE_DEADBANDS, NETWORK_DEADBANDS, ChangePolicy
from agent.probes import Probe, Reading, run_probes
from agent.probes.terminals import TerminalProbe, TerminalReading, collect_all
from agent.txnspool import TxnSpool

log = logging.getLogger(__name__)


class Sink(Protocol):
    session: int

    def send(self, topic: str, body: Body, *, durable: bool = False) -> None: ...


@dataclass
class Schedule:
    heartbeat_interval: float = 120.0
    full_heartbeat_every: int = 15
    probe_interval: float = 60.0
    network_max_silence: float = 3600.0
    firmware_max_silence: float = 86400.0
    hardware_max_silence: float = 3600.0
    # The transaction spool is read (and its lines merged per terminal) this often: at most
    # one transactions message per terminal per interval, plus extra batch closes.
    txn_interval: float = 1200.0


@dataclass
class Probes:
    system: Probe
    network: Probe
    firmware: Probe
    hardware: Probe
    terminals: Sequence[TerminalProbe] = ()
    plugin_errors: dict[str, str] = field(default_factory=dict)


class Agent:
    def __init__(
        self,
        gateway_id: str,
        probes: Probes,
        sink: Sink,
        clock: Clock,
        schedule: Schedule,
        txn_spool: TxnSpool | None = None,
    ) -> None:
        self.gw = gateway_id
        self.probes = probes
        self.sink = sink
        self.clock = clock
        self.schedule = schedule
        self.seq = 0
        self._next_beat: float | None = None
        self._next_probe: float | None = None
        self.txn_spool = txn_spool
        self._next_txn: float | None = None
        self._full_session = -1
        s = schedule
        self.policies: dict[tuple[str | None, str], ChangePolicy] = {}
        self._defaults = {
            "network": (s.network_max_silence, NETWORK_DEADBANDS),
            "firmware": (s.firmware_max_silence, {}),
            "hardware": (s.hardware_max_silence, HARDWARE_DEADBANDS),
        }
        self.stop_requested = threading.Event()

    def next_due(self) -> float:
        due = [t for t in (self._next_beat, self._next_probe, self._next_txn) if t is not None]
        return min(due) if due else self.clock.monotonic()

    def tick(self, force: bool = False) -> None:
        now = self.clock.monotonic()
        if force or self._next_beat is None or now >= self._next_beat:
            self._next_beat = now + self.schedule.heartbeat_interval
            self.heartbeat(full=force)
        if force or self._next_probe is None or now >= self._next_probe:
            self._next_probe = now + self.schedule.probe_interval
            self.on_change("network", run_probes([self.probes.network]), force=force)
            self.on_change("firmware", run_probes([self.probes.firmware]), force=force)
            self.on_change("hardware", run_probes([self.probes.hardware]), force=force)
        if self.txn_spool is not None and (self._next_txn is None or now >= self._next_txn):
            self._next_txn = now + self.schedule.txn_interval
            self.transactions(self.txn_spool)

    def transactions(self, spool: TxnSpool) -> None:
        """Forward what the payment app dropped in the spool; bad lines become an event."""
        try:
            scan = spool.scan(self.clock.time())
        except OSError as exc:
            log.error("transaction spool %s unreadable: %s", spool.root, exc)
            return
        for topic, body in scan.messages:
            # In the outbox (on disk) before the journal goes, even while connected.
            self.sink.send(topic, body, durable=True)
        spool.done(scan)
        if scan.rejected:
            self._emit(
                None,
                "event",
                {
                    "type": "txn_spool_rejected",
                    "severity": "warning",
                    "message": f"{sum(scan.rejected.values())} transaction spool lines refused "
                    f"(see {spool.rejected_dir})",
                    "data": dict(scan.rejected),
                },
                {},
            )

    def heartbeat(self, full: bool = False) -> None:
        session = self.sink.session
        # The heavy fields go on every Nth beat and on the first beat of each session.
        full = full or self.seq % self.schedule.full_heartbeat_every == 0
        full = full or session != self._full_session
        reading = run_probes([self.probes.system]) if full else Reading()
        if full:
            self._full_session = session
        reading.errors.update(self.probes.plugin_errors)
        common = {"session": session, "seq": self.seq, "interval": self.schedule.heartbeat_interval}
        self._emit(None, "heartbeat", {**reading.fields, **common}, reading.errors)
        terminal_readings, errors = collect_all(self.probes.terminals)
        if errors:
            self._emit(
                None,
                "event",
                {
                    "type": "terminal_probe_failed",
                    "severity": "warning",
                    "message": "; ".join(errors.values())[:1024],
                },
                {},
            )
        for t in terminal_readings:
            self._terminal(t, common)
        self.seq += 1

    def _terminal(self, t: TerminalReading, common: dict[str, Any]) -> None:
        kind = t.kind
        # Status is the gateway's own; transactions come from the payment app's spool.
        if kind not in KINDS or kind in ("status", "transactions"):
            log.warning("terminal probe gave unknown kind %r for %s", t.kind, t.terminal_id)
            return
        if kind == "heartbeat":
            self._emit(t.terminal_id, kind, {**t.fields, **common}, t.errors)
        elif kind == "event":
            self._emit(t.terminal_id, kind, t.fields, t.errors)
        else:
            self.on_change(kind, Reading(dict(t.fields), dict(t.errors)), terminal=t.terminal_id)

    def on_change(
        self, kind: str, reading: Reading, *, terminal: str | None = None, force: bool = False
    ) -> None:
        key = (terminal, kind)
        if key not in self.policies:
            silence, bands = self._defaults[kind]
            self.policies[key] = ChangePolicy(silence, bands)
        policy = self.policies[key]
        # Errors take part in the comparison: a new failure is a change worth sending.
        snapshot = {**reading.fields, "errors": reading.errors}
        now = self.clock.monotonic()
        wanted = force or policy.decide(snapshot, now)
        if wanted and self._emit(terminal, kind, reading.fields, reading.errors):
            policy.sent(snapshot, now)

    def _emit(
        self, terminal: str | None, kind: str, fields: dict[str, Any], errors: dict[str, str]
    ) -> bool:
        try:
            # Invalid optional fields are dropped and named in `errors` by `build`.
            body = build(kind, self.gw, self.clock.time(), fields, errors, terminal)
        except ContractError as exc:
            log.error("cannot build %s message: %s", kind, exc)
            return False
        self.sink.send(topic_for(self.gw, kind, terminal), body)
        return True

    def report_drops(self, drops: dict[str, int]) -> None:
        total = sum(drops.values())
        if total:
            self._emit(
                None,
                "event",
                {
                    "type": "queue_dropped",
                    "severity": "warning",
                    "message": f"{total} queued messages dropped while offline",
                    "data": drops,
                },
                {},
            )
