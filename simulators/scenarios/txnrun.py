"""The transaction side of a scenario run: the payment devices' windows and their back-fill,
the faults' modes, and the acquirer's settlement files (docs/scenarios.md, "Transactions").

A settlement file for business day ``-k`` (``-1``: the last day every store has closed when
the run starts) is written to ``settlement/`` in the run's directory and handed to the
collector: dropped into its watched directory (``POSFLEET_SETTLEMENT_DIR``) when the
collector has one, else imported into its store with ``collector.reconcile`` (the same
function the watched directory and the CLI call). Either way the runner waits for the
import row, so a case can be judged against the time the file arrived.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from simulators.fleetmodel import Fleet as FleetModel
from simulators.runner import FleetRunner
from simulators.scenarios.plan import Mark, Step
from simulators.scenarios.spec import Scenario, TransactionsSpec
from simulators.txnfleet import TxnDriver, devices_of
from simulators.txnmodel import settlement_csv, settlement_rows

TXN_CONTROL_OPS = {"settlement", "settlement_fault"}
SETTLEMENT_DIR_ENV = "POSFLEET_SETTLEMENT_DIR"


class TxnRunError(RuntimeError):
    pass


def collector_watches_settlements() -> bool:
    """Whether this collector imports settlement files from a watched directory."""
    from collector.config import CollectorSettings

    return "settlement_dir" in CollectorSettings.model_fields


def _wait(pred: Callable[[], bool], timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TxnRunError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


class TxnRun:
    def __init__(
        self,
        scenario: Scenario,
        model: FleetModel,
        out: Path,
        *,
        say: Callable[[str], None] = lambda _m: None,
    ) -> None:
        assert scenario.transactions is not None
        self.tx: TransactionsSpec = scenario.transactions
        self.s = scenario
        self.model = model
        self.out = out
        self.say = say
        self.driver = TxnDriver(
            devices_of(model, scenario.seed, self.tx.store_types),
            window_s=self.tx.window,
            scale=self.tx.scale,
        )
        self.watch_dir = out / "settlement-inbox" if collector_watches_settlements() else None
        self.files = out / "settlement"
        self.duplicated: dict[int, list[tuple[str, Mark]]] = {}  # day -> (device, mark)
        self.late_started: dict[int, datetime] = {}
        self.imports: list[dict[str, Any]] = []
        self.problems: list[str] = []

    def collector_env(self) -> dict[str, str]:
        if self.watch_dir is None:
            return {}
        self.watch_dir.mkdir(parents=True, exist_ok=True)
        # A file is read once a whole poll has left it unchanged: two polls at most.
        return {SETTLEMENT_DIR_ENV: str(self.watch_dir), "POSFLEET_SETTLEMENT_POLL_S": "5"}

    # ------------------------------------------------------------------ back-fill
    def start(self, runner: FleetRunner, db: Path, timeout: float = 600.0) -> int:
        """Attach the driver, back-fill the history, and return once the collector has
        stored all of it (paced: at most ``lead`` messages ahead of what it stored)."""
        driver = self.driver
        now = datetime.now(UTC)

        # Generated here, not on the fleet's thread: its heartbeats must not wait for it.
        total = driver.start(now, self.tx.history, self.tx.history_window)

        def attach(f: Any) -> None:
            f.txn = driver

        runner.call(attach)
        self.say(
            f"transactions: {len(driver.devices)} payment devices, back-filling "
            f"{total} historical windows ({self.tx.history / 86400:g} days)"
        )
        lead = 2000
        deadline = time.monotonic() + timeout
        stored = 0
        while stored < total:
            runner.call(partial(_allow, driver, stored + lead))
            if time.monotonic() > deadline:
                raise TxnRunError(f"the collector stored {stored} of {total} historical windows")
            time.sleep(0.5)  # paced by what the collector stored (polled)
            stored = store_count(db, "SELECT count(*) FROM txn_aggregates WHERE historical = 1")
        self.say(f"transactions: history stored ({stored} windows)")
        return total

    # ------------------------------------------------------------------ settlement
    def day(self, offset: int) -> date:
        return self.driver.last_complete_day() + timedelta(days=offset + 1)

    def control(self, step: Step, runner: FleetRunner, db: Path, truth: Any) -> None:
        kw = step.kw
        offset = int(kw["day"])
        if step.op == "settlement_fault":
            if kw["kind"] == "duplicated_refund":
                for m in step.truth:
                    self.duplicated.setdefault(offset, []).append((step.targets[0], m))
            else:  # late_settlement: the file was due now
                truth.write(step.truth)
                self.late_started[offset] = datetime.now(UTC)
            return
        day = self.day(offset)
        dup = self.duplicated.get(offset, [])
        batches = runner.call(lambda _f: self.driver.batches(day))
        rows = settlement_rows(batches, {dev for dev, _m in dup})
        data = settlement_csv(rows)
        name = f"settlement-{day.isoformat()}.csv"
        self.files.mkdir(parents=True, exist_ok=True)
        (self.files / name).write_bytes(data)
        begun = datetime.now(UTC)
        import_id = self._hand_over(name, data, db)
        done = datetime.now(UTC)
        self.imports.append(
            {"day": day.isoformat(), "offset": offset, "rows": len(rows), "import_id": import_id}
        )
        self.say(f"settlement file {name}: {len(rows)} batches, import {import_id}")
        marks = []
        by_device = {b.device: b for b in batches}
        for dev, m in dup:
            b = by_device.get(dev)
            if b is None:
                self.problems.append(f"duplicated_refund: {dev} closed no batch on {day}")
                continue
            marks.append(replace(m, subject_id=f"{dev}/{b.batch_id}"))
        truth.write(tuple(marks), begun, done)
        truth.write(step.truth, begun, done)  # a late file's end

    def _hand_over(self, name: str, data: bytes, db: Path) -> int:
        digest = hashlib.sha256(data).hexdigest()
        if self.watch_dir is not None:
            tmp = self.watch_dir / f".{name}.part"
            tmp.write_bytes(data)
            os.replace(tmp, self.watch_dir / name)  # appears whole
            found: list[int] = []

            def imported() -> bool:
                n = store_count(db, "SELECT id FROM settlement_imports WHERE sha256 = ?", (digest,))
                found[:] = [n] if n else []
                return bool(found)

            _wait(imported, 60, f"the collector to import {name} from its watched directory")
            return found[0]
        from collector.actions.base import Actor, Role
        from collector.reconcile import import_settlement
        from collector.store.db import connect

        conn = connect(db, timeout=30)
        try:
            result = import_settlement(
                conn, data, name=name, actor=Actor("scenario", Role.ADMIN), now=datetime.now(UTC)
            )
        finally:
            conn.close()
        if result.bad_rows:
            self.problems.append(f"{name}: {result.bad_rows} bad rows: {result.errors[:3]}")
        return result.import_id


def _allow(driver: TxnDriver, n: int, _fleet: object) -> None:
    driver.allow(n)


def store_count(db: str | Path, sql: str, params: tuple[object, ...] = ()) -> int:
    """The first column of the first row, 0 while the store is not there yet."""
    from collector.store.db import StoreError, connect

    try:
        conn = connect(db, readonly=True, timeout=5)
    except (StoreError, sqlite3.Error):
        return 0
    try:
        row = conn.execute(sql, params).fetchone()
        return int(row[0]) if row and row[0] is not None else 0
    except sqlite3.Error:  # a table the collector has not created yet
        return 0
    finally:
        conn.close()
