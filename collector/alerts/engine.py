"""The alert lifecycle and dependency logic (pure: state in, decisions out).

Every condition (a subject down, a telemetry fault) is raised or cleared; ``evaluate(now)``
then decides, parents first, what each active alert should be:

- blocked (suspended, in a maintenance window, flapping, decommissioned, or a parent
  alert) -> ``suppressed``; never pages. A parent that has not paged (pending, or
  itself suppressed under no page) holds back a child that has not paged either, so
  an outage is one page; it silences a child that already paged only once its own
  outage pages (the Alertmanager rule: inhibition comes from a firing source), so a
  store that blips shorter than its pending_for never pages a fault twice;
- unblocked again while the condition still holds -> the suppressed row is closed
  silently and the condition continues as a NEW ``pending`` alert with a fresh
  pending_for (so a recovering site whose gateways reconnect over a few seconds does not
  page each of them, and a window that ends fires what is still down exactly once);
- ``pending`` past pending_for -> ``firing`` (escalation 1), escalation rises while
  unacknowledged; except a store whose first gateway's page already went out for the same
  outage: its ``site_down`` fires *covered* by that page (promotion in place: shown, never
  paged, exported or escalated; ``details.covered_by``), and pages as new only if that
  page is silenced while the store stays down;
- condition cleared -> ``resolved`` (silently unless it was firing).

Mutations are collected in an outbox that the repository writes; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from collector.alerts.config import AlertSettings
from collector.alerts.flapping import FlapDetector
from collector.alerts.model import (
    COVERED_BY,
    COVERED_NOTE,
    DOWN_KIND_FOR,
    DOWN_KINDS,
    PLANNING_KINDS,
    RECOVERING_UNTIL,
    Alert,
    AlertEvent,
    AlertState,
    Blocker,
    IncidentClass,
    Key,
    Kind,
    Place,
    SiteChange,
)
from collector.alerts.rules import Verdict
from collector.alerts.text import SEVERITY, down_summary, fmt, where
from collector.alerts.topology import Topology
from collector.alerts.windows import Calendar
from collector.model import Liveness, SubjectType, Transition
from collector.store.times import from_db, to_db

_RANK = {SubjectType.SITE: 0, SubjectType.GATEWAY: 1, SubjectType.TERMINAL: 2}


@dataclass
class Outbox:
    alerts: list[Alert] = field(default_factory=list)  # dirty, first-touched order
    events: list[AlertEvent] = field(default_factory=list)
    incident_classes: list[IncidentClass] = field(default_factory=list)
    site_changes: list[SiteChange] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.alerts or self.events or self.incident_classes or self.site_changes)


class AlertEngine:
    def __init__(
        self,
        settings: AlertSettings | None = None,
        *,
        topology: Topology | None = None,
        calendar: Calendar | None = None,
    ) -> None:
        self.settings = settings or AlertSettings()
        self.topology = topology or Topology()
        self.calendar = calendar or Calendar()
        self.suspended: set[tuple[SubjectType, str]] = set()
        self.flaps = FlapDetector(
            self.settings.flap_changes, self.settings.flap_window_s, self.settings.flap_quiet_s
        )
        self.active: dict[Key, Alert] = {}
        self.sites_down: set[str] = set()
        self._escalate_at = {
            sev: [timedelta(seconds=s) for s in self.settings.escalation_delays(sev)]
            for sev in ("critical", "warning", "info")
        }
        self._escalate_default = [
            timedelta(seconds=s) for s in sorted(self.settings.escalation_after_s)
        ]
        self._out = Outbox()
        self._dirty_ids: set[int] = set()

    # ------------------------------------------------------------------ startup
    def load(self, alerts: list[Alert]) -> None:
        """Restore active alerts and derived site state; fires nothing (restart-safety)."""
        for a in alerts:
            if a.state is not AlertState.RESOLVED:
                self.active[a.key] = a
                if a.key.kind is Kind.FLAPPING:
                    last = a.details.get("last_change")
                    at = from_db(last) if last else a.started_at
                    self.flaps.seed((a.key.subject_type, a.key.subject_id), at)
        self.sites_down = {s for s in self.topology.site_gateways if self.topology.site_is_down(s)}

    def reconcile(
        self, down: list[tuple[SubjectType, str, str, datetime | None]], now: datetime
    ) -> None:
        """After a failed (rolled back) call: raise what the store says is down but has no
        alert. Not used at startup, where a missing alert is never a reason to page."""
        for site in self.sites_down:
            key = Key(Kind.SITE_DOWN, SubjectType.SITE, site)
            if key not in self.active:
                place = self.topology.place(SubjectType.SITE, site)
                self.raise_condition(
                    key,
                    now,
                    place=place,
                    summary=f"Site {site}{where(place)}: all gateways down (resync at {fmt(now)})",
                )
        for st, sid, gw, since in down:
            key = Key(DOWN_KIND_FOR[st], st, sid)
            if key not in self.active:
                place = self.topology.place(st, sid, gw)
                at = min(since or now, now)
                summary = down_summary(st, sid, place, at, "resync")
                self.raise_condition(key, at, place=place, summary=summary)

    # ------------------------------------------------------------------ inputs
    def apply_transition(self, t: Transition) -> None:
        if t.subject_type is SubjectType.SITE:
            return  # sites are derived here, never taken from the core
        subject = (t.subject_type, t.subject_id)
        if t.subject_type is SubjectType.GATEWAY:
            self.topology.status[t.subject_id] = t.to_status
        changed = t.from_status is not t.to_status
        involves_down = changed and Liveness.DOWN in (t.from_status, t.to_status)
        flap_key = Key(Kind.FLAPPING, t.subject_type, t.subject_id)
        if involves_down and flap_key in self.active:
            # Kept in the row so a restarted collector knows how long it has been quiet.
            self.active[flap_key].details["last_change"] = to_db(t.at)
            self._touch(self.active[flap_key])
        if involves_down and self.flaps.record(subject, t.at):
            place = self.topology.place(t.subject_type, t.subject_id, t.gateway_id)
            n = self.flaps.count(subject)
            self.raise_condition(
                Key(Kind.FLAPPING, t.subject_type, t.subject_id),
                t.at,
                place=place,
                summary=f"{t.subject_type.value.capitalize()} {t.subject_id}{where(place)} "
                f"flapping: {n} down/up changes within "
                f"{int(self.settings.flap_window_s)} s, since {fmt(t.at)}",
            )
        key = Key(DOWN_KIND_FOR[t.subject_type], t.subject_type, t.subject_id)
        if t.to_status is Liveness.DOWN:
            place = self.topology.place(t.subject_type, t.subject_id, t.gateway_id)
            how = t.detected_by.value + (f": {t.reason}" if t.reason else "")
            details: dict[str, Any] = {"detected_by": t.detected_by.value, "reason": t.reason}
            if t.planned:
                grace = timedelta(seconds=self.settings.planned_grace_s)
                forever = t.reason.endswith("decommission")
                details["planned_until"] = "forever" if forever else to_db(t.at + grace)
            self.raise_condition(
                key,
                t.at,
                place=place,
                summary=down_summary(t.subject_type, t.subject_id, place, t.at, how),
                details=details,
            )
        elif t.from_status is Liveness.DOWN:
            self.clear_condition(key, t.at, note=f"back {t.to_status.value} ({t.detected_by})")
        if t.subject_type is SubjectType.GATEWAY:
            site = self.topology.place(SubjectType.GATEWAY, t.subject_id).site_id
            if site:
                self._derive_site(site, t.at)

    def _derive_site(self, site_id: str, now: datetime) -> None:
        down = self.topology.site_is_down(site_id)
        if down == (site_id in self.sites_down):
            return
        place = self.topology.place(SubjectType.SITE, site_id)
        window = self.calendar.covering(SubjectType.SITE, site_id, place)
        planned = window is not None or self._site_planned(site_id, now) is not None
        cls = "planned" if down and planned else "fault"
        self._out.site_changes.append(SiteChange(site_id, down, now, place, cls))
        key = Key(Kind.SITE_DOWN, SubjectType.SITE, site_id)
        if down:
            self.sites_down.add(site_id)
            n = len(self.topology.live_members(site_id))
            self.raise_condition(
                key,
                now,
                place=place,
                summary=f"Site {site_id}{where(place)}: all {n} gateways down since {fmt(now)}",
            )
        else:
            self.sites_down.discard(site_id)
            self.clear_condition(key, now, note="a gateway of the site is back")

    def raise_condition(
        self,
        key: Key,
        now: datetime,
        *,
        place: Place | None = None,
        summary: str = "",
        details: dict[str, Any] | None = None,
        severity: str | None = None,
    ) -> Alert:
        alert = self.active.get(key)
        if alert is not None:
            if summary and summary != alert.summary and key.kind not in DOWN_KINDS:
                alert.summary = summary  # telemetry values change; the outage start does not
                alert.details.update(details or {})
                self._touch(alert)
            return alert
        alert = Alert(
            key=key,
            state=AlertState.PENDING,
            severity=severity or SEVERITY.get(key.kind, "warning"),
            started_at=now,
            pending_since=now,
            place=place or self.topology.place(key.subject_type, key.subject_id),
            summary=summary,
            details=dict(details or {}),
        )
        self.active[key] = alert
        self._event(alert, now, "none", AlertState.PENDING.value)
        blocker = self._blocker(alert, now)
        if blocker is not None:
            self._suppress(alert, now, *blocker)
        if key.kind in DOWN_KINDS and key.subject_type is not SubjectType.SITE:
            # Classed on its own, not from the blocker: a gateway inside a window whose
            # whole site is down is inhibited by the site, and its outage is still planned.
            if self._suspended(key, alert.place):
                cls, why = "administrative", "suspended"
            else:
                window = self.calendar.covering(key.subject_type, key.subject_id, alert.place)
                cls, why = ("planned", f"window {window.id}") if window else ("", "")
            if cls:
                self._out.incident_classes.append(
                    IncidentClass(key.subject_type, key.subject_id, cls, why)
                )
        return alert

    def relocate(self, terminal_id: str) -> None:
        """The inventory moved the terminal behind another gateway (the topology says so
        already): its active alerts move with it (gateway, site, region, summary), and the
        next evaluation judges them there: the old gateway's outage no longer holds them, the
        new one's may. Each alert keeps its row and state: an outage that paged is not paged
        again; one held under the old gateway continues as new, as any child unblocked."""
        place = self.topology.place(SubjectType.TERMINAL, terminal_id)
        for key, alert in self.active.items():
            if key.subject_type is not SubjectType.TERMINAL or key.subject_id != terminal_id:
                continue
            old = alert.place
            if not old.gateway_id or old.gateway_id == place.gateway_id:
                continue  # placed without a gateway: nothing of the old one to move from
            alert.summary = alert.summary.replace(
                f"behind gateway {old.gateway_id}{where(old)}",
                f"behind gateway {place.gateway_id}{where(place)}",
            )
            alert.place = replace(
                old, region_id=place.region_id, site_id=place.site_id, gateway_id=place.gateway_id
            )
            alert.details["moved_from"] = old.gateway_id
            self._touch(alert)

    def _suspended(self, key: Key, place: Place) -> bool:
        return (key.subject_type, key.subject_id) in self.suspended or (
            key.subject_type is SubjectType.TERMINAL
            and (SubjectType.GATEWAY, place.gateway_id) in self.suspended
        )

    def apply_verdicts(self, verdicts: list[Verdict], now: datetime) -> None:
        for v in verdicts:
            if v.active:
                self.raise_condition(
                    v.key, now, place=v.place, summary=v.summary, details=v.details
                )
            else:
                self.clear_condition(v.key, now, note="back to normal")

    def clear_condition(self, key: Key, now: datetime, note: str = "") -> None:
        alert = self.active.pop(key, None)
        if alert is None:
            return
        self._resolve(alert, now, note or "condition cleared")

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, now: datetime) -> None:
        """Apply time and blockers to every active alert, parents before children."""
        self.calendar.refresh(now)
        for subject, alert in list(self._flapping_alerts()):
            if self.flaps.is_quiet(subject, now):
                self.clear_condition(alert.key, now, note="quiet again")
        for alert in sorted(self.active.values(), key=lambda a: _RANK[a.key.subject_type]):
            if self.active.get(alert.key) is alert:
                self._evaluate_one(alert, now)
        self.flaps.prune(now)

    def _flapping_alerts(self) -> list[tuple[tuple[SubjectType, str], Alert]]:
        return [
            ((k.subject_type, k.subject_id), a)
            for k, a in self.active.items()
            if k.kind is Kind.FLAPPING
        ]

    def _evaluate_one(self, alert: Alert, now: datetime) -> None:
        blocker = self._blocker(alert, now)
        if blocker is not None:
            if alert.state is not AlertState.SUPPRESSED:
                self._suppress(alert, now, *blocker)
            elif (alert.blocker, alert.inhibited_by) != blocker[:2]:
                alert.blocker, alert.inhibited_by = blocker[0], blocker[1]
                alert.details["suppressed_by"] = blocker[2]
                self._touch(alert)
            return
        if alert.state is AlertState.SUPPRESSED:
            # A gateway held by its store's outage, and the store is up again (a sibling is
            # back): the store is coming back after a power cut, its gateways booting and
            # reconnecting over a spread. It waits as long as the spread on the way down
            # before it pages on its own, so a store's recovery pages nobody.
            recovering = (
                alert.key.kind is Kind.GATEWAY_DOWN
                and alert.blocker is Blocker.INHIBITED
                and alert.inhibited_by is not None
                and alert.inhibited_by.kind is Kind.SITE_DOWN
                and alert.inhibited_by not in self.active
            )
            alert = self._reopen(alert, now)
            if recovering and self.settings.site_spread_s:
                spread = timedelta(seconds=self.settings.site_spread_s)
                alert.details[RECOVERING_UNTIL] = to_db(now + spread)
        if (
            alert.state is AlertState.FIRING
            and COVERED_BY in alert.details
            and not self._still_covered(alert, now)
        ):
            alert = self._reopen(alert, now, why="the page covering it ended")
        if alert.state is AlertState.PENDING:
            wait = timedelta(seconds=self.settings.pending_for(alert.key.kind.value))
            due = alert.pending_since + wait
            if alert.key.kind is Kind.GATEWAY_DOWN:
                due = max(due, self._store_hold_until(alert, now))
                if RECOVERING_UNTIL in alert.details:
                    due = max(due, from_db(str(alert.details[RECOVERING_UNTIL])))
            if now >= due:
                self._fire(alert, now)
        if (
            alert.state is AlertState.FIRING
            and alert.acked_by is None
            and alert.fired_at
            and not alert.snoozed(now)
            and alert.key.kind not in PLANNING_KINDS  # planning work climbs to nobody
        ):
            assert alert.fired_at is not None
            delays = self._escalate_at.get(alert.severity, self._escalate_default)
            # A snooze that has ended: the climb resumes from its level as if the alert had
            # paged when the snooze ended (the next tier after the first delay, not at once).
            since = max(alert.fired_at, alert.snoozed_until or alert.fired_at)
            level = 1 + sum(1 for d in delays if now - since >= d)
            if level > alert.escalation:
                old = alert.escalation
                alert.escalation = level
                self._event(alert, now, "firing", "firing", note=f"escalation {old} -> {level}")

    def _fire(self, alert: Alert, now: datetime) -> None:
        """Pending -> firing. A store whose first gateway already paged for this outage
        fires covered by that page instead of paging again (promotion in place): shown,
        never exported to Prometheus, never escalated; its gateway's page stays the one."""
        child = self._paging_child(alert, now) if alert.key.kind is Kind.SITE_DOWN else None
        if child is None:
            alert.state, alert.fired_at, alert.escalation = AlertState.FIRING, now, 1
            self._event(alert, now, AlertState.PENDING.value, AlertState.FIRING.value)
            return
        alert.state = AlertState.FIRING
        alert.details[COVERED_BY] = child.key.subject_id
        alert.summary += _covered_suffix(child.key.subject_id)  # what the console shows
        self._event(
            alert,
            now,
            AlertState.PENDING.value,
            AlertState.FIRING.value,
            note="not paged again: that page already went out for this store",
        )

    def _paging_child(self, site: Alert, now: datetime) -> Alert | None:
        """The earliest gateway of ``site`` whose page went out for this outage: it fires
        on its own, went down at most ``site_spread_s`` before the store did (a store
        losing power one keepalive at a time) and paged before the store was down. A
        gateway that paged long before is another outage, and so is one that paged before
        the store's outage became a fault (a planned reboot that overran its grace, a
        window that ended: ``pending_since``): then the store pages, as its own news.

        "Before the store was down" is by the wills' times: wills that arrive together
        reach the engine 2 s later (the will hold), one transition after another, so the
        first may fire (its pending counts from its will) just before its siblings are
        applied. Its page raced the store's and lost nothing yet (no scrape in between):
        the store pages, and silences it."""
        spread = timedelta(seconds=self.settings.site_spread_s)
        paged: list[tuple[datetime, str, Alert]] = []
        for gid in self.topology.live_members(site.key.subject_id) if spread else ():
            gw = self.active.get(Key(Kind.GATEWAY_DOWN, SubjectType.GATEWAY, gid))
            if (
                gw is not None
                and _pages_itself(gw, now)
                and gw.fired_at is not None
                and gw.started_at >= site.pending_since - spread
                and gw.fired_at <= site.pending_since
            ):
                paged.append((gw.fired_at, gid, gw))
        return min(paged, key=lambda p: p[:2])[2] if paged else None

    def _still_covered(self, site: Alert, now: datetime) -> bool:
        """The gateway page that covers ``site`` still pages (it may have been silenced by
        a window, a suspension or flapping while the store stays down)."""
        gid = str(site.details.get(COVERED_BY, ""))
        gw = self.active.get(Key(Kind.GATEWAY_DOWN, SubjectType.GATEWAY, gid))
        return gw is not None and _pages_itself(gw, now)

    def _blocker(self, alert: Alert, now: datetime) -> tuple[Blocker, Key | None, str] | None:
        key, place = alert.key, alert.place
        for parent in _parent_keys(key, place):
            above = self.active.get(parent)
            # A store down only because a router is rebooting on plan is no outage of its
            # own: it must not silence the real outage behind it.
            if above is None or above.blocker is Blocker.PLANNED:
                continue
            # Silencing a paged child sends its receivers a "suppressed" (the end of that
            # page) and the child pages again as new when the parent clears: only worth it
            # when the parent's page takes over, never for a blip that pages nobody.
            if alert.state is AlertState.FIRING and not self._paged(above):
                continue
            return Blocker.INHIBITED, parent, f"{parent.kind.value} {parent.subject_id}"
        ids = {key.subject_id, place.gateway_id} - {""}
        if key.subject_type is not SubjectType.SITE and ids & self.topology.decommissioned:
            return Blocker.DECOMMISSIONED, None, "decommissioned"
        if self._suspended(key, place):
            return Blocker.SUSPENDED, None, "suspended"
        if _planned(alert, now):
            return Blocker.PLANNED, None, f"planned: {alert.details.get('reason', '')}"
        if key.kind is Kind.SITE_DOWN and (why := self._site_planned(key.subject_id, now)):
            return Blocker.PLANNED, None, why
        window = self.calendar.covering(key.subject_type, key.subject_id, place)
        if window is not None:
            return Blocker.MAINTENANCE, None, f"window {window.id} {window.reason}".strip()
        if key.kind in DOWN_KINDS:
            flap = Key(Kind.FLAPPING, key.subject_type, key.subject_id)
            if flap in self.active:
                return Blocker.FLAPPING, flap, "flapping"
        return None

    def _paged(self, alert: Alert) -> bool:
        """The outage behind ``alert`` pages now: it fires, or it is inhibited by a parent
        whose outage pages (a store's page covers the gateways it inhibits and, through
        them, their terminals). Parents are evaluated first, so this is this sweep's view."""
        while alert.state is AlertState.SUPPRESSED and alert.blocker is Blocker.INHIBITED:
            parent = self.active.get(alert.inhibited_by) if alert.inhibited_by else None
            if parent is None:
                return False
            alert = parent
        return alert.state is AlertState.FIRING and COVERED_BY not in alert.details

    def _store_hold_until(self, alert: Alert, now: datetime) -> datetime:
        """A gateway that went down shortly after a sibling of its store may be the store
        losing power one keepalive at a time: it waits until ``site_spread_s`` after the
        first such sibling went down, so that the store pages once, as a site."""
        spread = timedelta(seconds=self.settings.site_spread_s)
        site = alert.place.site_id
        first: datetime | None = None
        for gid in self.topology.live_members(site) if site and spread else ():
            other = self.active.get(Key(Kind.GATEWAY_DOWN, SubjectType.GATEWAY, gid))
            if other is None or other is alert or _planned(other, now):
                continue
            if alert.started_at - spread < other.started_at <= alert.started_at:
                first = other.started_at if first is None else min(first, other.started_at)
        return alert.started_at if first is None else first + spread

    def _site_planned(self, site_id: str, now: datetime) -> str | None:
        """The store went down only because a gateway of it is down for a planned reason
        still within its grace (the upgrade reboot of a store's only router, or of the last
        router up while the other's outage is already paged on its own): planned, not a new
        outage. Once a grace runs out, the store pages."""
        reasons = set()
        for gid in self.topology.live_members(site_id):
            gw = self.active.get(Key(Kind.GATEWAY_DOWN, SubjectType.GATEWAY, gid))
            if gw is None:
                return None
            if _planned(gw, now):
                reasons.add(str(gw.details.get("reason") or "planned"))
            elif gw.fired_at is None:
                return None  # an outage not paged yet: the store pages for it
        return f"planned: {', '.join(sorted(reasons))}" if reasons else None

    # ------------------------------------------------------------------ transitions
    def _suppress(
        self, alert: Alert, now: datetime, blocker: Blocker, by: Key | None, why: str
    ) -> None:
        old = alert.state
        alert.state, alert.blocker = AlertState.SUPPRESSED, blocker
        alert.inhibited_by = by if blocker is Blocker.INHIBITED else None
        alert.details["suppressed_by"] = why
        self._event(alert, now, old.value, alert.state.value, note=f"{blocker.value}: {why}")

    def _reopen(self, old: Alert, now: datetime, why: str = "") -> Alert:
        """The blocker (or the page covering it) went away and the condition holds:
        continue as a new alert."""
        new = Alert(
            key=old.key,
            state=AlertState.PENDING,
            severity=old.severity,
            started_at=old.started_at,
            pending_since=now,
            place=old.place,
            summary=old.summary.removesuffix(_covered_suffix(old.details.get(COVERED_BY))),
            details={
                k: v for k, v in old.details.items() if k not in ("suppressed_by", COVERED_BY)
            },
        )
        over = why or f"{old.blocker.value if old.blocker else 'blocker'} over"
        self._resolve(old, now, f"{over}; condition continues as a new alert")
        self.active[old.key] = new
        self._event(new, now, "none", AlertState.PENDING.value, note="continues after suppression")
        return new

    def _resolve(self, alert: Alert, now: datetime, note: str) -> None:
        old = alert.state
        alert.state, alert.resolved_at = AlertState.RESOLVED, now
        alert.inhibited_by = None
        # Only an alert that was firing produces a visible "resolved"; the others close
        # silently (their note says so) because nobody was ever paged for them.
        loud = old is AlertState.FIRING and alert.fired_at is not None
        self._event(
            alert, now, old.value, AlertState.RESOLVED.value, note if loud else f"silent: {note}"
        )

    def _event(self, alert: Alert, at: datetime, frm: str, to: str, note: str = "") -> None:
        if COVERED_BY in alert.details and AlertState.FIRING.value in (frm, to):
            # Marks what is no page (nor the end of one) for whoever reads the history as
            # pages (the webhook notifier): this alert's page is its gateway's.
            note = f"{COVERED_NOTE} gateway_down {alert.details[COVERED_BY]}: {note}"
        self._out.events.append(AlertEvent(alert, at, frm, to, note))
        self._touch(alert)

    def _touch(self, alert: Alert) -> None:
        if id(alert) not in self._dirty_ids:
            self._dirty_ids.add(id(alert))
            self._out.alerts.append(alert)

    # ------------------------------------------------------------------ output
    @property
    def changed(self) -> bool:
        """Something happened since the last drain (an evaluation may follow from it)."""
        return bool(self._out)

    def drain(self) -> Outbox:
        out, self._out, self._dirty_ids = self._out, Outbox(), set()
        return out

    def firing(self) -> list[Alert]:
        """What pages now: firing, not inhibited, not covered by a gateway's page (the
        Prometheus view)."""
        return [
            a
            for a in self.active.values()
            if a.state is AlertState.FIRING and a.inhibited_by is None and a.fired_at is not None
        ]


def _covered_suffix(gateway_id: object) -> str:
    return f"; paged as gateway_down {gateway_id}" if gateway_id else ""


def _pages_itself(alert: Alert, now: datetime) -> bool:
    """Its own page is out and still open (not silenced, not covered, not planned)."""
    return (
        alert.state is AlertState.FIRING
        and alert.inhibited_by is None
        and alert.fired_at is not None
        and not _planned(alert, now)
    )


def _planned(alert: Alert, now: datetime) -> bool:
    until = alert.details.get("planned_until")
    return bool(until) and (until == "forever" or now < from_db(str(until)))


def _parent_keys(key: Key, place: Place) -> tuple[Key, ...]:
    if key.subject_type is SubjectType.TERMINAL and place.gateway_id:
        # A flapping gateway drags its terminals up and down with it: one flapping page
        # for the gateway, not one per terminal each time the gateway is briefly up.
        return (
            Key(Kind.GATEWAY_DOWN, SubjectType.GATEWAY, place.gateway_id),
            Key(Kind.FLAPPING, SubjectType.GATEWAY, place.gateway_id),
        )
    if key.subject_type is SubjectType.GATEWAY and place.site_id:
        return (Key(Kind.SITE_DOWN, SubjectType.SITE, place.site_id),)
    return ()
