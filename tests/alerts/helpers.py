"""Builders for pure alert-engine tests (fake time, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collector.alerts.config import AlertSettings
from collector.alerts.engine import AlertEngine
from collector.alerts.model import COVERED_NOTE, Alert, AlertState, Key, Kind
from collector.alerts.rules import Verdict
from collector.model import DetectedBy, Liveness, SubjectType, Transition

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def settings(**overrides: object) -> AlertSettings:
    base: dict[str, object] = {
        "pending_gateway_down_s": 60,
        "pending_terminal_down_s": 90,
        "pending_site_down_s": 30,
        "escalation_after_s": [900, 1800],
        "flap_changes": 5,
        "flap_window_s": 600,
        "flap_quiet_s": 900,
    }
    base.update(overrides)
    return AlertSettings.model_validate(base)


class Sim:
    """An engine plus a fake clock; every step evaluates once, like the listener does."""

    def __init__(self, engine: AlertEngine, start: datetime = T0) -> None:
        self.engine = engine
        self.now = start
        self.events: list[tuple[str, str, str, str, str]] = []  # kind, subject, from, to, note
        # The same events by alert row (the engine's Alert object, kept alive here so its
        # identity is never reused): what "per row" promises are checked against.
        self.row_events: list[tuple[Alert, str, str]] = []  # row, from, to
        self.incident_classes: list[tuple[str, str]] = []  # subject, class
        self.site_changes: list[tuple[str, bool, str]] = []  # site, down, incident class

    def advance(self, seconds: float, step: float = 1.0) -> None:
        end = self.now + timedelta(seconds=seconds)
        while self.now < end:
            self.now = min(end, self.now + timedelta(seconds=step))
            self.tick()

    def tick(self) -> None:
        self.engine.evaluate(self.now)
        self._collect()

    def _collect(self) -> None:
        out = self.engine.drain()
        self.incident_classes += [(c.subject_id, c.cls) for c in out.incident_classes]
        self.site_changes += [(c.site_id, c.down, c.cls) for c in out.site_changes]
        for e in out.events:
            key = e.alert.key
            self.events.append((key.kind.value, key.subject_id, e.from_state, e.to_state, e.note))
            self.row_events.append((e.alert, e.from_state, e.to_state))

    def gw(self, gateway_id: str, to: Liveness, by: DetectedBy = DetectedBy.WILL) -> None:
        frm = self.engine.topology.status.get(gateway_id, Liveness.ONLINE)
        self.transition(Transition(SubjectType.GATEWAY, gateway_id, frm, to, self.now, by))

    def term(self, terminal_id: str, gateway_id: str, frm: Liveness, to: Liveness) -> None:
        t = Transition(
            SubjectType.TERMINAL,
            terminal_id,
            frm,
            to,
            self.now,
            DetectedBy.DEADLINE,
            gateway_id=gateway_id,
        )
        self.transition(t)

    def fault(self, subject_type: SubjectType, subject_id: str, active: bool = True) -> None:
        """A telemetry verdict (say a printer out of paper) raised or cleared now."""
        key = Key(Kind.HARDWARE_FAULT, subject_type, subject_id)
        place = self.engine.topology.place(subject_type, subject_id)
        summary = f"{subject_type.value} {subject_id}: printer paper_out"
        self.engine.apply_verdicts([Verdict(key, active, place, summary)], self.now)
        self.tick()

    def transition(self, t: Transition) -> None:
        self.engine.apply_transition(t)
        self.tick()

    def pages(self, kind: str | None = None) -> list[tuple[str, str]]:
        """(kind, subject) of every pending -> firing event so far that paged (a site_down
        covered by its gateway's page fires without paging)."""
        return [
            (k, s)
            for k, s, _f, to, n in self.events
            if to == "firing"
            and _f == "pending"
            and not n.startswith(COVERED_NOTE)
            and (kind is None or k == kind)
        ]

    def loud_resolves(self) -> list[tuple[str, str]]:
        return [
            (k, s)
            for k, s, f, to, n in self.events
            if f == "firing" and to == "resolved" and not n.startswith(COVERED_NOTE)
        ]

    def state(self, kind: Kind, subject_id: str) -> AlertState | None:
        for key, alert in self.engine.active.items():
            if key.kind is kind and key.subject_id == subject_id:
                return alert.state
        return None


def site_engine(
    sites: dict[str, list[str]], terminals: dict[str, list[str]] | None = None, **cfg: object
) -> AlertEngine:
    engine = AlertEngine(settings(**cfg))
    for site, gws in sites.items():
        for gw in gws:
            engine.topology.set_gateway(
                gw, site_id=site, region_id="north", model="R1", status=Liveness.ONLINE
            )
    for gw, tids in (terminals or {}).items():
        for tid in tids:
            engine.topology.set_terminal(tid, gateway_id=gw, model="P400")
    engine.load([])
    return engine
