"""The settlement inbox: settlement files dropped into a directory are reconciled and filed.

``POSFLEET_SETTLEMENT_DIR`` (or ``--settlement-dir``) names a directory the acquirer's
files arrive in (SFTP drop, a sync job); ``POSFLEET_SETTLEMENT_ACQUIRERS`` adds a
subdirectory per acquirer whose business day ends at another time, its files reconciled with
that cut-off. Every ``*.csv`` in them is imported with
``collector.reconcile.import_settlement`` and moved to ``done/`` (reconciled, or the same
file again) or ``rejected/`` (the file cannot be reconciled; ``NAME.error.txt`` next to it
says why and what to fix; also a file that cannot be read, or a directory, pipe or dangling
link named ``*.csv``: one bad file never holds up the rest). Row errors do not reject a file: they are listed in
``done/NAME.report.txt``. Writers should write under another name (``*.part``) and rename
into place; a ``*.csv`` written in place is read only once a whole poll has left its size and
mtime unchanged and it is ``settle_s`` old (an upload over a slow link stalls for seconds).

It runs on its own thread with its own store connection, outside the ingest loop: a
100,000-row file never delays a heartbeat.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter

from collector.actions import Actor, Role
from collector.reconcile import (
    MIDNIGHT,
    Cutoff,
    ImportResult,
    NotAFileError,
    ReconcileError,
    format_amounts,
    import_settlement,
    read_settlement_file,
    rejudge_late_batches,
)
from collector.store import db

log = logging.getLogger(__name__)
ACTOR = Actor("settlement-inbox", Role.OPERATOR)
# A file is read whole into the collector's memory (and decoded: up to 4 times its size): a
# dump dropped by mistake must not take the collector, and every heartbeat, down with it.
MAX_FILE_BYTES = 256 * 2**20


class SettlementInbox:
    def __init__(
        self,
        target: str | Path,
        directory: Path,
        *,
        poll_s: float = 30.0,
        tolerance: int = 0,
        cutoff: Cutoff = MIDNIGHT,
        acquirers: dict[str, Cutoff] | None = None,
        settle_s: float = 2.0,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.target = target
        self.directory = directory
        self.poll_s = poll_s
        self.tolerance = tolerance
        self.cutoff = cutoff
        # Where files are taken from, each with its acquirer's cut-off: the inbox itself
        # (``cutoff``), and a subdirectory per acquirer whose day ends at another time.
        self.sources: list[tuple[Path, Cutoff, str]] = [(directory, cutoff, "")]
        self.sources += [(directory / name, rule, name) for name, rule in (acquirers or {}).items()]
        self.settle_s = settle_s
        self.imports = Counter(
            "posfleet_settlement_imports",
            "Settlement files taken from the inbox, by result (ok, duplicate, rejected)",
            ["result"],
            registry=registry,
        )
        for result in ("ok", "duplicate", "rejected"):
            self.imports.labels(result)
        # Each file's (size, mtime) at the last pass: a file is read only once a whole poll
        # has left it unchanged (an SFTP upload written in place may stall for seconds).
        self._last_seen: dict[str, tuple[int, int]] = {}
        self._late_cursor: str | None = None  # txn_batches.received_at swept up to
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for where, _, _ in self.sources:
            for sub in ("done", "rejected"):
                (where / sub).mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ one pass
    def scan_once(self, now: datetime | None = None) -> list[tuple[str, str]]:
        """Import every settled ``*.csv``; returns (file name, result) per file handled.

        One file never holds up the others: a file that cannot be read or reconciled is
        rejected with the reason; only a store error leaves it for the next poll."""
        handled: list[tuple[str, str]] = []
        files = [
            (path, sig, problem, cutoff, acquirer)
            for where, cutoff, acquirer in self.sources
            for path, sig, problem in self._candidates(where)
        ]
        last_seen, self._last_seen = self._last_seen, {str(f[0]): f[1] for f in files}
        conn = db.connect(self.target)
        try:
            try:
                self._late_batches(conn, now or datetime.now(UTC))
            except db.Error:
                raise  # the store: the whole pass is retried
            except Exception:  # never at the cost of the files waiting to be reconciled
                log.exception("judging late terminal batches failed; the files go on")
            for path, sig, problem, cutoff, acquirer in files:
                if problem is None and (
                    time.time() - sig[1] / 1e9 < self.settle_s or last_seen.get(str(path)) != sig
                ):
                    continue  # still being written, or changed since the last pass
                at = now or datetime.now(UTC)
                try:
                    result = (
                        self._one(conn, path, at, cutoff, acquirer) if problem is None else None
                    )
                except db.Error:
                    raise  # the store, not the file: the whole pass is retried
                except Exception as exc:  # a file the importer cannot take: never a stall
                    log.exception("settlement file %s could not be reconciled", path.name)
                    problem = (
                        f"it could not be reconciled ({type(exc).__name__}: {exc}): report this "
                        "with the file; move it back into the inbox once fixed"
                    )
                if problem is not None:
                    result = self._reject(path, problem)
                assert result is not None
                handled.append((str(path.relative_to(self.directory)), result))
        finally:
            conn.close()
        return handled

    def _late_batches(self, conn: db.Connection, now: datetime) -> None:
        """Cases a file opened for batches no terminal had reported yet, judged again once
        the batch arrives (an agent offline overnight)."""
        late = rejudge_late_batches(
            conn, now=now, cursor=self._late_cursor, tolerance=self.tolerance
        )
        self._late_cursor = late.cursor
        if late.closed or late.updated:
            log.info(
                "late terminal batches: %d missing_on_terminal cases closed, %d now mismatches",
                late.closed,
                late.updated,
            )

    def _candidates(self, directory: Path) -> list[tuple[Path, tuple[int, int], str | None]]:
        """(path, (size, mtime ns), why it cannot be imported or None) of ``directory``'s
        ``*.csv``, oldest first."""
        found: list[tuple[Path, tuple[int, int], str | None]] = []
        if not directory.is_dir() and not directory.is_symlink():
            # Deleted (a clean-up, a remount): made again, so the acquirer's next upload has
            # somewhere to land, instead of a failed pass every poll until someone notices.
            for sub in ("done", "rejected"):
                (directory / sub).mkdir(parents=True, exist_ok=True)
            log.warning(
                "settlement inbox %s was missing: created it again (POSFLEET_SETTLEMENT_DIR, "
                "POSFLEET_SETTLEMENT_ACQUIRERS); files uploaded while it was gone must be "
                "uploaded again",
                directory,
            )
            return found
        with os.scandir(directory) as entries:
            for entry in entries:
                if not entry.name.lower().endswith(".csv"):  # Windows writes NAME.CSV
                    continue
                path = Path(entry.path)
                try:
                    st = path.stat()  # follows a symbolic link to its file
                except FileNotFoundError:
                    if not path.is_symlink():
                        continue  # gone since the listing (another reader took it)
                    why = "it is a symbolic link to nothing: put the file itself here"
                    found.append((path, (0, 0), why))
                    continue
                except OSError as exc:
                    found.append((path, (0, 0), f"it cannot be opened ({exc.strerror})"))
                    continue
                if not stat.S_ISREG(st.st_mode):
                    why = (
                        "it is not a file (a directory, a pipe or a device): put the "
                        "settlement CSV file itself here"
                    )
                    found.append((path, (st.st_size, st.st_mtime_ns), why))
                    continue
                if st.st_size > MAX_FILE_BYTES:
                    why = (
                        f"it is {st.st_size / 2**20:,.0f} MiB, over the inbox's "
                        f"{MAX_FILE_BYTES // 2**20} MiB (a settlement file for 100,000 terminals "
                        "is about 7 MiB): split it by business day or acquirer, or check it is "
                        "the settlement file at all"
                    )
                    found.append((path, (st.st_size, st.st_mtime_ns), why))
                    continue
                found.append((path, (st.st_size, st.st_mtime_ns), None))
        found.sort(key=lambda f: (f[1][1], f[0].name))
        return found

    def _one(
        self, conn: db.Connection, path: Path, now: datetime, cutoff: Cutoff, acquirer: str
    ) -> str:
        try:
            # Not path.read_bytes(): the name may have become a pipe since it was listed.
            data = read_settlement_file(path)
        except NotAFileError as exc:
            return self._reject(path, str(exc))
        except OSError as exc:
            return self._reject(
                path,
                f"it cannot be read ({exc.strerror}): let the collector's user read it "
                "and move it back into the inbox",
            )
        try:
            result = import_settlement(
                conn,
                data,
                name=path.name,
                actor=ACTOR,
                now=now,
                tolerance=self.tolerance,
                cutoff=cutoff,
            )
        except ReconcileError as exc:
            return self._reject(path, str(exc))
        outcome = "duplicate" if result.duplicate else "ok"
        self._file(path, "done", _report(result, cutoff, acquirer), ".report.txt")
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

    def _reject(self, path: Path, reason: str) -> str:
        log.warning("settlement file %s rejected: %s", path.name, reason)
        try:
            self._file(path, "rejected", _rejection(reason), ".error.txt")
        except OSError as exc:  # it stays, and is tried again at the next poll
            log.error("settlement file %s could not be moved to rejected/: %s", path.name, exc)
            return "stuck"
        self.imports.labels("rejected").inc()
        return "rejected"

    def _file(self, path: Path, sub: str, text: str, suffix: str) -> None:
        (path.parent / sub).mkdir(exist_ok=True)  # someone tidied it away: made again
        dest = path.parent / sub / path.name
        if os.path.lexists(dest):  # the same name again (a corrected file): keep both
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


def _rejection(reason: str) -> str:
    # Operators read these files: the verdict in Chinese and English, the reason as found.
    return (
        "结算文件未对账，已移到 rejected/：请按下面的原因修正后重新放入收件目录。\n"  # noqa: RUF001
        "The settlement file was not reconciled and is in rejected/: fix what follows and "
        "drop it into the inbox again.\n"
        f"{reason}\n"
    )


def _report(r: ImportResult, cutoff: Cutoff = MIDNIGHT, acquirer: str = "") -> str:
    # The verdict in Chinese for the operator; the figures below in English.
    if r.duplicate:
        verdict = "同一文件（内容相同）已导入过，未做任何处理。"  # noqa: RUF001
    elif r.bad_rows:
        verdict = (
            f"结算文件已对账，但有 {r.bad_rows} 行无法读取（见下），"  # noqa: RUF001
            "这些批次未对账：请修正后重新放入。"  # noqa: RUF001
        )
    else:
        opened, closed = sum(r.opened.values()), r.closed
        verdict = f"结算文件已对账：新开差异案件 {opened} 件，关闭 {closed} 件。"  # noqa: RUF001
    lines = [
        verdict,
        f"import {r.import_id}{' (the same file was imported before: nothing done)' if r.duplicate else ''}",
        f"rows reconciled: {r.rows}; bad rows skipped: {r.bad_rows}; batches matching: {r.matched}",
        *(
            ["the batches of bad rows are not judged: fix those rows and drop the file again"]
            if r.bad_rows
            else []
        ),
        f"cases opened: {r.opened or 0}; updated: {r.updated}; closed: {r.closed}",
        f"open short amount: {format_amounts(r.short_amount)}",
        f"business day{f' (acquirer {acquirer})' if acquirer else ''}: {cutoff.said()}",
    ]
    if r.errors:
        lines.append("bad rows (first 100):")
        lines.extend(f"  {e}" for e in r.errors)
    return "\n".join(lines) + "\n"
