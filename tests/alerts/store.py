"""A real store (an SQLite file or a PostgreSQL database, ``store_url``) with the
collector's schema, plus a stand-in for the core's writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from collector.alerts.config import AlertSettings
from collector.alerts.listener import AlertListener, build_listener
from collector.model import DetectedBy, Liveness, SubjectType, Transition
from collector.store import db
from collector.store.migrate import ensure_schema
from collector.store.times import to_db


def open_store(target: Path | str) -> db.Connection:
    """A connection to a store with the collector's schema (an SQLite file or a URL)."""
    conn = db.connect(target)
    ensure_schema(conn)
    return conn


def add_site(conn: db.Connection, site: str, gateways: Sequence[str], tz: str = "UTC") -> None:
    with conn:
        conn.execute(
            "INSERT INTO sites (site_id, region_id, tz) VALUES (?, 'north', ?)", (site, tz)
        )
        conn.executemany(
            "INSERT INTO gateways (gateway_id, site_id, region_id, model, status) "
            "VALUES (?, ?, 'north', 'R1', 'online')",
            [(g, site) for g in gateways],
        )


class Harness:
    """Drives a listener as the processing loop does: one transaction per call."""

    def __init__(self, conn: db.Connection, start: datetime, **cfg: object) -> None:
        self.conn = conn
        self.now = start
        self.mono = 0.0
        self.settings = AlertSettings.model_validate(
            {"pending_gateway_down_s": 60, "pending_site_down_s": 30, **cfg}
        )
        self.listener = self.restart()

    def restart(self) -> AlertListener:
        self.listener = build_listener(
            self.conn, self.settings, now=self.now, monotonic=lambda: self.mono
        )
        return self.listener

    def advance(self, seconds: float, step: float = 1.0) -> None:
        end = self.now + timedelta(seconds=seconds)
        while self.now < end:
            self.now = min(end, self.now + timedelta(seconds=step))
            self.mono += step
            with self.conn:
                self.listener.tick(self.conn, self.now)

    def gateway(self, gw: str, to: Liveness, by: DetectedBy = DetectedBy.WILL) -> None:
        """What the core does for a gateway transition: status, state_changes, incident."""
        (frm,) = self.conn.execute(
            "SELECT status FROM gateways WHERE gateway_id = ?", (gw,)
        ).fetchone()
        t = Transition(SubjectType.GATEWAY, gw, Liveness(frm), to, self.now, by)
        at = to_db(self.now)
        with self.conn:
            self.conn.execute(
                "UPDATE gateways SET status = ?, status_since = ? WHERE gateway_id = ?",
                (to.value, at, gw),
            )
            self.conn.execute(
                "INSERT INTO state_changes (subject_type, subject_id, from_status, to_status, "
                "at, reason) VALUES ('gateway', ?, ?, ?, ?, ?)",
                (gw, frm, to.value, at, by.value),
            )
            if to is Liveness.DOWN:
                self.conn.execute(
                    "INSERT INTO incidents (subject_type, subject_id, started_at, detected_by) "
                    "VALUES ('gateway', ?, ?, ?)",
                    (gw, at, by.value),
                )
            elif frm == "down":
                self.conn.execute(
                    "UPDATE incidents SET ended_at = ? WHERE subject_type = 'gateway' "
                    "AND subject_id = ? AND ended_at IS NULL",
                    (at, gw),
                )
            self.listener.on_transitions(self.conn, [t], self.now)

    def rows(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        return self.conn.execute(sql, args).fetchall()

    def paging(self) -> list[tuple[object, ...]]:
        """Exactly what the metrics exporter turns into posfleet_alert_firing series."""
        return self.rows(
            "SELECT kind, subject_id FROM alerts WHERE state = 'firing' AND inhibited_by IS NULL "
            "AND fired_at IS NOT NULL ORDER BY id"
        )

    def fired_events(self) -> list[tuple[object, ...]]:
        return self.rows(
            "SELECT a.kind, a.subject_id FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
            "WHERE e.from_state = 'pending' AND e.to_state = 'firing' ORDER BY e.id"
        )
