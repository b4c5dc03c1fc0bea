"""Transaction windows of a simulated fleet over its real MQTT connections.

Each payment device (simulators/txnmodel.py) reports a ``transactions`` window every
``window_s`` on its own topic (``terminal/{tid}/transactions``, or the gateway's own when
the gateway is the payment device), like the agent does with what the payment app spools.
A back-fill of history (hourly windows, ``historical``) is queued at start and published
at the pace the runner allows (``allow``), so the collector's baselines exist before a
scenario's timeline starts without burying the live windows behind a flood.

Runs on the fleet's thread (``Fleet.run_once`` calls ``tick``): paho is not thread-safe.
"""

from __future__ import annotations

import heapq
import random
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from simulators.fleetmodel import Fleet as FleetModel
from simulators.txnmodel import Device, SettledBatch, TxnMode, acquirer_of, store_type_of
from telemetry import Kind, encode

if TYPE_CHECKING:
    from simulators.gateways import Fleet


def devices_of(model: FleetModel, seed: int, mix: Iterable[str]) -> list[Device]:
    """The fleet's payment devices: PIN pads behind store routers, all-in-one POS gateways."""
    sites = {s.site_id: s for s in model.sites}
    mix_t = tuple(mix)
    out = []
    for g in model.gateways:
        site = sites[g.site_id]
        store = store_type_of(site.site_id, seed, mix_t)
        acquirer = acquirer_of(site.site_id, seed)
        pairs: list[tuple[str, str | None]] = [(t.terminal_id, t.terminal_id) for t in g.terminals]
        for dev_id, terminal in pairs or [(g.gateway_id, None)]:
            out.append(
                Device(
                    dev_id,
                    g.gateway_id,
                    terminal,
                    site.site_id,
                    f"M-{site.site_id}",
                    ZoneInfo(site.tz),
                    store,
                    acquirer,
                    random.Random(f"{seed}:{dev_id}:txn"),
                )
            )
    return out


class TxnDriver:
    def __init__(self, devices: list[Device], *, window_s: float, scale: float) -> None:
        self.devices = {d.device_id: d for d in devices}
        self.window_s = window_s
        self.scale = scale
        self.since: dict[str, datetime] = {}
        self._due: list[tuple[float, str]] = []
        self.history: deque[tuple[str, str | None, bytes]] = deque()
        self.history_total = 0
        self.history_sent = 0
        self.allowed = 0  # history messages the runner lets out so far
        self.live_sent = 0
        self.started_at: datetime | None = None

    # ------------------------------------------------------------------ setup
    def start(self, now: datetime, history_s: float, history_window_s: float = 3600.0) -> int:
        """Queue ``history_s`` of history before ``now`` and start the live windows at
        ``now``; return the number of history messages queued."""
        self.started_at = now
        first = now - timedelta(seconds=history_s)
        step = timedelta(seconds=history_window_s)
        bounds = []
        t = first
        while t < now:
            bounds.append((t, min(t + step, now)))
            t += step
        queued: list[tuple[datetime, str, str | None, bytes]] = []
        for d in self.devices.values():
            for lo, hi in bounds:
                w = d.window(lo, hi, self.scale, historical=True)
                if w is not None:
                    queued.append((hi, d.gateway_id, d.terminal, encode(w)))
        queued.sort(key=lambda q: q[0])
        self.history.extend((gw, term, body) for _t, gw, term, body in queued)
        self.history_total = len(queued)
        mono = time.monotonic()
        for i, dev in enumerate(sorted(self.devices)):
            self.since[dev] = now
            # Spread over the first window so the fleet does not report in one burst.
            heapq.heappush(self._due, (mono + self.window_s * (i + 1) / len(self.devices), dev))
        return self.history_total

    def allow(self, n: int) -> None:
        self.allowed = max(self.allowed, n)

    def set_mode(self, device_ids: Iterable[str], mode: str, share: float = 0.0) -> None:
        now = datetime.now(UTC)
        for dev in device_ids:
            d = self.devices[dev]
            if d.mode is TxnMode.STUCK or TxnMode(mode) is TxnMode.STUCK:
                self.since[dev] = now  # a stuck app sells nothing: no window covers it
            d.mode, d.fault_share = TxnMode(mode), share

    def batches(self, day: date) -> list[SettledBatch]:
        """Every batch closed for business day ``day``."""
        return [b for d in self.devices.values() for b in d.batches if b.business_day == day]

    def last_complete_day(self) -> date:
        """The last business day every store has closed (the day before the earliest local
        date of the start)."""
        assert self.started_at is not None
        zones = {d.tz for d in self.devices.values()}
        return min(self.started_at.astimezone(z).date() for z in zones) - timedelta(days=1)

    # ------------------------------------------------------------------ loop
    def tick(self, fleet: Fleet, mono: float) -> None:
        self._live(fleet, mono)
        self._history(fleet)

    def _can(self, fleet: Fleet, gateway_id: str) -> bool:
        from simulators.gateways import Mode

        gw = fleet.gateways[gateway_id]
        return gw.mode is Mode.RUNNING and gw.client is not None and gw.client.is_connected()

    def _live(self, fleet: Fleet, mono: float) -> None:
        due = self._due
        while due and due[0][0] <= mono:
            _when, dev = heapq.heappop(due)
            heapq.heappush(due, (mono + self.window_s, dev))
            d = self.devices[dev]
            gw = fleet.gateways[d.gateway_id]
            now = datetime.now(UTC)
            if gw.client is None or d.terminal in gw.muted_terminals:
                self.since[dev] = now  # no network or unplugged: no sale can be authorised
                continue
            if not self._can(fleet, d.gateway_id):
                continue  # the agent is hung: it reports the gap once it is back
            since = self.since[dev]
            if now <= since:
                continue
            w = d.window(since, now, self.scale)
            self.since[dev] = now
            if w is None:
                continue
            fleet._publish(
                fleet.gateways[d.gateway_id], Kind.TRANSACTIONS, encode(w), terminal=d.terminal
            )
            self.live_sent += 1

    def _history(self, fleet: Fleet, burst: int = 200) -> None:
        sent = 0
        while self.history and self.history_sent < self.allowed and sent < burst:
            gw, term, body = self.history[0]
            if not self._can(fleet, gw):
                return
            self.history.popleft()
            fleet._publish(fleet.gateways[gw], Kind.TRANSACTIONS, body, terminal=term)
            self.history_sent += 1
            sent += 1
