"""One running agent: link + outbox + probes + loop. ``main`` adds signals and the pid file;
tests run it in a thread and read its state."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from pathlib import Path

from agent.config import AgentSettings
from agent.contract import OFFLINE_REASONS, Clock, SystemClock
from agent.link import Link
from agent.queue import Outbox
from agent.runner import Agent, Probes, Schedule
from agent.session import SessionCounter
from agent.transport import broker_config
from agent.txnspool import TxnSpool

log = logging.getLogger("agent")


def schedule_of(s: AgentSettings) -> Schedule:
    return Schedule(
        heartbeat_interval=s.heartbeat_interval,
        full_heartbeat_every=s.full_heartbeat_every,
        probe_interval=s.probe_interval,
        network_max_silence=s.network_max_silence,
        firmware_max_silence=s.firmware_max_silence,
        hardware_max_silence=s.hardware_max_silence,
        txn_interval=s.txn_interval,
    )


def txn_spool_of(s: AgentSettings) -> TxnSpool:
    return TxnSpool(
        spool_dir_of(s), s.gateway_id, s.state_dir / "txn-journal", group=s.txn_spool_group
    )


def spool_dir_of(s: AgentSettings) -> Path:
    return s.txn_spool_dir or s.state_dir / "txn-spool"


class Service:
    def __init__(self, s: AgentSettings, probes: Probes, clock: Clock | None = None) -> None:
        self.settings = s
        self.clock = clock or SystemClock()
        s.state_dir.mkdir(parents=True, exist_ok=True)
        self.wake = threading.Event()
        self.stop_event = threading.Event()
        self.reason_file: Path = s.state_dir / "stop-reason"
        self.outbox = Outbox(
            s.state_dir / "outbox.sqlite",
            max_messages=s.queue_max_messages,
            max_age_s=s.queue_max_age_s,
        )
        self.link = Link(
            s.gateway_id,
            broker_config(s),
            sessions=SessionCounter(s.state_dir / "session"),
            outbox=self.outbox,
            clock=self.clock,
            wake=self.wake,
        )
        self.agent = Agent(
            s.gateway_id, probes, self.link, self.clock, schedule_of(s), txn_spool_of(s)
        )

    def request_stop(self, reason: str | None = None) -> None:
        if reason is not None:
            self.reason_file.write_text(reason + "\n")
        self.stop_event.set()
        self.wake.set()

    def run(self, *, once: bool = False) -> None:
        """Loop until asked to stop (or, with ``once``, until one round is delivered)."""
        self.reason_file.unlink(missing_ok=True)
        link, agent, outbox, clock = self.link, self.agent, self.outbox, self.clock
        link.start()
        try:
            # Give the first connection a moment so the first readings go out live.
            give_up = clock.monotonic() + self.settings.connect_timeout * 5
            while not (self.stop_event.is_set() or link.connected.is_set()):
                if clock.monotonic() > give_up:
                    break
                self.wake.wait(0.1)
            while not self.stop_event.is_set():
                self.wake.clear()
                try:
                    agent.tick()
                    link.drain()
                    if link.connected.is_set() and not link.busy:
                        drops = outbox.take_drops()
                        if drops:
                            agent.report_drops(drops)
                            continue
                    elif not link.connected.is_set():
                        outbox.expire(clock.time())
                except sqlite3.Error as exc:
                    # A full or read-only flash: what goes straight out still goes, the
                    # rest (the spool's journal included) waits for room; never a crash loop.
                    log.error("offline queue %s: %s (state_dir full?)", outbox.path, exc)
                if once and not link.busy:
                    break
                timeout = max(0.0, agent.next_due() - clock.monotonic())
                if link.busy:
                    timeout = min(timeout, 0.2)
                self.wake.wait(timeout)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        reason = "shutdown"
        with contextlib.suppress(OSError):
            asked = self.reason_file.read_text().strip()
            if asked in OFFLINE_REASONS[1:]:
                reason = asked
        delivered = self.link.stop(reason)
        log.info(
            "stopped (%s), graceful offline %s",
            reason,
            "delivered" if delivered else "not delivered (broker unreachable)",
        )
        self.outbox.close()
