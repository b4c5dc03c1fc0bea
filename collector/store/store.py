"""The store: an SQLite file (WAL) or a PostgreSQL database, through ``collector.store.db``.

Writes are batched: the processing loop hands over one ``Batch`` and it lands in one
transaction, together with whatever the listeners (the alert engine) write for it. Updates
of a subject's status are conditional on the status we believe it has, so a second writer
(another collector, an operator) can never be silently overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from collector import places
from collector.enrolment import Sighting
from collector.liveness import StoredState
from collector.model import DetectedBy, Liveness, SubjectType, Transition
from collector.store import db, migrate
from collector.store.db import StoreError as StoreError
from collector.store.meta import TERMINAL_MOVES
from collector.store.times import DbTimes, from_db_opt, to_db
from collector.store.transactions import TxnAggregate, write_transactions


def connect(target: Path | str, *, readonly: bool = False, timeout: float = 10.0) -> db.Connection:
    """Open the store (a file path or a ``postgresql://`` URL). Readers use ``readonly=True``."""
    return db.connect(target, readonly=readonly, timeout=timeout)


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


@dataclass(frozen=True, slots=True)
class AutoEnrolled:
    subject_type: SubjectType
    subject_id: str
    gateway_id: str  # terminals: the gateway in front of it ('' for a gateway)
    region_id: str  # gateways: the auto-enrolment region; terminals inherit their gateway's
    at: datetime


@dataclass(slots=True)
class Batch:
    gateways: dict[str, SubjectUpdate] = field(default_factory=dict)
    terminals: dict[str, SubjectUpdate] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    telemetry: list[TelemetryRow] = field(default_factory=list)
    accepted: dict[str, int] = field(default_factory=dict)  # messages by kind (metrics only)
    # Ids not in the inventory seen in this batch: listed for enrolment, nothing else.
    unregistered: dict[tuple[SubjectType, str], Sighting] = field(default_factory=dict)
    # Auto-enrolled in this batch (POSFLEET_AUTO_ENROL), gateways before their terminals.
    enrol: list[AutoEnrolled] = field(default_factory=list)
    # Transaction aggregates (collector.store.transactions).
    transactions: list[TxnAggregate] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.gateways
            or self.terminals
            or self.transitions
            or self.telemetry
            or self.unregistered
            or self.enrol
            or self.transactions
        )


@dataclass(slots=True)
class WriteResult:
    applied: list[Transition]  # the transitions whose guard held; listeners see only these
    lost: list[Transition]  # the subject was not in the status we believed: nothing written
    enrolment_dropped: int = 0  # rows dropped from the bounded enrolment list


# Drop the least recently seen first; SQLite breaks ties by insertion order (rowid),
# PostgreSQL (no rowid) by the key.
_BOUND_ENROLMENT: dict[db.Dialect, str] = {
    "sqlite": "DELETE FROM enrolment WHERE rowid IN (SELECT rowid FROM enrolment "
    "ORDER BY last_seen_at, rowid LIMIT ?)",
    "postgresql": "DELETE FROM enrolment WHERE (subject_type, subject_id) IN "
    "(SELECT subject_type, subject_id FROM enrolment "
    "ORDER BY last_seen_at, subject_type, subject_id LIMIT ?)",
}

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


class Store:
    """The collector's store on either engine (``target``: a file path or a URL)."""

    def __init__(self, target: Path | str, *, enrolment_max: int = 1000) -> None:
        self.target: Path | str = target if db.is_postgres(target) else Path(target)
        self.enrolment_max = enrolment_max
        if isinstance(self.target, Path) and not self.target.parent.exists():
            raise StoreError(
                f"directory {self.target.parent} of the store does not exist: create it or set "
                "POSFLEET_DB / --db to a path in an existing directory"
            )
        self.conn = connect(self.target)
        self.dialect = db.dialect(self.conn)
        migrate.ensure_schema(self.conn)

    @property
    def path(self) -> Path:
        """The SQLite file (older callers); a PostgreSQL store has none."""
        if not isinstance(self.target, Path):
            raise StoreError(f"the store {db.redact(self.target)} is not a file")
        return self.target

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[db.Connection]:
        conn = self.conn
        if self.dialect == "postgresql":
            conn = self._pg_session()
        try:
            # Inside the try: a write lock not had within lock_timeout (PostgreSQL) aborts
            # the transaction, which must not stay open and failed.
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            # Inside the try: a failed COMMIT (disk full, I/O error) must roll back too, or
            # the connection stays in a transaction and every later BEGIN fails.
            conn.commit()
        except BaseException:
            conn.rollback()
            raise

    def _pg_session(self) -> db.Connection:
        """The PostgreSQL session a batch starts on: a new one when the server dropped the
        last (restart, failover); the caller counts a failure and retries, as for a
        locked SQLite file."""
        conn = self.conn
        if isinstance(conn, db.PgConnection) and conn.closed:
            try:
                conn = connect(self.target)
            except StoreError as exc:
                import psycopg

                raise psycopg.OperationalError(str(exc)) from exc
            self.conn = conn
        elif conn.in_transaction:
            # A read between batches (enrolment, housekeeping) opened one, or a failed one
            # is left: the batch starts a transaction of its own, as on SQLite.
            conn.rollback()
        return conn

    # ------------------------------------------------------------------ restart
    def load_liveness(self) -> list[StoredState]:
        rows: list[StoredState] = []
        for gid, status, since, session, interval in self.conn.execute(
            "SELECT gateway_id, status, status_since, session, heartbeat_interval FROM gateways "
            "WHERE registered = 1"
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
            "SELECT terminal_id, gateway_id, status, status_since, heartbeat_interval FROM terminals "
            "WHERE registered = 1"
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
    def write(self, conn: db.Connection, batch: Batch) -> WriteResult:
        """Write one batch with ``conn`` inside the caller's transaction.

        Only enrolled subjects reach ``gateways``/``terminals`` (the processor admits them);
        an update of a row that does not exist changes nothing.
        """
        text = DbTimes()  # one conversion per distinct time in the batch
        if batch.enrol:
            self._auto_enrol(conn, batch.enrol)
        dropped = self._list_for_enrolment(conn, batch.unregistered) if batch.unregistered else 0
        if batch.gateways:
            rows = [
                (
                    text(u.last_seen_at),
                    u.session,
                    u.interval,
                    text(u.due_at) if u.due_at else None,
                    u.clock_skew_s,
                    g,
                )
                for g, u in batch.gateways.items()
            ]
            if db.dialect(conn) == "postgresql":
                # One statement for the batch (the rows as column arrays), not one round
                # trip per gateway: the shared store's write lock is held that much shorter.
                conn.execute(
                    "UPDATE gateways AS g SET last_seen_at = u.seen, "
                    "session = coalesce(u.session, g.session), "
                    "heartbeat_interval = coalesce(u.interval, g.heartbeat_interval), "
                    "due_at = coalesce(u.due, g.due_at), "
                    "clock_skew_s = coalesce(u.skew, g.clock_skew_s) FROM unnest("
                    "?::text[], ?::bigint[], ?::float8[], ?::text[], ?::float8[], ?::text[]) "
                    "AS u(seen, session, interval, due, skew, id) WHERE g.gateway_id = u.id",
                    [list(c) for c in zip(*rows, strict=True)],
                )
            else:
                conn.executemany(
                    "UPDATE gateways SET last_seen_at=?, session=coalesce(?, session), "
                    "heartbeat_interval=coalesce(?, heartbeat_interval), "
                    "due_at=coalesce(?, due_at), clock_skew_s=coalesce(?, clock_skew_s) "
                    "WHERE gateway_id=?",
                    rows,
                )
            self._denormalise(conn, "gateways", "gateway_id", batch.gateways, GATEWAY_COLUMNS)
        if batch.terminals:
            conn.executemany(
                "UPDATE terminals SET last_seen_at=?, "
                "heartbeat_interval=coalesce(?, heartbeat_interval), due_at=coalesce(?, due_at) "
                "WHERE terminal_id=?",
                [
                    (text(u.last_seen_at), u.interval, text(u.due_at) if u.due_at else None, t)
                    for t, u in batch.terminals.items()
                ],
            )
            self._denormalise(conn, "terminals", "terminal_id", batch.terminals, TERMINAL_COLUMNS)
        applied = self.apply_transitions(conn, batch.transitions) if batch.transitions else []
        if batch.telemetry:
            conn.executemany(
                "INSERT INTO telemetry (gateway_id, terminal_id, kind, received_at, device_ts, "
                "historical, payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.gateway_id,
                        r.terminal_id,
                        r.kind,
                        text(r.received_at),
                        text(r.device_ts),
                        int(r.historical),
                        r.payload,
                    )
                    for r in batch.telemetry
                ],
            )
        if batch.transactions:
            write_transactions(conn, batch.transactions, text=text)
        done = {id(t) for t in applied}
        lost = [t for t in batch.transitions if id(t) not in done]
        return WriteResult(applied, lost, dropped)

    @staticmethod
    def _auto_enrol(conn: db.Connection, enrol: Sequence[AutoEnrolled]) -> None:
        for e in enrol:
            stype, sid, gateway_id, region = e.subject_type, e.subject_id, e.gateway_id, e.region_id
            if stype is SubjectType.GATEWAY:
                conn.execute(
                    "INSERT INTO gateways (gateway_id, region_id, registered) VALUES (?, ?, 1) "
                    "ON CONFLICT(gateway_id) DO UPDATE SET registered = 1",
                    (sid, region),
                )
            else:
                # The terminal inherits its gateway's site and region: its pages are routed.
                conn.execute(
                    "INSERT INTO terminals (terminal_id, gateway_id, site_id, region_id, "
                    "registered) SELECT ?, ?, coalesce(g.site_id, ''), coalesce(g.region_id, ''), "
                    "1 FROM (SELECT 1) AS one LEFT JOIN gateways g ON g.gateway_id = ? "
                    "WHERE true ON CONFLICT(terminal_id) DO UPDATE SET registered = 1",
                    (sid, gateway_id, gateway_id),
                )
            conn.execute(
                "DELETE FROM enrolment WHERE subject_type = ? AND subject_id = ?",
                (stype.value, sid),
            )
            conn.execute(
                "INSERT INTO audit_log (at, actor, action, subject, details) "
                "VALUES (?, 'collector', 'enrolment.auto', ?, ?)",
                (to_db(e.at), f"{stype.value}:{sid}", dumps({"gateway_id": gateway_id})),
            )

    def _list_for_enrolment(
        self, conn: db.Connection, seen: dict[tuple[SubjectType, str], Sighting]
    ) -> int:
        """Fold the batch's sightings into the enrolment list; return how many rows the
        bound dropped (least recently seen first)."""
        conn.executemany(
            "INSERT INTO enrolment (subject_type, subject_id, gateway_id, first_seen_at, "
            "last_seen_at, messages, last_kind) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(subject_type, subject_id) DO UPDATE SET "
            "gateway_id = excluded.gateway_id, last_seen_at = excluded.last_seen_at, "
            "messages = enrolment.messages + excluded.messages, last_kind = excluded.last_kind",
            [
                (
                    s.subject_type.value,
                    s.subject_id,
                    s.gateway_id,
                    to_db(s.first_seen_at),
                    to_db(s.last_seen_at),
                    s.messages,
                    s.last_kind,
                )
                for s in seen.values()
            ],
        )
        return self.bound_enrolment(conn)

    def bound_enrolment(self, conn: db.Connection) -> int:
        (n,) = conn.execute("SELECT count(*) FROM enrolment").fetchone()
        excess = int(n) - self.enrolment_max
        if excess <= 0:
            return 0
        conn.execute(_BOUND_ENROLMENT[db.dialect(conn)], (excess,))
        return excess

    @staticmethod
    def _denormalise(
        conn: db.Connection,
        table: str,
        key: str,
        updates: dict[str, SubjectUpdate],
        allowed: Sequence[str],
    ) -> None:
        for sid, u in updates.items():
            if not u.columns:  # most messages (heartbeats, windows) set none
                continue
            cols = [c for c in allowed if c in u.columns]
            if cols:
                conn.execute(
                    f"UPDATE {table} SET {', '.join(c + '=?' for c in cols)} WHERE {key}=?",
                    [*(u.columns[c] for c in cols), sid],
                )

    def apply_transitions(
        self, conn: db.Connection, transitions: Sequence[Transition]
    ) -> list[Transition]:
        """Write the transitions whose subject still holds ``from_status``; return those.

        The conditional UPDATE is the guard (healthchecks' ``sendalerts``): when it changes no
        row, someone else (another collector, an operator) moved the subject first, or the
        subject is not in the inventory, and this transition did not happen: no state-change
        row, no incident, and the caller must not tell the listeners about it.
        """
        if db.dialect(conn) == "postgresql" and len(transitions) > 1:
            return self._apply_transitions_set(conn, transitions)
        applied: list[Transition] = []
        for t in transitions:
            table, key = _TABLE[t.subject_type]
            reason = t.detected_by.value + (f":{t.reason}" if t.reason else "")
            cur = conn.execute(
                f"UPDATE {table} SET status=?, status_since=?, status_reason=? "
                f"WHERE {key}=? AND status=?",
                (t.to_status.value, to_db(t.at), reason, t.subject_id, t.from_status.value),
            )
            if cur.rowcount != 1:
                continue
            applied.append(t)
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
        self._incidents(conn, applied)
        return applied

    def _apply_transitions_set(
        self, conn: db.Connection, transitions: Sequence[Transition]
    ) -> list[Transition]:
        """``apply_transitions`` on PostgreSQL, a statement per table for the whole batch
        (a fleet's first minute is one birth per gateway: 2 round trips each held the shared
        store's write lock seconds per batch). Same guard, same order: a subject that comes
        twice starts a new run, judged after the one before it."""
        applied: list[Transition] = []
        run: list[Transition] = []
        keys: set[tuple[SubjectType, str]] = set()
        for t in transitions:
            key = (t.subject_type, t.subject_id)
            if key in keys:
                applied += self._apply_run(conn, run)
                run, keys = [], set()
            run.append(t)
            keys.add(key)
        applied += self._apply_run(conn, run)
        return applied

    def _apply_run(self, conn: db.Connection, run: Sequence[Transition]) -> list[Transition]:
        """One run of transitions, each of a different subject (PostgreSQL)."""
        reasons = [t.detected_by.value + (f":{t.reason}" if t.reason else "") for t in run]
        done: set[int] = set()
        for stype, (table, key) in _TABLE.items():
            idx = [i for i, t in enumerate(run) if t.subject_type is stype]
            if not idx:
                continue
            rows = conn.execute(
                f"UPDATE {table} AS s SET status = u.to_status, status_since = u.at, "
                "status_reason = u.reason FROM unnest(?::bigint[], ?::text[], ?::text[], "
                "?::text[], ?::text[], ?::text[]) AS u(i, sid, from_status, to_status, at, "
                f"reason) WHERE s.{key} = u.sid AND s.status = u.from_status RETURNING u.i",
                (
                    idx,
                    [run[i].subject_id for i in idx],
                    [run[i].from_status.value for i in idx],
                    [run[i].to_status.value for i in idx],
                    [to_db(run[i].at) for i in idx],
                    [reasons[i] for i in idx],
                ),
            ).fetchall()
            done.update(int(r[0]) for r in rows)
        order = sorted(done)
        if not order:
            return []
        conn.execute(
            "INSERT INTO state_changes (subject_type, subject_id, from_status, to_status, at, "
            "reason) SELECT st, sid, fs, ts, at, reason FROM unnest(?::bigint[], ?::text[], "
            "?::text[], ?::text[], ?::text[], ?::text[], ?::text[]) AS u(i, st, sid, fs, ts, at, "
            "reason) ORDER BY i",
            (
                order,
                [run[i].subject_type.value for i in order],
                [run[i].subject_id for i in order],
                [run[i].from_status.value for i in order],
                [run[i].to_status.value for i in order],
                [to_db(run[i].at) for i in order],
                [reasons[i] for i in order],
            ),
        )
        applied = [run[i] for i in order]
        self._incidents(conn, applied)
        return applied

    @classmethod
    def _incidents(cls, conn: db.Connection, applied: Sequence[Transition]) -> None:
        """Open an incident for each applied transition to down, close the open one for each
        from down, in order (a subject may go down and come back in the same batch)."""
        for t in applied:
            if t.to_status is Liveness.DOWN:
                table, key = _TABLE[t.subject_type]
                cls._open_incident(conn, t, table, key)
            elif t.from_status is Liveness.DOWN:
                conn.execute(
                    "UPDATE incidents SET ended_at=? WHERE subject_type=? AND subject_id=? "
                    "AND ended_at IS NULL",
                    (to_db(t.at), t.subject_type.value, t.subject_id),
                )

    def stored_states(
        self, conn: db.Connection, keys: Iterable[tuple[SubjectType, str]]
    ) -> list[StoredState]:
        """What the store holds for these subjects (to resync the tracker after a lost race)."""
        out: list[StoredState] = []
        for stype, sid in keys:
            if stype is SubjectType.GATEWAY:
                row = conn.execute(
                    "SELECT status, status_since, session, heartbeat_interval, '' FROM gateways "
                    "WHERE gateway_id=?",
                    (sid,),
                ).fetchone()
            else:
                row = conn.execute(
                    "SELECT status, status_since, NULL, heartbeat_interval, gateway_id "
                    "FROM terminals WHERE terminal_id=?",
                    (sid,),
                ).fetchone()
            if row is not None:
                out.append(
                    StoredState(
                        stype, sid, Liveness(row[0]), from_db_opt(row[1]), row[2], row[3], row[4]
                    )
                )
        return out

    @staticmethod
    def _open_incident(conn: db.Connection, t: Transition, table: str, key: str) -> None:
        fault = "network" if t.detected_by is DetectedBy.WILL else "unknown"
        if t.detected_by is DetectedBy.DEADLINE:
            fault = "software"  # the connection may be alive: the agent or app is hung
        # The partial unique index keeps one open incident per subject (DO NOTHING). Its
        # place is where the subject is (a terminal listed without one: its gateway's).
        site, region = (places.of_table(table, "x", c) for c in places.PLACE_COLUMNS)
        conn.execute(
            "INSERT INTO incidents (subject_type, subject_id, site_id, region_id, model, "
            "started_at, class, fault_category, detected_by, cause) "
            f"SELECT ?, ?, {site}, {region}, x.model, ?, "
            "CASE WHEN x.suspended = 1 THEN 'administrative' WHEN ? = 1 THEN 'planned' "
            "ELSE 'fault' END, ?, ?, ? "
            f"FROM {table} x WHERE x.{key} = ? ON CONFLICT DO NOTHING",
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

    # ------------------------------------------------------------------ enrolment
    def enrolled(self, subject_type: SubjectType, subject_id: str) -> str | None:
        """None when not in the inventory; else the gateway a terminal is enrolled behind
        ('' for a gateway): collector.enrolment asks for the ids it does not hold."""
        if subject_type is SubjectType.GATEWAY:
            row = self.conn.execute(
                "SELECT '' FROM gateways WHERE gateway_id = ? AND registered = 1", (subject_id,)
            ).fetchone()
        else:
            row = self.conn.execute(
                "SELECT gateway_id FROM terminals WHERE terminal_id = ? AND registered = 1",
                (subject_id,),
            ).fetchone()
        return None if row is None else str(row[0])

    def enrolled_ids(self) -> tuple[list[str], list[tuple[str, str]]]:
        """Every enrolled gateway id, and every enrolled terminal id with its gateway's
        (loaded once at start)."""
        return (
            [r[0] for r in self.conn.execute("SELECT gateway_id FROM gateways WHERE registered=1")],
            [
                (r[0], r[1])
                for r in self.conn.execute(
                    "SELECT terminal_id, gateway_id FROM terminals WHERE registered=1"
                )
            ],
        )

    def terminal_moves(self, since: int) -> tuple[int, list[tuple[str, str]]]:
        """The inventory's move counter (``meta.TERMINAL_MOVES``) and, when it is not
        ``since``, every enrolled terminal moved after ``since`` with its gateway now: one
        primary-key read per batch, the indexed rows only when an import moved terminals.

        The first read of each batch: a PostgreSQL session the server dropped (restart,
        failover) is found here and replaced once, as the batch's transaction would."""
        try:
            return self._terminal_moves(self.conn, since)
        except db.OperationalError:
            if not (isinstance(self.conn, db.PgConnection) and self.conn.closed):
                raise
        return self._terminal_moves(self._pg_session(), since)

    @staticmethod
    def _terminal_moves(conn: db.Connection, since: int) -> tuple[int, list[tuple[str, str]]]:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (TERMINAL_MOVES,)).fetchone()
        mark = 0 if row is None else int(row[0])
        if mark == since:
            return since, []
        # A counter below ours: the store was restored from a backup; re-read every move.
        after = since if mark > since else 0
        moved = conn.execute(
            "SELECT terminal_id, gateway_id FROM terminals WHERE moved_seq > ? AND registered = 1",
            (after,),
        ).fetchall()
        return mark, [(str(r[0]), str(r[1])) for r in moved]

    def retire_unregistered(
        self, now: datetime, *, adopt_terminals: bool, adopt_gateways: str | None
    ) -> dict[str, int]:
        """Stores of older releases hold rows with ``registered = 0`` (ids that reported but
        were never imported), and alerts and incidents about them. Judge them by today's
        policy, once, at start: adopted when auto-enrolment covers them, else moved to the
        enrolment list, their open alerts resolved and open incidents closed, and the rows
        deleted (history rows stay). ``adopt_gateways``: the auto-enrolment region, or None.
        """
        at = to_db(now)
        counts: dict[str, int] = {}
        with self.transaction() as conn:
            if adopt_gateways is not None:
                counts["gateways adopted"] = conn.execute(
                    "UPDATE gateways SET registered = 1, region_id = CASE WHEN region_id = '' "
                    "THEN ? ELSE region_id END WHERE registered = 0",
                    (adopt_gateways,),
                ).rowcount
            if adopt_terminals:
                counts["terminals adopted"] = conn.execute(
                    "UPDATE terminals SET registered = 1, "
                    "site_id = coalesce((SELECT g.site_id FROM gateways g "
                    "WHERE g.gateway_id = terminals.gateway_id), site_id), "
                    "region_id = coalesce((SELECT g.region_id FROM gateways g "
                    "WHERE g.gateway_id = terminals.gateway_id), region_id) "
                    "WHERE registered = 0 AND gateway_id IN "
                    "(SELECT gateway_id FROM gateways WHERE registered = 1)"
                ).rowcount
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS retired (subject_type TEXT, subject_id TEXT, "
                "gateway_id TEXT, last_seen_at TEXT, PRIMARY KEY (subject_type, subject_id))"
            )
            conn.execute("DELETE FROM retired")
            conn.execute(
                "INSERT INTO retired SELECT 'gateway', gateway_id, '', last_seen_at "
                "FROM gateways WHERE registered = 0"
            )
            conn.execute(
                "INSERT INTO retired SELECT 'terminal', terminal_id, gateway_id, last_seen_at "
                "FROM terminals WHERE registered = 0"
            )
            (n,) = conn.execute("SELECT count(*) FROM retired").fetchone()
            if n:
                conn.execute(
                    "INSERT INTO enrolment (subject_type, subject_id, gateway_id, "
                    "first_seen_at, last_seen_at, messages, last_kind) "
                    "SELECT subject_type, subject_id, gateway_id, coalesce(last_seen_at, ?), "
                    "coalesce(last_seen_at, ?), 0, '' FROM retired WHERE true "
                    "ON CONFLICT DO NOTHING",
                    (at, at),
                )
                # Their alerts were pages with no route: void them, with a note saying why.
                active = (
                    "SELECT id, state FROM alerts WHERE state != 'resolved' AND "
                    "(subject_type, subject_id) IN (SELECT subject_type, subject_id FROM retired)"
                )
                conn.execute(
                    "INSERT INTO alert_events (alert_id, at, from_state, to_state, note) "
                    f"SELECT id, ?, state, 'resolved', 'not in the inventory: listed for "
                    f"enrolment' FROM ({active}) AS a",
                    (at,),
                )
                counts["alerts resolved"] = conn.execute(
                    f"UPDATE alerts SET state = 'resolved', resolved_at = ? "
                    f"WHERE id IN (SELECT id FROM ({active}) AS a)",
                    (at,),
                ).rowcount
                counts["incidents closed"] = conn.execute(
                    "UPDATE incidents SET ended_at = ?, notes = 'not in the inventory' "
                    "WHERE ended_at IS NULL AND (subject_type, subject_id) IN "
                    "(SELECT subject_type, subject_id FROM retired)",
                    (at,),
                ).rowcount
                counts["gateways listed"] = conn.execute(
                    "DELETE FROM gateways WHERE registered = 0"
                ).rowcount
                counts["terminals listed"] = conn.execute(
                    "DELETE FROM terminals WHERE registered = 0"
                ).rowcount
                self.bound_enrolment(conn)
            conn.execute("DELETE FROM retired")
        return {k: v for k, v in counts.items() if v}

    # ------------------------------------------------------------------ reads
    def status_counts(self) -> dict[str, int]:
        return dict(
            self.conn.execute("SELECT status, count(*) FROM gateways GROUP BY status").fetchall()
        )


SqliteStore = Store  # the name of older releases (tests, benchmarks)


def open_store(target: Path | str, *, enrolment_max: int = 1000) -> Store:
    """The store named by ``--db`` / ``POSFLEET_DB``: an SQLite file or a PostgreSQL URL."""
    return Store(target, enrolment_max=enrolment_max)


def dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)
