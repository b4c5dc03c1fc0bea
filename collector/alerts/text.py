"""Alert wording: severities and summaries that say what, where and since when."""

from __future__ import annotations

from datetime import datetime

from collector.alerts.model import Kind, Place
from collector.model import SubjectType

SEVERITY: dict[Kind, str] = {
    Kind.SITE_DOWN: "critical",
    Kind.GATEWAY_DOWN: "critical",
    Kind.TERMINAL_DOWN: "warning",
    Kind.FLAPPING: "warning",
    Kind.NETWORK_DEGRADED: "warning",
    Kind.FIRMWARE_NONCOMPLIANT: "info",
    Kind.HARDWARE_FAULT: "warning",
    Kind.CLOCK_SKEW: "warning",
    Kind.MAINTENANCE_OVERDUE: "info",
    Kind.TERMINAL_SILENT: "warning",  # a fault: routed like terminal_down
    Kind.TXN_FAILURE_SPIKE: "warning",
}


def fmt(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%SZ")


def where(place: Place) -> str:
    parts = [f"site {place.site_id}" if place.site_id else "", place.region_id]
    text = ", ".join(p for p in parts if p)
    return f" ({text})" if text else ""


def down_summary(st: SubjectType, sid: str, place: Place, at: datetime, how: str) -> str:
    if st is SubjectType.TERMINAL:
        return (
            f"Terminal {sid} behind gateway {place.gateway_id}{where(place)} "
            f"down since {fmt(at)} ({how})"
        )
    return f"Gateway {sid}{where(place)} down since {fmt(at)} ({how})"
