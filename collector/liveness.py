"""Liveness of gateways and terminals, decided from evidence (pure: no I/O, time passed in).

Evidence, strongest first (DESIGN.md "Liveness"):

1. session end: an ``offline`` status (the Last Will, or a graceful stop) counts only when
   its session is the current one; an older session's will is stale and ignored, so a
   gateway that reconnects fast is never shown down by its previous connection;
2. heartbeat deadline: deadline = receipt + interval + grace -> ``late``; deadline + grace ->
   ``down`` (the connection may be alive while the software is hung).

Only births and live heartbeats are evidence of life: other telemetry can keep flowing from a
gateway whose payment software is hung. Historical (back-filled) messages are never live.

The collector's own blind spots are not outages: ``pause()`` while the broker is unreachable
freezes every deadline, ``resume_all()`` restarts them all from the moment it can see again.

Nor are the broker's: a broker that restarts publishes its clients' wills (as it shuts
down, and again from its store to our persistent session when we are back), and its clients
come back over their whole reconnect backoff. So a *restart will* (held when we lost the
broker, or arriving within ``restart_hold_s`` of our return for a gateway not born since)
counts only once ``restart_hold_s`` has passed since the return; when the return shows the
broker restarted, silence is judged no sooner either. A lone will at any other time is held
only ``will_hold_s``.

Deadlines sit in a heap with one live entry per subject; a heartbeat only moves the
subject's deadline forward and the heap entry is re-queued lazily when it surfaces, so the
cost is O(log n) per interval per subject and nothing ever scans the fleet.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from collector.model import DetectedBy, Liveness, SubjectType, Transition
from telemetry.codec import RejectReason
from telemetry.models import PLANNED_REASONS, RECONNECT_MAX_DELAY_S, LinkState, OfflineReason

Key = tuple[SubjectType, str]


@dataclass(frozen=True, slots=True)
class LivenessConfig:
    default_interval_s: float = 60.0  # until a heartbeat states its interval
    grace_ratio: float = 0.25
    grace_min_s: float = 1.0
    grace_max_s: float = 30.0
    # A will is held this long before it counts: a gateway whose old connection dies as it
    # reconnects (session takeover) delivers will(n) just before birth(n+1); that is a
    # reconnect, not an outage. Planned (graceful) offlines are not held.
    will_hold_s: float = 2.0
    # How long after the collector is back a broker restart's wills (and silence) prove
    # nothing: the agent's maximum reconnect backoff plus a margin (connect, our own
    # reconnect, the backlog). One value; the collector derives it from its settings.
    restart_hold_s: float = RECONNECT_MAX_DELAY_S + 10.0

    def grace(self, interval: float) -> float:
        return min(max(self.grace_ratio * interval, self.grace_min_s), self.grace_max_s)


@dataclass(slots=True)
class SubjectState:
    status: Liveness = Liveness.UNKNOWN
    since: datetime | None = None
    session: int | None = None
    ended_session: int | None = None  # the session an offline closed; its heartbeats are stale
    seq: int = -1
    interval: float | None = None
    deadline: float | None = None  # monotonic time of the next stage (late, then down)
    deadline_wall: datetime | None = None
    queued: float | None = None  # due time of this subject's live heap entry
    token: int = 0
    gateway_id: str = ""  # terminals: the gateway in front of them
    pending_down: tuple[datetime, str] | None = None  # a held will: (received at, reason)
    born_epoch: int = 0  # the tracker's epoch (resume count) of the last live birth


@dataclass(frozen=True, slots=True)
class StoredState:
    """What the store remembers of a subject, for a restart."""

    subject_type: SubjectType
    subject_id: str
    status: Liveness
    since: datetime | None
    session: int | None
    interval: float | None
    gateway_id: str = ""


@dataclass(slots=True)
class Outcome:
    transitions: list[Transition] = field(default_factory=list)
    rejected: RejectReason | None = None
    detail: str = ""
    absorbed_will: bool = False  # a new session arrived while the old one's will was held


class LivenessTracker:
    def __init__(self, config: LivenessConfig | None = None) -> None:
        self.config = config or LivenessConfig()
        self._subjects: dict[Key, SubjectState] = {}
        self._terminals_of: dict[str, set[str]] = {}
        self._heap: list[tuple[float, int, SubjectType, str]] = []
        self._paused = True  # blind until the first broker connection
        self._epoch = 0  # +1 per resume_all: births since the last return carry it
        self._restart_until = float("-inf")  # monotonic end of the restart hold
        self._restart_wall: datetime | None = None
        self._restarting = False  # the broker restarted: silence waits for the hold too

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self._subjects)

    def get(self, subject_type: SubjectType, subject_id: str) -> SubjectState | None:
        return self._subjects.get((subject_type, subject_id))

    @property
    def paused(self) -> bool:
        return self._paused

    def next_due(self) -> float | None:
        """Monotonic time of the earliest heap entry (None when nothing is scheduled)."""
        return None if self._paused or not self._heap else self._heap[0][0]

    def items(self) -> Iterator[tuple[Key, SubjectState]]:
        return iter(self._subjects.items())

    # ------------------------------------------------------------------ restart
    def load(self, rows: Iterable[StoredState]) -> None:
        for row in rows:
            s = self._state((row.subject_type, row.subject_id), row.gateway_id)
            s.status, s.since, s.session, s.interval = (
                row.status,
                row.since,
                row.session,
                row.interval,
            )

    def restore(self, row: StoredState, now: datetime, mono: float) -> None:
        """Take one subject's stored facts back, as at a restart, after the write of its
        evidence failed: what the tracker believes must be what the store holds, or the
        store's conditional status updates stop matching. The next message from the subject
        re-creates whatever change was lost. An up subject keeps the deadline it has (so
        failing messages cannot postpone it) or, without one, gets a full one from ``now``."""
        key = (row.subject_type, row.subject_id)
        s = self._state(key, row.gateway_id)
        s.status, s.since, s.session, s.interval = row.status, row.since, row.session, row.interval
        s.seq, s.ended_session, s.pending_down = -1, None, None
        if s.status not in (Liveness.ONLINE, Liveness.LATE) or not self._observable(key, s):
            self._cancel(s)
        elif s.deadline is None:
            self._set_deadline(key, s, now, mono, self._interval(s))

    # ------------------------------------------------------------------ shared store
    def adopt(self, key: Key, state: SubjectState) -> None:
        """Take one subject's whole state as the shared store holds it (several collectors,
        collector/store/shared.py): its deadline is queued as it stands."""
        state.queued, state.token = None, 0
        self._subjects[key] = state
        if key[0] is SubjectType.TERMINAL and state.gateway_id:
            self._terminals_of.setdefault(state.gateway_id, set()).add(key[1])
        if state.deadline is not None:
            self._push(key, state, state.deadline)

    def see_as_fleet(
        self, epoch: int, restart_until: float, restart_wall: datetime | None, restarting: bool
    ) -> None:
        """The fleet's vision, as the shared store holds it: what ``resume_all`` sets when
        one collector sees again, decided once for all collectors."""
        self._paused = False
        self._epoch = epoch
        self._restart_until = restart_until
        self._restart_wall = restart_wall
        self._restarting = restarting

    def pause(self) -> None:
        """The collector cannot see the broker: no deadline may fire from now on."""
        self._paused = True

    def resume_all(self, now: datetime, mono: float, *, broker_restarted: bool = False) -> None:
        """Restart every deadline from ``now``: silence while we were blind proves nothing.

        ``broker_restarted``: the broker lost our session (it restarted without persistence).
        A will held from before we went blind says the same: a broker that shuts down
        publishes its clients' wills and then drops us. Then every client is somewhere in
        its reconnect backoff: no deadline of a client not back yet falls due before
        ``restart_hold_s`` (deferred lazily in ``tick``, no scan), and its will, live or
        queued, waits as long. A retained will waits as long after any return: it may be a
        restarted broker's memory.
        """
        self._paused = False
        self._heap.clear()
        self._epoch += 1
        hold = self.config.restart_hold_s
        self._restart_until = mono + hold
        self._restart_wall = now + timedelta(seconds=hold)
        self._restarting = broker_restarted
        for key, s in self._subjects.items():
            s.queued = None
            if s.pending_down is not None:
                # A will held when we went blind: most likely the broker shutting down.
                self._restarting = True
                self._hold_until(key, s, now, mono, max(self._full_span(s), hold))
            elif s.status in (Liveness.ONLINE, Liveness.LATE) and self._observable(key, s):
                self._set_deadline(key, s, now, mono, self._interval(s))
            else:
                s.deadline = s.deadline_wall = None

    # ------------------------------------------------------------------ inventory
    def move(self, terminal_id: str, gateway_id: str, now: datetime, mono: float) -> bool:
        """The inventory put the terminal behind ``gateway_id`` (an import, picked up by
        collector/enrolment.py): from now on it is judged through that gateway, not the
        old one, whether or not the new one has spoken yet. An up terminal gets a full
        interval from ``now`` to show up through it (as behind a gateway that is back);
        behind a new gateway that is down, or whose will is held, it waits for that gateway.
        Its status is kept: a move is no evidence. False: nothing to move."""
        key = (SubjectType.TERMINAL, terminal_id)
        s = self._subjects.get(key)
        if s is None or not gateway_id or s.gateway_id == gateway_id:
            return False
        self._state(key, gateway_id)
        if s.status in (Liveness.ONLINE, Liveness.LATE) and self._observable(key, s):
            self._set_deadline(key, s, now, mono, self._interval(s))
        else:
            self._cancel(s)
        return True

    # ------------------------------------------------------------------ evidence
    def observe_status(
        self,
        gateway_id: str,
        terminal_id: str | None,
        state: LinkState,
        session: int,
        reason: OfflineReason | str | None,
        now: datetime,
        mono: float,
        retained: bool = False,
    ) -> Outcome:
        """``retained``: delivered from the broker's store on (re)subscribe, not live."""
        if terminal_id is not None:
            return self._terminal_status(gateway_id, terminal_id, state, reason, now, mono)
        key = (SubjectType.GATEWAY, gateway_id)
        s = self._state(key)
        out = Outcome()
        if s.session is not None and session < s.session:
            out.rejected, out.detail = (
                RejectReason.STALE_SESSION,
                f"session {session} < {s.session}",
            )
            return out
        if state is LinkState.ONLINE:
            if session == s.ended_session:
                # That session already ended (its will arrived): its birth delivered again (a
                # restarted broker redelivers what was in flight, not retained) revives nothing.
                out.rejected, out.detail = (
                    RejectReason.STALE_SESSION,
                    f"session {session} ended",
                )
                return out
            if retained and session == s.session and s.status in (Liveness.LATE, Liveness.DOWN):
                # The broker's memory of the connection that is still open (a hung app keeps
                # it): delivered to a collector that (re)subscribes, it says nothing about the
                # heartbeats that stopped. Reviving the gateway would end its outage and page
                # it again at the next deadline.
                return out
            if not retained and (s.session is None or session > s.session):
                # A new connection since our return. A retained birth is the broker's memory,
                # and a birth of the current session delivered again proves nothing new.
                s.born_epoch = self._epoch
            if s.session != session:
                s.seq = -1
            if s.pending_down is not None and session > (s.session or -1):
                s.pending_down = None
                out.absorbed_will = True
            s.session, s.ended_session = session, None
            self._to(out, key, s, Liveness.ONLINE, now, DetectedBy.BIRTH)
            self._set_deadline(key, s, now, mono, self._interval(s))
            self._resume_terminals(gateway_id, now, mono)
            return out
        # offline: the will (connection_lost) or a graceful stop of the current session
        s.session = session
        s.ended_session = session
        planned = reason is not None and reason in PLANNED_REASONS
        if not planned and s.status is not Liveness.DOWN:
            # A retained will seen on (re)subscribe may be the broker's own restart talking
            # (Mosquitto publishes its clients' wills when it shuts down): it gets a whole
            # heartbeat deadline to be contradicted by a new session, not just the hold.
            hold = self._full_span(s) if retained else self.config.will_hold_s
            if (
                (retained or self._restarting)
                and mono < self._restart_until
                and s.born_epoch != self._epoch
            ):
                # After our return, for a gateway not born since: the broker's restart
                # delivering its wills (retained, or queued for our persistent session). Its
                # agent may still be in its backoff: evidence only once the hold is over.
                hold = max(hold, self._restart_until - mono)
            self._hold_will(key, s, now, mono, str(reason or ""), hold)
            return out
        by = DetectedBy.GRACEFUL if planned else DetectedBy.WILL
        self._to(out, key, s, Liveness.DOWN, now, by, str(reason or ""), planned)
        self._cancel(s)
        self._pause_terminals(gateway_id)
        return out

    def observe_heartbeat(
        self,
        gateway_id: str,
        terminal_id: str | None,
        session: int,
        seq: int,
        interval: float,
        now: datetime,
        mono: float,
    ) -> Outcome:
        out = Outcome()
        if terminal_id is not None:
            key: Key = (SubjectType.TERMINAL, terminal_id)
            s = self._state(key, gateway_id)
            gw = self._subjects.get((SubjectType.GATEWAY, gateway_id))
            gw_session = gw.session if gw else None
            if gw_session is not None and session < gw_session:
                out.rejected, out.detail = RejectReason.STALE_SESSION, "older gateway session"
                return out
            if s.session == session and seq <= s.seq:
                out.rejected, out.detail = RejectReason.DUPLICATE, f"seq {seq} <= {s.seq}"
                return out
        else:
            key = (SubjectType.GATEWAY, gateway_id)
            s = self._state(key)
            if s.session is not None and session < s.session:
                out.rejected, out.detail = RejectReason.STALE_SESSION, f"session {session}"
                return out
            if session == s.ended_session:
                # The session already ended (its will arrived): only a new birth revives it.
                out.rejected, out.detail = RejectReason.STALE_SESSION, f"session {session} ended"
                return out
            if s.session == session and seq <= s.seq:
                out.rejected, out.detail = RejectReason.DUPLICATE, f"seq {seq} <= {s.seq}"
                return out
        if key[0] is SubjectType.GATEWAY and (s.session is None or session > s.session):
            s.born_epoch = self._epoch  # a new session is alive (its birth may come later)
        if s.pending_down is not None and key[0] is SubjectType.GATEWAY:
            s.pending_down = None  # a new session is alive (its birth may come later)
            out.absorbed_will = True
            s.ended_session = None
            self._resume_terminals(gateway_id, now, mono)  # not judged while it was held
        s.session, s.seq, s.interval = session, seq, interval
        if key[0] is SubjectType.GATEWAY or self._observable(key, s):
            self._to(out, key, s, Liveness.ONLINE, now, DetectedBy.HEARTBEAT)
            self._set_deadline(key, s, now, mono, interval)
        return out

    # ------------------------------------------------------------------ time
    def tick(self, now: datetime, mono: float) -> list[Transition]:
        """Fire every deadline that is due at ``mono``. Cheap when nothing is due."""
        out = Outcome()
        if self._paused:
            return out.transitions
        heap = self._heap
        while heap and heap[0][0] <= mono:
            due, token, stype, sid = heapq.heappop(heap)
            key = (stype, sid)
            s = self._subjects.get(key)
            if s is None or token != s.token:
                continue  # superseded entry
            s.queued = None
            if s.deadline is None:
                continue
            if s.deadline > due:  # moved forward by heartbeats since it was queued
                self._push(key, s, s.deadline)
                continue
            if s.pending_down is not None:
                # The will held long enough: the outage began when it arrived.
                at, reason = s.pending_down
                s.pending_down = None
                self._to(out, key, s, Liveness.DOWN, at, DetectedBy.WILL, reason)
                self._cancel(s)
                self._pause_terminals(sid)
                continue
            if not self._observable(key, s):
                s.deadline = s.deadline_wall = None
                continue
            if self._restarting and due < self._restart_until and not self._back(key, s):
                # The broker restarted: this client may still be in its reconnect backoff.
                s.deadline, s.deadline_wall = self._restart_until, self._restart_wall
                self._push(key, s, s.deadline)
                continue
            # Stamp the transition with the deadline itself, not the (later) wake-up time.
            at = s.deadline_wall or now
            if s.status is Liveness.ONLINE:
                grace = self.config.grace(self._interval(s))
                self._to(out, key, s, Liveness.LATE, at, DetectedBy.DEADLINE)
                s.deadline = due + grace
                s.deadline_wall = at + timedelta(seconds=grace)
                self._push(key, s, s.deadline)
            elif s.status is Liveness.LATE:
                self._to(out, key, s, Liveness.DOWN, at, DetectedBy.DEADLINE)
                self._cancel(s)
                if stype is SubjectType.GATEWAY:
                    self._pause_terminals(sid)
        return out.transitions

    # ------------------------------------------------------------------ internals
    def _state(self, key: Key, gateway_id: str = "") -> SubjectState:
        s = self._subjects.get(key)
        if s is None:
            s = self._subjects[key] = SubjectState(gateway_id=gateway_id)
        if key[0] is SubjectType.TERMINAL and gateway_id and s.gateway_id != gateway_id:
            if s.gateway_id:
                self._terminals_of.get(s.gateway_id, set()).discard(key[1])
                # Moved behind another gateway (the inventory said so: collector/enrolment.py):
                # its (session, seq) were the old gateway's, the new one's start afresh.
                s.session, s.seq = None, -1
            s.gateway_id = gateway_id
        if key[0] is SubjectType.TERMINAL and s.gateway_id:
            self._terminals_of.setdefault(s.gateway_id, set()).add(key[1])
        return s

    def _interval(self, s: SubjectState) -> float:
        return s.interval or self.config.default_interval_s

    def _observable(self, key: Key, s: SubjectState) -> bool:
        """A terminal is only observable through a gateway that is up (and whose will is
        not held: its terminals' silence is the gateway's, until the will is decided)."""
        if key[0] is not SubjectType.TERMINAL:
            return True
        gw = self._subjects.get((SubjectType.GATEWAY, s.gateway_id))
        return gw is None or (
            gw.status in (Liveness.ONLINE, Liveness.UNKNOWN) and gw.pending_down is None
        )

    def _back(self, key: Key, s: SubjectState) -> bool:
        """Born (its gateway, for a terminal) since the collector's last return."""
        if key[0] is SubjectType.TERMINAL:
            gw = self._subjects.get((SubjectType.GATEWAY, s.gateway_id))
            return gw is not None and gw.born_epoch == self._epoch
        return s.born_epoch == self._epoch

    def _full_span(self, s: SubjectState) -> float:
        interval = self._interval(s)
        return interval + 2 * self.config.grace(interval)

    def _hold_will(
        self, key: Key, s: SubjectState, now: datetime, mono: float, reason: str, hold: float
    ) -> None:
        if s.pending_down is not None and s.deadline is not None:
            # Another copy of a will already held (a broker restart delivers it live, then
            # queued, then retained): it never shortens the hold, and the outage, if there
            # is one, began with the first copy.
            if s.deadline >= mono + hold:
                return
        else:
            s.pending_down = (now, reason)
        self._hold_until(key, s, now, mono, hold)

    def _hold_until(
        self, key: Key, s: SubjectState, now: datetime, mono: float, span: float
    ) -> None:
        s.deadline = mono + span
        s.deadline_wall = now + timedelta(seconds=span)
        if s.queued is None or s.deadline < s.queued:
            self._push(key, s, s.deadline)

    def _set_deadline(
        self, key: Key, s: SubjectState, now: datetime, mono: float, interval: float
    ) -> None:
        span = interval + self.config.grace(interval)
        s.deadline = mono + span
        s.deadline_wall = now + timedelta(seconds=span)
        if s.queued is None or s.deadline < s.queued:
            self._push(key, s, s.deadline)

    def _push(self, key: Key, s: SubjectState, due: float) -> None:
        s.token += 1
        s.queued = due
        heapq.heappush(self._heap, (due, s.token, key[0], key[1]))

    @staticmethod
    def _cancel(s: SubjectState) -> None:
        s.deadline = s.deadline_wall = None

    def _to(
        self,
        out: Outcome,
        key: Key,
        s: SubjectState,
        to: Liveness,
        at: datetime,
        by: DetectedBy,
        reason: str = "",
        planned: bool = False,
    ) -> None:
        if s.status is to:
            return
        out.transitions.append(
            Transition(key[0], key[1], s.status, to, at, by, reason, planned, s.gateway_id)
        )
        s.status, s.since = to, at

    def _terminal_status(
        self,
        gateway_id: str,
        terminal_id: str,
        state: LinkState,
        reason: OfflineReason | str | None,
        now: datetime,
        mono: float,
    ) -> Outcome:
        """The gateway reports a terminal's link (e.g. a PIN pad unplugged)."""
        key = (SubjectType.TERMINAL, terminal_id)
        s = self._state(key, gateway_id)
        out = Outcome()
        if state is LinkState.ONLINE:
            self._to(out, key, s, Liveness.ONLINE, now, DetectedBy.BIRTH)
            self._set_deadline(key, s, now, mono, self._interval(s))
        else:
            planned = reason is not None and reason in PLANNED_REASONS
            by = DetectedBy.GRACEFUL if planned else DetectedBy.WILL
            self._to(out, key, s, Liveness.DOWN, now, by, str(reason or ""), planned)
            self._cancel(s)
        return out

    def _pause_terminals(self, gateway_id: str) -> None:
        for tid in self._terminals_of.get(gateway_id, ()):
            self._cancel(self._subjects[(SubjectType.TERMINAL, tid)])

    def _resume_terminals(self, gateway_id: str, now: datetime, mono: float) -> None:
        """The gateway is back: its terminals get a full interval to prove themselves."""
        for tid in self._terminals_of.get(gateway_id, ()):
            key = (SubjectType.TERMINAL, tid)
            s = self._subjects[key]
            if s.status in (Liveness.ONLINE, Liveness.LATE):
                self._set_deadline(key, s, now, mono, self._interval(s))
