"""Alert value types (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from collector.model import SubjectType


class AlertState(StrEnum):
    PENDING = "pending"  # condition true, waiting out its pending_for
    FIRING = "firing"  # paged (visible to Prometheus unless inhibited)
    SUPPRESSED = (
        "suppressed"  # condition true but must not page (parent, window, suspension, flapping)
    )
    RESOLVED = "resolved"


class Kind(StrEnum):
    SITE_DOWN = "site_down"
    GATEWAY_DOWN = "gateway_down"
    TERMINAL_DOWN = "terminal_down"
    FLAPPING = "flapping"
    NETWORK_DEGRADED = "network_degraded"
    # Names are the ``alertname`` label of posfleet_alert_firing that the Prometheus rules
    # (deploy/prometheus/rules) match on: keep them in step.
    FIRMWARE_NONCOMPLIANT = "firmware_non_compliant"
    HARDWARE_FAULT = "hardware_fault"  # printer, battery, temperature, storage: one per subject
    CLOCK_SKEW = "clock_skew"
    MAINTENANCE_OVERDUE = "maintenance_overdue"
    # Online, yet no transaction for longer than its own hour-of-week baseline allows
    # (collector.alerts.silence): the payment app is stuck or the terminal is unusable.
    TERMINAL_SILENT = "terminal_silent"
    # A store's sales failing (issuer/network declines, time-outs, reversals) well above its
    # own share for this hour of the week (collector.alerts.spikes); subject: the site.
    TXN_FAILURE_SPIKE = "txn_failure_spike"


# A site_down that fires while the page of one of its gateways already went out for the
# same outage is "covered" by that page (promotion in place): ``details[COVERED_BY]`` names
# the gateway, ``fired_at`` stays unset (it never paged), Prometheus never sees it, and its
# lifecycle events' notes start with COVERED_NOTE so history readers do not count a page.
COVERED_BY = "covered_by"
# A gateway still down when its store came back: paged no sooner than this (a stored time),
# so that a store whose gateways reconnect over a spread after a power cut pages nobody.
RECOVERING_UNTIL = "recovering_until"
COVERED_NOTE = "covered by"

DOWN_KINDS = frozenset({Kind.SITE_DOWN, Kind.GATEWAY_DOWN, Kind.TERMINAL_DOWN})

# Planning work, not outages: shown apart from them (the console's "Maintenance due"), routed
# to the NOC's planning queue, and never escalated, since an escalation pages supervisors
# (issue #15: 200 overdue terminals must not become 200 pages).
PLANNING_KINDS = frozenset({Kind.MAINTENANCE_OVERDUE})

DOWN_KIND_FOR = {
    SubjectType.SITE: Kind.SITE_DOWN,
    SubjectType.GATEWAY: Kind.GATEWAY_DOWN,
    SubjectType.TERMINAL: Kind.TERMINAL_DOWN,
}


class Blocker(StrEnum):
    """Why a true condition does not page (stored in ``details.suppressed_by``)."""

    INHIBITED = "inhibited"  # its parent (site / gateway) is down
    SUSPENDED = "suspended"
    MAINTENANCE = "maintenance"
    FLAPPING = "flapping"
    DECOMMISSIONED = "decommissioned"
    PLANNED = "planned"  # graceful offline with a planned reason, within its grace


@dataclass(frozen=True, slots=True)
class Key:
    """Stable identity of an alert: one active row per key."""

    kind: Kind
    subject_type: SubjectType
    subject_id: str


@dataclass(frozen=True, slots=True)
class Place:
    """Where a subject sits in the topology (labels and scope matching)."""

    region_id: str = ""
    site_id: str = ""
    gateway_id: str = ""
    terminal_id: str = ""
    model: str = ""


@dataclass(slots=True, eq=False)  # identity matters: two rows of one key are two alerts
class Alert:
    key: Key
    state: AlertState
    severity: str
    started_at: datetime  # when the condition began
    pending_since: datetime  # when the pending_for clock (re)started
    place: Place = field(default_factory=Place)
    summary: str = ""
    id: int | None = None  # assigned by the store on first write
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    acked_by: str | None = None  # written by operators (dashboard), only read here
    acked_at: datetime | None = None
    escalation: int = 0
    inhibited_by: Key | None = None  # parent alert while inhibited
    blocker: Blocker | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # An operator's snooze (dashboard), only read here: no escalation before this time; once
    # it has passed, the climb resumes as if the alert had paged at that time.
    snoozed_until: datetime | None = None

    def snoozed(self, now: datetime) -> bool:
        return self.snoozed_until is not None and now < self.snoozed_until


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One lifecycle transition: becomes an ``alert_events`` row."""

    alert: Alert
    at: datetime
    from_state: str
    to_state: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class IncidentClass:
    """Re-class the open incident of a subject (planned / administrative)."""

    subject_type: SubjectType
    subject_id: str
    cls: str
    reason: str


@dataclass(frozen=True, slots=True)
class SiteChange:
    """A derived site liveness change: a ``state_changes`` row and a site incident."""

    site_id: str
    down: bool
    at: datetime
    place: Place
    cls: str = "fault"  # planned when the site was inside a maintenance window
