"""The embedded store: one SQLite file in WAL mode.

Writes are batched: the processing loop hands over one ``Batch`` and it lands in one
transaction, together with whatever the listeners (the alert engine) write for it. Updates
of a subject's status are conditional on the status we believe it has, so a second writer
(another collector, an operator) can never be silently overwritten.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path

from collector.liveness import StoredState
from collector.model import DetectedBy, Liveness, SubjectType, Transition
from collector.store.times import from_db_opt, to_db


class StoreError(RuntimeError):
    """The store cannot be opened or written; the message names the setting to fix."""


def schema_sql() -> str:
    return resources.files("collector.store").joinpath("schema.sql").read_text()


def connect(
    path: Path | str, *, readonly: bool = False, timeout: float = 10.0
) -> sqlite3.Connection:
    """Open the store. Readers (dashboard, metrics) use ``readonly=True``."""
    try:
        if readonly:
            conn = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, timeout=timeout, check_same_thread=False
            )
        else:
            conn = sqlite3.connect(path, timeout=timeout, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error as exc:
        raise StoreError(
            f"cannot open the SQLite store at {path} ({exc}): set POSFLEET_DB / --db to a "
            "writable file path"
        ) from exc
    conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    return conn


@dataclass(slots=True)
class SubjectUpdate:
    """Latest facts about one gateway or terminal seen in a batch (last one wins)."""

    last_seen_at: datetime
    session: int | None = None
    interval: float | None = None
    due_at: datetime | None = None
    clock_skew_s: float | None = None
    gateway_id: str = ""
    columns: dict[str, object] = field(default_factory=dict)  # denormalised telemetry


@dataclass(slots=True)
class TelemetryRow:
    gateway_id: str
    terminal_id: str
    kind: str
    received_at: datetime
    device_ts: datetime
    historical: bool
    payload: str


@dataclass(slots=True)
class Batch:
    gateways: dict[str, SubjectUpdate] = field(default_factory=dict)
    terminals: dict[str, SubjectUpdate] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    telemetry: list[TelemetryRow] = field(default_factory=list)
    accepted: dict[str, int] = field(default_factory=dict)  # messages by kind (metrics only)

    def __bool__(self) -> bool:
        return bool(self.gateways or self.terminals or self.transitions or self.telemetry)


_TABLE = {
    SubjectType.GATEWAY: ("gateways", "gateway_id"),
    SubjectType.TERMINAL: ("terminals", "terminal_id"),
}
# Denormalised columns a message may set (telemetry field -> column), per table.
GATEWAY_COLUMNS = ("firmware_version", "os_version", "payment_app", "link_type")
TERMINAL_COLUMNS = (
    "firmware_version",
    "payment_app",
    "receipts_printed",
    "battery_health_pct",
    "error_count",
)


class SqliteStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            raise StoreError(
                f"directory {self.path.parent} of the store does not exist: create it or set "
                "POSFLEET_DB / --db to a path in an existing directory"
            )
        self.conn = connect(self.path)
        with self.conn:
            self.conn.executescript(schema_sql())

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            # Inside the try: a failed COMMIT (disk full, I/O error) must roll back too, or
            # the connection stays in a transaction and every later BEGIN fails.
            conn.commit()
        except BaseException:
            conn.rollback()
            raise

    # ------------------------------------------------------------------ restart
    def load_liveness(self) -> list[StoredState]:
        rows: list[StoredState] = []
        for gid, status, since, session, interval in self.conn.execute(
            "SELECT gateway_id, status, status_since, session, heartbeat_interval FROM gateways"
        ):
            rows.append(
                StoredState(
                    SubjectType.GATEWAY,
                    gid,
                    Liveness(status),
                    from_db_opt(since),
                    session,
                    interval,
                )
            )
        for tid, gid, status, since, interval in self.conn.execute(
            "SELECT terminal_id, gateway_id, status, status_since, heartbeat_interval FROM terminals"
        ):
            rows.append(
                StoredState(
                    SubjectType.TERMINAL,
                    tid,
                    Liveness(status),
                    from_db_opt(since),
                    None,
                    interval,
                    gid,
                )
            )
        return rows

    def stored_state(self, subject_type: SubjectType, subject_id: str) -> StoredState:
        """One subject as ``load_liveness`` reads it; ``unknown`` when it has no row."""
        if subject_type is SubjectType.GATEWAY:
            row = self.conn.execute(
                "SELECT status, status_since, session, heartbeat_interval, '' FROM gateways "
                "WHERE gateway_id=?",
                (subject_id,),
            ).fetchone()
        else:
            row = self.conn.execute(
                "SELECT status, status_since, NULL, heartbeat_interval, gateway_id "
                "FROM terminals WHERE terminal_id=?",
                (subject_id,),
            ).fetchone()
        if row is None:
            return StoredState(subject_type, subject_id, Liveness.UNKNOWN, None, None, None)
        status, since, session, interval, gateway_id = row
        return StoredState(
            subject_type,
            subject_id,
            Liveness(status),
            from_db_opt(since),
            session,
            interval,
            gateway_id,
        )

    # ------------------------------------------------------------------ writes
    def write(self, conn: sqlite3.Connection, batch: Batch) -> None:
        """Write one batch with ``conn`` inside the caller's transaction."""
        if batch.gateways:
            # A gateway that reports but is not in the inventory appears as unregistered.
            conn.executemany(
                "INSERT OR IGNORE INTO gateways (gateway_id, registered) VALUES (?, 0)",
                [(g,) for g in batch.gateways],
            )
            conn.executemany(
                "UPDATE gateways SET last_seen_at=?, session=coalesce(?, session), "
                "heartbeat_interval=coalesce(?, heartbeat_interval), due_at=coalesce(?, due_at), "
                "clock_skew_s=coalesce(?, clock_skew_s) WHERE gateway_id=?",
                [
                    (
                        to_db(u.last_seen_at),
                        u.session,
                        u.interval,
                        to_db(u.due_at) if u.due_at else None,
                        u.clock_skew_s,
                        g,
                    )
                    for g, u in batch.gateways.items()
                ],
            )
            self._denormalise(conn, "gateways", "gateway_id", batch.gateways, GATEWAY_COLUMNS)
        if batch.terminals:
            conn.executemany(
                "INSERT OR IGNORE INTO terminals (terminal_id, gateway_id, site_id, region_id, "
                "registered) SELECT ?, ?, coalesce(g.site_id, ''), coalesce(g.region_id, ''), 0 "
                "FROM (SELECT 1) LEFT JOIN gateways g ON g.gateway_id = ?",
                [(t, u.gateway_id, u.gateway_id) for t, u in batch.terminals.items()],
            )
            conn.executemany(
                "UPDATE terminals SET last_seen_at=?, "
                "heartbeat_interval=coalesce(?, heartbeat_interval), due_at=coalesce(?, due_at) "
                "WHERE terminal_id=?",
                [
                    (to_db(u.last_seen_at), u.interval, to_db(u.due_at) if u.due_at else None, t)
                    for t, u in batch.terminals.items()
                ],
            )
            self._denormalise(conn, "terminals", "terminal_id", batch.terminals, TERMINAL_COLUMNS)
        if batch.transitions:
            self.apply_transitions(conn, batch.transitions)
        if batch.telemetry:
            conn.executemany(
                "INSERT INTO telemetry (gateway_id, terminal_id, kind, received_at, device_ts, "
                "historical, payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.gateway_id,
                        r.terminal_id,
                        r.kind,
                        to_db(r.received_at),
                        to_db(r.device_ts),
                        int(r.historical),
                        r.payload,
                    )
                    for r in batch.telemetry
                ],
            )

    @staticmethod
    def _denormalise(
        conn: sqlite3.Connection,
        table: str,
        key: str,
        updates: dict[str, SubjectUpdate],
        allowed: Sequence[str],
    ) -> None:
        for sid, u in updates.items():
            cols = [c for c in allowed if c in u.columns]
            if cols:
                conn.execute(
                    f"UPDATE {table} SET {', '.join(c + '=?' for c in cols)} WHERE {key}=?",
                    [*(u.columns[c] for c in cols), sid],
                )

    def apply_transitions(
        self, conn: sqlite3.Connection, transitions: Sequence[Transition]
    ) -> None:
        for t in transitions:
            table, key = _TABLE[t.subject_type]
            if t.subject_type is SubjectType.TERMINAL:
                conn.execute(
                    "INSERT OR IGNORE INTO terminals (terminal_id, gateway_id, registered) "
                    "VALUES (?, ?, 0)",
                    (t.subject_id, t.gateway_id),
                )
            else:
                conn.execute(
                    "INSERT OR IGNORE INTO gateways (gateway_id, registered) VALUES (?, 0)",
                    (t.subject_id,),
                )
            reason = t.detected_by.value + (f":{t.reason}" if t.reason else "")
            conn.execute(
                f"UPDATE {table} SET status=?, status_since=?, status_reason=? "
                f"WHERE {key}=? AND status=?",
                (t.to_status.value, to_db(t.at), reason, t.subject_id, t.from_status.value),
            )
            conn.execute(
                "INSERT INTO state_changes (subject_type, subject_id, from_status, to_status, at, "
                "reason) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    t.subject_type.value,
                    t.subject_id,
                    t.from_status.value,
                    t.to_status.value,
                    to_db(t.at),
                    reason,
                ),
            )
            if t.to_status is Liveness.DOWN:
                self._open_incident(conn, t, table, key)
            elif t.from_status is Liveness.DOWN:
                conn.execute(
                    "UPDATE incidents SET ended_at=? WHERE subject_type=? AND subject_id=? "
                    "AND ended_at IS NULL",
                    (to_db(t.at), t.subject_type.value, t.subject_id),
                )

    @staticmethod
    def _open_incident(conn: sqlite3.Connection, t: Transition, table: str, key: str) -> None:
        fault = "network" if t.detected_by is DetectedBy.WILL else "unknown"
        if t.detected_by is DetectedBy.DEADLINE:
            fault = "software"  # the connection may be alive: the agent or app is hung
        # The partial unique index keeps one open incident per subject (INSERT OR IGNORE).
        conn.execute(
            "INSERT OR IGNORE INTO incidents (subject_type, subject_id, site_id, region_id, model, "
            "started_at, class, fault_category, detected_by, cause) "
            f"SELECT ?, ?, site_id, region_id, model, ?, "
            "CASE WHEN suspended = 1 THEN 'administrative' WHEN ? THEN 'planned' ELSE 'fault' END, "
            "?, ?, ? "
            f"FROM {table} WHERE {key} = ?",
            (
                t.subject_type.value,
                t.subject_id,
                to_db(t.at),
                int(t.planned),
                "unknown" if t.planned else fault,
                t.detected_by.value,
                t.reason if t.planned else "",
                t.subject_id,
            ),
        )

    # ------------------------------------------------------------------ reads
    def status_counts(self) -> dict[str, int]:
        return dict(
            self.conn.execute("SELECT status, count(*) FROM gateways GROUP BY status").fetchall()
        )


def dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)
