"""Transactions in ``posfleet-sim run`` (the demo's): the payment devices' windows after a
back-fill of history, then the acquirer's settlement file for the previous business day.

The back-fill (hourly windows, aligned to the hour so each hour of the week gets whole
hours of baseline) is paced by what the collector stored (``--db``: at most ``LEAD``
messages ahead), or at ``UNPACED_RATE`` a second without a store to read. Once the
collector has all of it, the file of the last business day every store has closed is
written into the collector's settlement inbox (``POSFLEET_SETTLEMENT_DIR``), with
``duplicated_refunds`` devices' refunds booked twice: each opens a ``mismatch`` case. A
store that already holds history (a restarted demo) gets neither again: its batches and
baselines are there, and a second back-fill over the same hours would count them twice.
docs/simulator.md, "Transactions in posfleet-sim run".
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from simulators.chaos import Truth
from simulators.fleetmodel import Fleet as FleetModel
from simulators.scenarios.txnrun import store_count
from simulators.txnfleet import TxnDriver, devices_of
from simulators.txnmodel import STORE_TYPES, settlement_csv, settlement_rows

if TYPE_CHECKING:
    from simulators.gateways import Fleet

HISTORY_SQL = "SELECT count(*) FROM txn_aggregates WHERE historical = 1"
LEAD = 2000  # historical messages published ahead of what the collector stored
UNPACED_RATE = 1000.0  # historical messages a second when no store is given to pace by
STALL_S = 60.0  # no progress this long: go on without the rest of the back-fill


class LiveTxn:
    def __init__(
        self,
        model: FleetModel,
        seed: int,
        *,
        window_s: float,
        scale: float,
        history_s: float,
        db: str | Path | None = None,
        settlement_dir: Path | None = None,
        duplicated_refunds: int = 1,
        say: Callable[[str], None] = lambda _m: None,
        record: Callable[[Truth], None] = lambda _t: None,
    ) -> None:
        self.driver = TxnDriver(
            devices_of(model, seed, STORE_TYPES), window_s=window_s, scale=scale
        )
        self.history_s = history_s
        self.db = db
        self.settlement_dir = settlement_dir
        self.duplicated_refunds = duplicated_refunds
        self.rng = random.Random(f"{seed}:settlement")
        self.say = say
        self.record = record
        self.ready = False  # the back-fill is stored and the settlement file handed over
        self.settlement_file: Path | None = None
        self._no_settlement = False  # the store holds history this run did not write in full
        self._t0 = 0.0
        self._next_poll = 0.0
        self._progress = (0, 0.0)  # (stored, when) for the stall check

    def start(self, fleet: Fleet, mono: float) -> None:
        """Queue the history (none when the store has some already) and attach the driver to
        the fleet's loop, which publishes the windows from now on."""
        now = datetime.now(UTC)
        history = self.history_s
        if self.db is not None and store_count(self.db, HISTORY_SQL) > 0:
            self._no_settlement = True
            history = 0.0
            self.say(
                "transactions: the store has history already (a restarted demo): no back-fill "
                "nor settlement file this time (--fresh starts over)"
            )
        elif history > 0:
            history += (now - now.replace(minute=0, second=0, microsecond=0)).total_seconds()
        total = self.driver.start(now, history)
        fleet.txn = self.driver
        self._t0 = mono
        self._progress = (0, mono)
        self.say(
            f"transactions: {len(self.driver.devices)} payment devices, a window every "
            f"{self.driver.window_s:g} s, back-filling {total} hourly windows "
            f"({history / 86400:.1f} days)"
        )

    def pump(self, mono: float) -> bool:
        """Pace the back-fill; once the collector has stored it, write the settlement file.
        True from then on (the transaction faults may start)."""
        if self.ready:
            return True
        if mono < self._next_poll:
            return False
        self._next_poll = mono + 0.5
        d = self.driver
        if self.db is None:
            d.allow(int((mono - self._t0) * UNPACED_RATE))
            stored = d.history_sent
        else:
            stored = store_count(self.db, HISTORY_SQL)
            d.allow(stored + LEAD)
        if stored > self._progress[0]:
            self._progress = (stored, mono)
        if stored < d.history_total:
            if mono - self._progress[1] < STALL_S:
                return False
            self.say(
                f"transactions: the collector stored {stored} of {d.history_total} historical "
                f"windows and no more for {STALL_S:.0f} s; going on without the rest (and "
                "without a settlement file: its batches would look missing on the terminals)"
            )
            self._no_settlement = True
        elif d.history_total:
            self.say(f"transactions: history stored ({d.history_total} windows)")
        self.ready = True
        if self.settlement_dir is not None and not self._no_settlement:
            self.settlement_file = self._settle(self.settlement_dir)
        return True

    def _settle(self, inbox: Path) -> Path | None:
        d = self.driver
        day = d.last_complete_day()
        batches = d.batches(day)
        if not batches:
            self.say(f"settlement: no store closed a batch on {day}; no file")
            return None
        devices = sorted({b.device for b in batches})
        dup = self.rng.sample(devices, min(self.duplicated_refunds, len(devices)))
        data = settlement_csv(settlement_rows(batches, dup))
        inbox.mkdir(parents=True, exist_ok=True)
        name = f"settlement-{day.isoformat()}.csv"
        tmp = inbox / f".{name}.part"
        tmp.write_bytes(data)
        os.replace(tmp, inbox / name)  # appears whole: the inbox never reads half a file
        at = datetime.now(UTC).isoformat()
        by_device = {b.device: b for b in batches}
        for dev in dup:
            subject = f"{dev}/{by_device[dev].batch_id}"
            self.record(Truth("duplicated_refund", "batch", subject, at, at, "shortfall_mismatch"))
        self.say(
            f"settlement: {name} ({len(batches)} batches of {day}, the refund of "
            f"{', '.join(dup)} booked twice) -> {inbox}"
        )
        return inbox / name

    def status(self) -> str:
        d = self.driver
        return f"transaction windows live {d.live_sent}, history {d.history_sent}/{d.history_total}"
