"""Liveness shared by several collectors on one PostgreSQL store (``--share-group``).

With a ``$share`` subscription any collector may receive any message of any gateway, out of
order across collectors, so no collector's memory can hold a subject's liveness. The store
does (table ``liveness_state``: what ``SubjectState`` holds, deadlines on the database's
clock). Each collector's batch is one transaction that:

1. reads the database's clock once (``clock_timestamp()``, epoch seconds): every deadline is
   set and judged on that one clock, never a collector's (a message's receipt is placed on
   it by its age: a deadline runs from when the heartbeat came, not from when its batch
   got the write lock);
2. beats for its collector (``collector_members``) and, when it judges deadlines, decides the
   fleet's vision (``liveness_fleet``, see below);
3. locks the rows of the batch's subjects (a gateway's with its terminals', a terminal's
   with its gateway's) with ``SELECT ... ORDER BY key FOR UPDATE``: one statement in key
   order, so two batches never deadlock; then claims due rows with
   ``WHERE deadline <= now ORDER BY deadline LIMIT n FOR UPDATE SKIP LOCKED``: a row due is
   taken by exactly one collector, the others skip it;
4. hands those states to a fresh ``LivenessTracker`` (``adopt``), which decides exactly as
   in a single collector (sessions and seq fence out-of-order delivery, will holds, epochs,
   terminals observable through their gateway), and writes back the rows it locked. A
   terminal the inventory moved since the member's last batch is locked with its new gateway
   and re-parented there (``LivenessTracker.move``; idempotent, every member does it once).

The fleet's vision. Mosquitto (2.0.11, measured: docs/collector.md "Several collectors")
keeps handing a persistent (MQTT 3.1.1 ``clean_session=False``) member's share of a group
to its session while the member is away: the other members never see those heartbeats. So
members connect with a clean session (the broker drops a dead member's share at once), and
the fleet is blind while any member that beat in the last ``forget_s`` is disconnected or has
not beaten for ``beat_timeout_s``: then no deadline fires (as one collector's ``pause``). When
the fleet sees again, every deadline restarts from then in one statement (the tracker's
``resume_all``), the epoch moves on, and the restart hold starts. A member whose batch the
store refused (its messages lost) marks the fleet blind once: the same restart. A collector
is a member from its first connection until it stops (``beating`` off, then ``leave``).

Cost: one locking read and one write-back statement per batch, a beat, and per tick one
claim; rows written per message 0.48 -> 0.88 (bench/shared_liveness.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from collector.liveness import Key, LivenessConfig, LivenessTracker, SubjectState
from collector.model import Liveness, SubjectType
from collector.store import db
from collector.store.times import from_db_opt, to_db

_COLS = (
    "subject_type, subject_id, gateway_id, status, since, session, ended_session, seq, "
    "interval, deadline, deadline_wall, pending_down_at, pending_down_reason, born_epoch"
)


class SharedStoreError(db.StoreError):
    """Shared liveness needs a PostgreSQL store; the message names the setting."""


@dataclass(frozen=True, slots=True)
class SharedSettings:
    member_id: str
    host: str = ""
    # A member silent this long is suspect (hung or killed): the fleet holds its deadlines.
    beat_timeout_s: float = 10.0
    # ... until it is forgotten: by then the broker has dropped its session (at once for a
    # killed process, after 1.5 x keepalive for a hung or cut-off one) and its share of the
    # heartbeats goes to the others.
    forget_s: float = 30.0
    claim_max: int = 5000  # due rows claimed per transaction


@dataclass(slots=True)
class View:
    """One transaction's share of the fleet: the tracker that decides it and the rows it owns."""

    tracker: LivenessTracker
    db_now: float  # the database's clock, epoch seconds: the tracker's ``mono``
    may_tick: bool  # the fleet sees: deadlines may fire
    # Deadlines are judged as of this moment (database clock, <= db_now): every member has
    # stored all it received before it (the slowest member's watermark), see ``begin``.
    horizon: float = float("-inf")
    owned: set[Key] = field(default_factory=set)  # locked by this transaction: written back
    claimed: int = 0


@dataclass(slots=True)
class _Fleet:
    blind_since: float | None
    epoch: int
    restart_until: float | None
    restart_wall: datetime | None
    restarting: bool


class SharedLiveness:
    def __init__(
        self,
        config: LivenessConfig,
        settings: SharedSettings,
        *,
        offset: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        # Tests move the database's clock along with a fake clock (seconds added to it).
        self.offset = offset
        # False once the collector is stopping: its last batches land without beating, so
        # its own goodbye never makes the fleet blind (then ``leave`` deletes its row).
        self.beating = True
        self.next_deadline: float | None = None  # database clock, after the last claim

    # ------------------------------------------------------------------ setup
    @staticmethod
    def check(conn: db.Connection) -> None:
        if db.dialect(conn) != "postgresql":
            raise SharedStoreError(
                "a share group (POSFLEET_SHARE_GROUP / --share-group) needs a PostgreSQL store: "
                "set POSFLEET_DB / --db to postgresql://USER@HOST:PORT/DB, or run one "
                "collector without a share group on SQLite"
            )

    def seed(self, conn: db.Connection) -> None:
        """Every enrolled subject gets its row (once: rows already there are kept), and the
        fleet its vision row, blind until a member sees. Idempotent, for every start."""
        conn.execute(
            "INSERT INTO liveness_state (subject_type, subject_id, gateway_id, status, since, "
            "session, interval) SELECT 'gateway', gateway_id, '', status, status_since, "
            "session, heartbeat_interval FROM gateways WHERE registered = 1 "
            "ON CONFLICT DO NOTHING"
        )
        conn.execute(
            "INSERT INTO liveness_state (subject_type, subject_id, gateway_id, status, since, "
            "interval) SELECT 'terminal', terminal_id, gateway_id, status, status_since, "
            "heartbeat_interval FROM terminals WHERE registered = 1 ON CONFLICT DO NOTHING"
        )
        # The first connection of a fleet is a return after a broker restart for all we know
        # (the single collector's first connect: session_present is false).
        conn.execute(
            "INSERT INTO liveness_fleet (fleet_id, blind_since, epoch, restart_pending) "
            "VALUES (1, 0, 0, 1) ON CONFLICT DO NOTHING"
        )
        (db_now,) = conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
        if self.offset is not None:
            db_now += self.offset()
        (live,) = conn.execute(
            "SELECT count(*) FROM collector_members WHERE beat > ?",
            (db_now - self.settings.forget_s,),
        ).fetchone()
        # Our own row, recent: the last run of this member did not leave (killed, crashed).
        # The messages it had read and not stored are lost (a clean session is not kept), and
        # its watermark no longer holds the fleet once it beats again: the fleet was blind to
        # them, so every deadline restarts (as for a batch the store refused).
        conn.execute(
            "UPDATE liveness_fleet SET blind_since = coalesce(blind_since, ?) WHERE fleet_id = 1 "
            "AND EXISTS (SELECT 1 FROM collector_members WHERE member_id = ? AND beat > ?)",
            (db_now, self.settings.member_id, db_now - self.settings.forget_s),
        )
        if live:
            return
        # A cold start of the fleet: no member is running. A collector without a share group
        # may have run on this store meanwhile: its statuses are the truth, and the fleet
        # starts as one collector does (blind, then a return after a broker restart).
        conn.execute(
            "UPDATE liveness_state AS s SET status = g.status, since = g.status_since, "
            "interval = g.heartbeat_interval, session = g.session, "
            "seq = CASE WHEN s.session IS DISTINCT FROM g.session THEN NULL ELSE s.seq END, "
            "ended_session = CASE WHEN s.session IS DISTINCT FROM g.session THEN NULL "
            "ELSE s.ended_session END, pending_down_at = NULL, pending_down_reason = NULL "
            "FROM gateways AS g WHERE s.subject_type = 'gateway' AND s.subject_id = g.gateway_id"
        )
        conn.execute(
            "UPDATE liveness_state AS s SET status = t.status, since = t.status_since, "
            "interval = t.heartbeat_interval, gateway_id = t.gateway_id "
            "FROM terminals AS t WHERE s.subject_type = 'terminal' AND s.subject_id = t.terminal_id"
        )
        conn.execute(
            "UPDATE liveness_fleet SET blind_since = coalesce(blind_since, ?), "
            "restart_pending = 1 WHERE fleet_id = 1",
            (db_now,),
        )

    def leave(self, conn: db.Connection) -> None:
        """A member that stops cleanly holds nobody's deadlines."""
        self.beating = False
        conn.execute(
            "DELETE FROM collector_members WHERE member_id = ?", (self.settings.member_id,)
        )

    # ------------------------------------------------------------------ one transaction
    def begin(
        self,
        conn: db.Connection,
        keys: Iterable[Key],
        *,
        claim: bool,
        connected: bool | None,
        broker_restarted: bool,
        now: datetime,
        lost_evidence: bool = False,
        lag_s: float = 0.0,
    ) -> View:
        """Beat, decide the fleet's vision (``claim``), lock and load the rows of ``keys``
        and, when the fleet sees, claim the due rows. Inside the caller's transaction.
        ``connected`` None: not connected yet since the start; not a member until then (a
        collector starting up receives no share, and must not hold the fleet).
        ``lost_evidence``: this collector lost messages to a store that refused writes (a
        PostgreSQL restart): the fleet was blind to them, so every deadline restarts at the
        next claim, as after any blindness.
        ``lag_s``: how long before this transaction the collector last held everything it
        had received (its batch was taken from its queue, or is a retry). Its beat is its
        watermark, ``db_now - lag_s``: after this commit, everything it received before then
        is stored. Deadlines fire only up to the oldest watermark of the members (the
        horizon): a heartbeat one collector holds in a batch still waiting for the write
        lock, or lost with a killed one, is never judged missing by another."""
        (db_now,) = conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
        if self.offset is not None:
            db_now += self.offset()
        if connected is not None and self.beating:
            conn.execute(
                "INSERT INTO collector_members (member_id, connected, beat, host) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET "
                "connected = excluded.connected, beat = excluded.beat",
                (
                    self.settings.member_id,
                    int(connected),
                    db_now - max(lag_s, 0.0),
                    self.settings.host,
                ),
            )
        if broker_restarted:
            # A clean session is never kept, so its loss proves nothing by itself. The
            # broker restarted when we come back to it while the fleet is blind and no other
            # member sees: a member restarted alone (killed, redeployed) does not start the
            # restart hold for the whole fleet.
            conn.execute(
                "UPDATE liveness_fleet SET restart_pending = 1 "
                "WHERE fleet_id = 1 AND blind_since IS NOT NULL AND NOT EXISTS ("
                "SELECT 1 FROM collector_members WHERE member_id <> ? AND connected = 1 "
                "AND beat >= ?)",
                (self.settings.member_id, db_now - self.settings.beat_timeout_s),
            )
        if lost_evidence:
            conn.execute(
                "UPDATE liveness_fleet SET blind_since = coalesce(blind_since, ?) "
                "WHERE fleet_id = 1",
                (db_now,),
            )
        fleet = self._fleet(conn, lock=claim)
        may_tick = False
        horizon = db_now
        if claim:
            blind, horizon = self._blind(conn, db_now)
            if blind and fleet.blind_since is None:
                conn.execute(
                    "UPDATE liveness_fleet SET blind_since = ? WHERE fleet_id = 1", (db_now,)
                )
                fleet.blind_since = db_now
            elif not blind and fleet.blind_since is not None:
                fleet = self._resume(conn, db_now, now)
            may_tick = not blind
        tracker = LivenessTracker(self.config)
        tracker.see_as_fleet(
            fleet.epoch,
            fleet.restart_until if fleet.restart_until is not None else float("-inf"),
            fleet.restart_wall,
            fleet.restarting,
        )
        view = View(tracker, db_now, may_tick, horizon)
        self._lock(conn, view, set(keys))
        if may_tick:
            self._claim(conn, view)
        return view

    def finish(self, conn: db.Connection, view: View) -> None:
        """Write back every row this transaction locked (or created)."""
        rows = []
        for key in sorted(view.owned):
            s = view.tracker.get(*key)
            if s is None:
                continue
            at, reason = s.pending_down if s.pending_down is not None else (None, None)
            rows.append(
                (
                    key[0].value,
                    key[1],
                    s.gateway_id,
                    s.status.value,
                    to_db(s.since) if s.since else None,
                    s.session,
                    s.ended_session,
                    s.seq,
                    s.interval,
                    s.deadline,
                    to_db(s.deadline_wall) if s.deadline_wall else None,
                    to_db(at) if at else None,
                    reason,
                    s.born_epoch,
                )
            )
        if rows:
            # One statement for the whole batch (the rows as column arrays): one round trip
            # instead of one per subject.
            columns = [list(c) for c in zip(*rows, strict=True)]
            conn.execute(
                f"INSERT INTO liveness_state ({_COLS}) SELECT * FROM unnest("
                "?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], "
                "?::bigint[], ?::bigint[], ?::float8[], ?::float8[], ?::text[], ?::text[], "
                "?::text[], ?::bigint[]) "
                "ON CONFLICT (subject_type, subject_id) DO UPDATE SET "
                "gateway_id = excluded.gateway_id, status = excluded.status, "
                "since = excluded.since, session = excluded.session, "
                "ended_session = excluded.ended_session, seq = excluded.seq, "
                "interval = excluded.interval, deadline = excluded.deadline, "
                "deadline_wall = excluded.deadline_wall, "
                "pending_down_at = excluded.pending_down_at, "
                "pending_down_reason = excluded.pending_down_reason, "
                "born_epoch = excluded.born_epoch",
                columns,
            )
        if view.may_tick:
            row = conn.execute("SELECT min(deadline) FROM liveness_state").fetchone()
            self.next_deadline = row[0] if row else None

    # ------------------------------------------------------------------ internals
    def _lock(self, conn: db.Connection, view: View, keys: set[Key]) -> None:
        if not keys:
            return
        gateways = {sid for t, sid in keys if t is SubjectType.GATEWAY}
        terminals = {sid for t, sid in keys if t is SubjectType.TERMINAL}
        # A terminal is judged through its gateway: its gateway's row comes too. Its gateway
        # id is the row's (the message's may differ: the tracker moves it).
        # The keys as a set-returning join (unnest), never ``= ANY(array)``: once psycopg
        # prepares the statement, PostgreSQL's generic plan scans the whole table and
        # searches the array linearly for every row (seconds per batch at 100,000 rows,
        # all of it under the write lock: bench/liveness_shared.py).
        rows = conn.execute(
            f"SELECT {_COLS} FROM liveness_state WHERE (subject_type, subject_id) IN ("
            "SELECT 'gateway', g.id FROM unnest(?::text[]) AS g(id) "
            "UNION ALL SELECT 'terminal', t.id FROM unnest(?::text[]) AS t(id) "
            "UNION ALL SELECT 'terminal', s.subject_id FROM unnest(?::text[]) AS g(id) "
            "JOIN liveness_state AS s ON s.gateway_id = g.id AND s.subject_type = 'terminal' "
            "UNION ALL SELECT 'gateway', s.gateway_id FROM unnest(?::text[]) AS t(id) "
            "JOIN liveness_state AS s ON s.subject_type = 'terminal' AND s.subject_id = t.id) "
            "ORDER BY subject_type, subject_id FOR UPDATE",
            (sorted(gateways), sorted(terminals), sorted(gateways), sorted(terminals)),
        ).fetchall()
        for row in rows:
            key, state = _state(row)
            view.tracker.adopt(key, state)
            view.owned.add(key)
        # Subjects with no row yet (enrolled since the start): the tracker creates them and
        # ``finish`` inserts them; the store's status guard settles a race between two.
        view.owned |= keys

    def _claim(self, conn: db.Connection, view: View) -> None:
        rows = conn.execute(
            f"SELECT {_COLS} FROM liveness_state WHERE deadline <= ? ORDER BY deadline "
            "LIMIT ? FOR UPDATE SKIP LOCKED",
            (view.horizon, self.settings.claim_max),
        ).fetchall()
        gateways: set[str] = set()
        for row in rows:
            key, state = _state(row)
            if key in view.owned:
                continue  # locked for this batch's messages already: that copy is current
            view.tracker.adopt(key, state)
            view.owned.add(key)
            view.claimed += 1
            if key[0] is SubjectType.TERMINAL and state.gateway_id:
                gateways.add(state.gateway_id)
        # A claimed terminal is judged through its gateway: read, not locked, not written.
        gateways -= {sid for t, sid in view.owned if t is SubjectType.GATEWAY}
        if gateways:
            for row in conn.execute(
                f"SELECT {_COLS} FROM liveness_state WHERE subject_type = 'gateway' "
                "AND subject_id IN (SELECT unnest(?::text[]))",
                (sorted(gateways),),
            ).fetchall():
                key, state = _state(row)
                state.deadline = None  # never fired here: another collector owns it
                view.tracker.adopt(key, state)

    def _fleet(self, conn: db.Connection, *, lock: bool) -> _Fleet:
        row = conn.execute(
            "SELECT blind_since, epoch, restart_until, restart_wall, restarting "
            "FROM liveness_fleet WHERE fleet_id = 1" + (" FOR UPDATE" if lock else "")
        ).fetchone()
        if row is None:
            raise SharedStoreError("the store has no liveness_fleet row: run the collector once")
        return _Fleet(row[0], int(row[1]), row[2], from_db_opt(row[3]), bool(row[4]))

    def _blind(self, conn: db.Connection, db_now: float) -> tuple[bool, float]:
        """Whether the fleet is blind, and its horizon: the oldest watermark (beat) of the
        members, up to which every one of them has stored what it received."""
        rows = conn.execute(
            "SELECT connected, beat FROM collector_members WHERE beat > ?",
            (db_now - self.settings.forget_s,),
        ).fetchall()
        fresh = db_now - self.settings.beat_timeout_s
        seeing = sum(1 for connected, beat in rows if connected and beat >= fresh)
        horizon = min([db_now, *(float(beat) for _, beat in rows)])
        return seeing == 0 or seeing < len(rows), horizon

    def _resume(self, conn: db.Connection, db_now: float, now: datetime) -> _Fleet:
        """The fleet sees again: silence while it was blind proves nothing. Every deadline
        restarts from now (``LivenessTracker.resume_all``, as SQL over the whole table)."""
        c = self.config
        hold = c.restart_hold_s
        span = (
            "coalesce(interval, :dflt) + least(greatest(:ratio * coalesce(interval, :dflt), "
            ":gmin), :gmax)"
        )
        args = {
            "dflt": c.default_interval_s,
            "ratio": c.grace_ratio,
            "gmin": c.grace_min_s,
            "gmax": c.grace_max_s,
            "now": db_now,
            "hold": hold,
        }
        # A will held when the fleet went blind: most likely the broker shutting down.
        held = conn.execute(
            "UPDATE liveness_state SET deadline = :now + greatest("
            f"{span} + least(greatest(:ratio * coalesce(interval, :dflt), :gmin), :gmax), "
            ":hold), deadline_wall = NULL WHERE pending_down_at IS NOT NULL",
            args,
        ).rowcount
        conn.execute(
            f"UPDATE liveness_state AS s SET deadline = :now + {span}, deadline_wall = NULL "
            "WHERE s.pending_down_at IS NULL AND s.status IN ('online', 'late') AND "
            "(s.subject_type = 'gateway' OR NOT EXISTS (SELECT 1 FROM liveness_state g "
            "WHERE g.subject_type = 'gateway' AND g.subject_id = s.gateway_id AND "
            "(g.status NOT IN ('online', 'unknown') OR g.pending_down_at IS NOT NULL)))",
            args,
        )
        conn.execute(
            "UPDATE liveness_state AS s SET deadline = NULL, deadline_wall = NULL "
            "WHERE s.deadline IS NOT NULL AND s.pending_down_at IS NULL AND "
            "(s.status NOT IN ('online', 'late') OR (s.subject_type = 'terminal' AND EXISTS "
            "(SELECT 1 FROM liveness_state g WHERE g.subject_type = 'gateway' AND "
            "g.subject_id = s.gateway_id AND (g.status NOT IN ('online', 'unknown') "
            "OR g.pending_down_at IS NOT NULL))))"
        )
        wall = now + timedelta(seconds=hold)
        row = conn.execute(
            "UPDATE liveness_fleet SET blind_since = NULL, epoch = epoch + 1, "
            "restart_until = ?, restart_wall = ?, "
            "restarting = CASE WHEN restart_pending = 1 OR ? = 1 THEN 1 ELSE 0 END, "
            "restart_pending = 0 WHERE fleet_id = 1 RETURNING epoch, restarting",
            (db_now + hold, to_db(wall), held > 0),
        ).fetchone()
        return _Fleet(None, int(row[0]), db_now + hold, wall, bool(row[1]))


def _state(row: Sequence[object]) -> tuple[Key, SubjectState]:
    (stype, sid, gateway_id, status, since, session, ended, seq, interval, deadline,
     deadline_wall, pending_at, pending_reason, born) = row  # fmt: skip
    s = SubjectState(
        status=Liveness(str(status)),
        since=from_db_opt(since),  # type: ignore[arg-type]
        session=session,  # type: ignore[arg-type]
        ended_session=ended,  # type: ignore[arg-type]
        seq=-1 if seq is None else int(seq),  # type: ignore[call-overload]
        interval=interval,  # type: ignore[arg-type]
        deadline=deadline,  # type: ignore[arg-type]
        deadline_wall=from_db_opt(deadline_wall),  # type: ignore[arg-type]
        gateway_id=str(gateway_id or ""),
        pending_down=(from_db_opt(pending_at), str(pending_reason or ""))  # type: ignore[arg-type]
        if pending_at
        else None,
        born_epoch=int(born),  # type: ignore[call-overload]
    )
    return (SubjectType(str(stype)), str(sid)), s
