"""The settlement inbox: settlement files dropped into a directory are reconciled and filed.

``POSFLEET_SETTLEMENT_DIR`` (or ``--settlement-dir``) names a directory the acquirer's
files arrive in (SFTP drop, a sync job). Every ``*.csv`` in it is imported with
``collector.reconcile.import_settlement`` and moved to ``done/`` (reconciled, or the same
file again) or ``rejected/`` (the file cannot be reconciled; ``NAME.error.txt`` next to it
says why and what to fix). Row errors do not reject a file: they are listed in
``done/NAME.report.txt``. Writers should write under another name (``*.part``) and rename
into place; a ``*.csv`` still being written (changed within the last ``settle_s``) waits for
the next poll.

It runs on its own thread with its own store connection, outside the ingest loop: a
100,000-row file never delays a heartbeat.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter

from collector.actions import Actor, Role
from collector.reconcile import ImportResult, ReconcileError, import_settlement
from collector.store import db

log = logging.getLogger(__name__)
ACTOR = Actor("settlement-inbox", Role.OPERATOR)


class SettlementInbox:
    def __init__(
        self,
        target: str | Path,
        directory: Path,
        *,
        poll_s: float = 30.0,
        tolerance: int = 0,
        settle_s: float = 2.0,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.target = target
        self.directory = directory
        self.poll_s = poll_s
        self.tolerance = tolerance
        self.settle_s = settle_s
        self.imports = Counter(
            "posfleet_settlement_imports",
            "Settlement files taken from the inbox, by result (ok, duplicate, rejected)",
            ["result"],
            registry=registry,
        )
        for result in ("ok", "duplicate", "rejected"):
            self.imports.labels(result)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for sub in ("done", "rejected"):
            (directory / sub).mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ one pass
    def scan_once(self, now: datetime | None = None) -> list[tuple[str, str]]:
        """Import every settled ``*.csv``; returns (file name, result) per file handled."""
        handled: list[tuple[str, str]] = []
        files = sorted(self.directory.glob("*.csv"), key=lambda p: (p.stat().st_mtime, p.name))
        if not files:
            return handled
        conn = db.connect(self.target)
        try:
            for path in files:
                if time.time() - path.stat().st_mtime < self.settle_s:
                    continue  # still being written
                handled.append((path.name, self._one(conn, path, now or datetime.now(UTC))))
        finally:
            conn.close()
        return handled

    def _one(self, conn: db.Connection, path: Path, now: datetime) -> str:
        data = path.read_bytes()
        try:
            result = import_settlement(
                conn, data, name=path.name, actor=ACTOR, now=now, tolerance=self.tolerance
            )
        except ReconcileError as exc:
            self._file(path, "rejected", f"{exc}\n", ".error.txt")
            self.imports.labels("rejected").inc()
            log.warning("settlement file %s rejected: %s", path.name, exc)
            return "rejected"
        outcome = "duplicate" if result.duplicate else "ok"
        self._file(path, "done", _report(result), ".report.txt")
        self.imports.labels(outcome).inc()
        log.info(
            "settlement file %s: %s, %d rows (%d bad), cases opened %s, closed %d",
            path.name,
            outcome,
            result.rows,
            result.bad_rows,
            result.opened,
            result.closed,
        )
        return outcome

    def _file(self, path: Path, sub: str, text: str, suffix: str) -> None:
        dest = self.directory / sub / path.name
        if dest.exists():  # the same name again: keep both
            dest = dest.with_name(f"{path.stem}.{int(time.time() * 1000)}{path.suffix}")
        path.replace(dest)
        dest.with_name(dest.name + suffix).write_text(text, encoding="utf-8")

    # ------------------------------------------------------------------ thread
    def start(self) -> SettlementInbox:
        self._thread = threading.Thread(target=self._run, name="settlement-inbox", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan_once()
            except Exception:  # a broken file system or store: retried next poll
                log.exception("settlement inbox pass failed; retrying in %.0f s", self.poll_s)
            self._stop.wait(self.poll_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def alive(self) -> bool:
        return self._thread is None or self._thread.is_alive() or self._stop.is_set()


def _report(r: ImportResult) -> str:
    lines = [
        f"import {r.import_id}{' (the same file was imported before: nothing done)' if r.duplicate else ''}",
        f"rows reconciled: {r.rows}; bad rows skipped: {r.bad_rows}; batches matching: {r.matched}",
        f"cases opened: {r.opened or 0}; updated: {r.updated}; closed: {r.closed}",
        f"open short amount (minor units): {r.short_amount}",
    ]
    if r.errors:
        lines.append("bad rows (first 100):")
        lines.extend(f"  {e}" for e in r.errors)
    return "\n".join(lines) + "\n"
