"""Who a page is for, and acknowledgements written back to the posfleet store.

``OnCallDirectory`` reads the on-call rotations and overrides from the store (read-only,
cached briefly) and answers, for an alert's region and escalation level, the tier paged
and the person on call (``collector.oncall`` decides; this is only its I/O edge).

``StoreAck`` turns an ack link into ``collector.actions.acknowledge_alert`` on the posfleet
alert the page was about, so the collector's engine stops raising its escalation level.
Alertmanager's alert is mapped back to the store's row by what the rules keep of
``posfleet_alert_firing``: the kind (``PosfleetGatewayDown`` -> ``gateway_down``), the
subject ids and ``since`` (the store's own fired time, which names one outage).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

from collector.actions import (
    ActionError,
    Actor,
    InvalidAction,
    Role,
    acknowledge_alert,
    load_oncall,
)
from collector.oncall import Override, Person, Rotation, on_call, tier_for
from collector.store.db import Connection
from notify.payload import Alert
from notify.store import SCHEDULE_ERRORS, STORE_ERRORS, StoreLink

if TYPE_CHECKING:
    import sqlite3  # the collector's readers are typed sqlite3 until its port (issue #14)

log = logging.getLogger(__name__)
CACHE_S = 30.0
SAME_OUTAGE = ("alertname", "region", "site", "gateway", "terminal", "since")


@dataclass(frozen=True)
class Mention:
    region: str
    tier: int
    person: Person


def alert_level(a: Alert) -> int:
    try:
        return max(int(a.labels.get("escalation", "1")), 1)
    except ValueError:
        return 1


class OnCallDirectory:
    def __init__(self, db: str | Path | None) -> None:
        self._store = StoreLink(db, readonly=True) if db is not None else None
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._schedules: tuple[list[Rotation], list[Override]] = ([], [])

    def _load(self, now: datetime) -> tuple[list[Rotation], list[Override]]:
        mono = time.monotonic()
        if self._store is not None and mono - self._loaded_at >= CACHE_S:
            try:
                self._schedules = self._store.run(
                    lambda conn: load_oncall(cast("sqlite3.Connection", conn), now)
                )
            except SCHEDULE_ERRORS as exc:
                # An unreadable schedule must not stop a page: it goes out without a name.
                log.warning("on-call schedules not readable: %s", exc)
            self._loaded_at = mono
        return self._schedules

    def for_alerts(self, alerts: list[Alert], now: datetime) -> list[Mention]:
        """One mention per (region, tier) of the firing alerts: the tier is the alert's
        escalation level capped at the region's highest tier."""
        with self._lock:
            rotations, overrides = self._load(now)
        # When the collector raises a level, Prometheus replaces the alert (the label
        # changed) and the old level stays firing in Alertmanager until it resolves: one
        # outage, counted once, at its highest level.
        levels: dict[tuple[str, ...], int] = {}
        for a in alerts:
            if a.status != "firing" or not a.labels.get("region"):
                continue
            key = tuple(a.labels.get(k, "") for k in SAME_OUTAGE)
            levels[key] = max(levels.get(key, 0), alert_level(a))
        out: list[Mention] = []
        seen: set[tuple[str, int]] = set()
        for key, level in levels.items():
            region = key[1]
            tier = tier_for(rotations, overrides, region, level)
            if tier is None or (region, tier) in seen:
                continue
            seen.add((region, tier))
            person = on_call(rotations, overrides, region, tier, now)
            if person is not None:
                out.append(Mention(region, tier, person))
        return out

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


# Rules whose name is not the kind's name in CamelCase (readable names for people).
KIND_OF_RULE = {"PosfleetTransactionFailureSpike": "txn_failure_spike"}


def kind_of(alertname: str) -> str:
    """``PosfleetGatewayDown`` -> ``gateway_down`` (the shipped rules' naming)."""
    if alertname in KIND_OF_RULE:
        return KIND_OF_RULE[alertname]
    name = alertname.removeprefix("Posfleet")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class StoreAck:
    """Acknowledge the posfleet alert behind an Alertmanager alert, in the store."""

    def __init__(self, db: str | Path | None) -> None:
        self._store = StoreLink(db, readonly=False) if db is not None else None
        self._lock = threading.Lock()

    @staticmethod
    def find(conn: Connection, labels: dict[str, str]) -> int | None:
        sql = (
            "SELECT id FROM alerts WHERE kind = ? AND region_id = ? AND site_id = ? "
            "AND gateway_id = ? AND terminal_id = ? AND state != 'resolved'"
        )
        args: list[str] = [
            kind_of(labels.get("alertname", "")),
            *(labels.get(k, "") for k in ("region", "site", "gateway", "terminal")),
        ]
        if labels.get("since"):
            sql += " AND coalesce(fired_at, started_at) = ?"
            args.append(labels["since"])
        row = conn.execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()
        return int(row[0]) if row else None

    def acknowledge(self, labels: dict[str, str], by: str, note: str, now: datetime) -> str:
        """'acked', 'already' (acked before, by anyone), 'not_found', 'no_store' or 'error'."""
        if self._store is None:
            return "no_store"
        actor = Actor(f"chat:{by}" if by else "chat:ack-link", Role.OPERATOR)

        def ack(conn: Connection) -> str:
            alert_id = self.find(conn, labels)
            if alert_id is None:
                return "not_found"
            acknowledge_alert(cast("sqlite3.Connection", conn), actor, alert_id, note, now)
            return "acked"

        with self._lock:
            try:
                return self._store.run(ack)
            except InvalidAction as exc:
                # Already acknowledged (in the console, or by an earlier link) or resolved.
                log.info("store ack not applied: %s", exc)
                return "already"
            except ActionError as exc:
                log.warning("store ack failed for %s: %s", labels.get("alertname"), exc)
                return "error"
            except STORE_ERRORS as exc:
                log.warning("store ack failed for %s: %s", labels.get("alertname"), exc)
                return "error"

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
