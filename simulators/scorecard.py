"""Scorecard: what the simulator injected (ground truth) against what the collector paged.

Pure matching (``score``) plus a reader for the truth file and the store. Per fault kind:
detected, missed, false, duplicate, and detection delay (p50, p99, max).

Rules:
- a fault expects a page of ``expect_alert`` on its subject when it lasted at least the
  kind's ``min_duration`` (a dead gateway that is back before the pending delay must *not*
  page: that is the design); shorter faults are "not expected": a page for one is neither
  missed nor false;
- a gateway fault is also detected by a ``site_down`` of its site (the site inhibits it);
  down kinds (site / gateway / terminal) are one family, every other kind its own;
- a page is false when no fault that expects a page of its family covers its subject (or
  its site) at fire time: a page during a planned reboot or a restart is false;
- a fault with more than one page for it is a duplicate (counted once per extra page).

Transaction health is scored the same way: ``terminal_silent`` (subject: the terminal) and
``txn_failure_spike`` (subject: the store) are pages of their own family; a shortfall case
(``read_cases``) is a "page" of kind ``shortfall_<kind>`` on subject ``batch``
``<terminal>/<batch>`` opened at its ``opened_at``: a case no injected fault expects (a
``missing_in_settlement`` before a late file, say) is false, an expected one not opened is
missed.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from collector.store import db

# Faults shorter than this (seconds) are not expected to page (pending delays + detection).
DEFAULT_MIN_DURATION = {"gateway_down": 120.0, "site_down": 90.0, "terminal_down": 150.0}


@dataclass(frozen=True, slots=True)
class Fault:
    fault: str
    subject_type: str
    subject_id: str
    start: datetime
    end: datetime | None
    expect_alert: str | None


@dataclass(frozen=True, slots=True)
class Page:
    kind: str
    subject_type: str
    subject_id: str
    fired_at: datetime


@dataclass
class KindScore:
    injected: int = 0
    expected: int = 0
    detected: int = 0
    missed: int = 0
    duplicate: int = 0
    delays: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        d = sorted(self.delays)
        q = statistics.quantiles(d, n=100, method="inclusive") if len(d) > 1 else d * 99
        return {
            "injected": self.injected,
            "expected": self.expected,
            "detected": self.detected,
            "missed": self.missed,
            "duplicate": self.duplicate,
            "delay_p50_s": round(statistics.median(d), 3) if d else None,
            "delay_p99_s": round(q[98], 3) if d else None,
            "delay_max_s": round(d[-1], 3) if d else None,
        }


@dataclass
class Scorecard:
    by_fault: dict[str, KindScore]
    false_pages: list[Page]

    @property
    def ok(self) -> bool:
        return not self.false_pages and all(
            s.missed == 0 and s.duplicate == 0 for s in self.by_fault.values()
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "by_fault": {k: v.summary() for k, v in sorted(self.by_fault.items())},
            "false": len(self.false_pages),
            "false_pages": [
                f"{p.kind} {p.subject_type} {p.subject_id} at {p.fired_at.isoformat()}"
                for p in self.false_pages
            ],
            "ok": self.ok,
        }


def pair_truth(rows: Iterable[Mapping[str, object]]) -> list[Fault]:
    """Join each injected fault with its ``<fault>_end`` row (same subject)."""
    open_: dict[tuple[str, str, str], list[dict[str, object]]] = {}
    faults: list[Fault] = []
    for row in rows:
        name = str(row["fault"])
        key_subject = (str(row["subject_type"]), str(row["subject_id"]))
        if name.endswith("_end"):
            pending = open_.get((name[: -len("_end")], *key_subject))
            if pending:
                start = pending.pop(0)
                faults.append(_fault(start, _ts(row["start"])))
            continue
        if row.get("end"):
            faults.append(_fault(dict(row), _ts(row["end"])))
        else:
            open_.setdefault((name, *key_subject), []).append(dict(row))
    faults += [_fault(r, None) for rows_ in open_.values() for r in rows_]
    return sorted(faults, key=lambda f: f.start)


def _ts(value: object) -> datetime:
    return datetime.fromisoformat(str(value))


def _fault(row: Mapping[str, object], end: datetime | None) -> Fault:
    expect = row.get("expect_alert")
    return Fault(
        str(row["fault"]),
        str(row["subject_type"]),
        str(row["subject_id"]),
        _ts(row["start"]),
        end,
        str(expect) if expect else None,
    )


def score(
    faults: list[Fault],
    pages: list[Page],
    site_of: Mapping[str, str],
    *,
    until: datetime,
    min_duration: Mapping[str, float] = DEFAULT_MIN_DURATION,
    slack_s: float = 30.0,
) -> Scorecard:
    """Match pages to faults. ``site_of`` maps gateway and terminal ids to their site."""
    by_fault: dict[str, KindScore] = {}
    used: set[int] = set()
    slack = timedelta(seconds=slack_s)

    def site(subject_type: str, subject_id: str) -> str | None:
        return subject_id if subject_type == "site" else site_of.get(subject_id)

    def covers(f: Fault, p: Page) -> bool:
        # Only a fault that should page explains a page, and only a page of its family: a
        # page during a planned reboot or a restart is false, as is a firmware page for
        # a store outage.
        if f.expect_alert is None or _family(f.expect_alert) != _family(p.kind):
            return False
        if not f.start <= p.fired_at <= (f.end or until) + slack:
            return False
        if (p.subject_type, p.subject_id) == (f.subject_type, f.subject_id):
            return True
        # A store outage may page as its site, or as its only gateway; terminals page alone.
        if "terminal" in (f.subject_type, p.subject_type):
            return False
        return site(f.subject_type, f.subject_id) == site(p.subject_type, p.subject_id) and (
            "site" in (f.subject_type, p.subject_type)
        )

    for f in faults:
        s = by_fault.setdefault(f.fault, KindScore())
        s.injected += 1
        matches = [i for i, p in enumerate(pages) if covers(f, p)]
        used.update(matches)
        if f.expect_alert is None:
            continue
        lasted = ((f.end or until) - f.start).total_seconds()
        if lasted < min_duration.get(f.expect_alert, 0.0):
            continue  # too short to page: a page for it is tolerated, none is right
        s.expected += 1
        if not matches:
            s.missed += 1
            continue
        s.detected += 1
        s.duplicate += len(matches) - 1
        first = min(pages[i].fired_at for i in matches)
        s.delays.append((first - f.start).total_seconds())
    false_pages = [p for i, p in enumerate(pages) if i not in used]
    return Scorecard(by_fault, false_pages)


def _family(kind: str) -> str:
    return "down" if kind in DOWN_KINDS else kind


def read_truth(path: Path) -> list[Fault]:
    with path.open(encoding="utf-8") as fh:
        return pair_truth(json.loads(line) for line in fh if line.strip())


DOWN_KINDS = ("gateway_down", "terminal_down", "site_down")
# Every kind the simulator can cause. maintenance_overdue is left out: it follows the
# inventory's service dates, not an injected fault.
PAGING_KINDS = (
    *DOWN_KINDS,
    "flapping",
    "network_degraded",
    "firmware_non_compliant",
    "hardware_fault",
    "clock_skew",
    # transaction health (docs/transactions.md)
    "terminal_silent",
    "txn_failure_spike",
)


def read_pages(
    store: str | Path, kinds: Iterable[str] = PAGING_KINDS
) -> tuple[list[Page], dict[str, str]]:
    """Alerts that paged (reached ``firing``), and the site of every gateway and terminal, from
    the collector's store (an SQLite file or a postgresql:// URL)."""
    conn = db.connect(store, readonly=True)
    try:
        marks = ",".join("?" * len(tuple(kinds)))
        pages = [
            Page(kind, st, sid, datetime.fromisoformat(fired))
            for kind, st, sid, fired in conn.execute(
                "SELECT kind, subject_type, subject_id, fired_at FROM alerts "
                f"WHERE fired_at IS NOT NULL AND kind IN ({marks}) ORDER BY fired_at",
                tuple(kinds),
            )
        ]
        site_of = dict(conn.execute("SELECT gateway_id, site_id FROM gateways").fetchall())
        site_of.update(conn.execute("SELECT terminal_id, site_id FROM terminals").fetchall())
    finally:
        conn.close()
    return pages, site_of


def read_cases(db: Path) -> list[Page]:
    """Shortfall cases as pages: kind ``shortfall_<kind>``, subject ``batch``
    ``<terminal>/<batch>``, fired when the case was opened (open or closed since)."""
    from collector.store.db import connect
    from collector.store.times import from_db

    conn = connect(db, readonly=True)
    try:
        return [
            Page(f"shortfall_{kind}", "batch", f"{tid}/{bid}", from_db(opened))
            for kind, tid, bid, opened in conn.execute(
                "SELECT kind, terminal_id, batch_id, opened_at FROM shortfall_cases ORDER BY id"
            )
        ]
    finally:
        conn.close()
