"""A terminal's sales as its agent reports them: one 20-minute transaction window."""

from __future__ import annotations

from datetime import datetime, timedelta

from telemetry.models import Outcomes, Transactions


def sales_window(gw: str, terminal: str, now: datetime, approved: int) -> Transactions:
    """``approved`` sales of 1.00 CNY each on ``terminal``, over the 20 minutes up to ``now``."""
    return Transactions(
        gw=gw,
        terminal=terminal,
        ts=now,
        since=now - timedelta(minutes=20),
        until=now,
        outcomes=Outcomes(approved=approved),
        approved_amount=100 * approved,
        currency="CNY",
    )
