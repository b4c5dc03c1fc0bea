"""Reads whose days are the viewer's days (the configured zone), not UTC's.

SQL groups by the hour (``substr(at, 1, 13)`` of the store's ISO UTC text, portable to
PostgreSQL); the hours are then put on the viewer's calendar here. At most 720 hours x 2
subject types leave the store, whatever the fleet size. A zone whose offset is not whole
hours (Asia/Kolkata, +05:30) is grouped by the minute instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from collector.store.db import Connection
from collector.store.times import from_db, to_db
from dashboard import timefmt
from dashboard.queries import frame


def _whole_hours(tz: str, now: datetime, days: int) -> bool:
    zone = timefmt.zone(tz)
    for at in (now, now - timedelta(days=days)):
        off = at.astimezone(zone).utcoffset() or timedelta(0)
        if off.total_seconds() % 3600:
            return False
    return True


def outage_days(conn: Connection, now: datetime, tz: str, days: int = 30) -> pd.DataFrame:
    """New outages (state changes to down) per day on zone ``tz``'s calendar, gateways and
    terminals: columns day (``YYYY-MM-DD``, local), subject_type, outages."""
    width = 13 if _whole_hours(tz, now, days) else 16
    hours = frame(
        conn,
        f"SELECT substr(at, 1, {width}) AS bucket, subject_type, COUNT(*) AS outages "
        "FROM state_changes WHERE at >= ? AND to_status = 'down' GROUP BY 1, 2",
        (to_db(now - timedelta(days=days)),),
    )
    columns = ["day", "subject_type", "outages"]
    if len(hours) == 0:
        return pd.DataFrame(columns=columns)
    pad = ":00:00+00:00" if width == 13 else ":00+00:00"
    zone = timefmt.zone(tz)
    hours["day"] = [from_db(b + pad).astimezone(zone).strftime("%Y-%m-%d") for b in hours["bucket"]]
    out = hours.groupby(["day", "subject_type"], as_index=False)["outages"].sum()
    return out.sort_values(["day", "subject_type"]).reset_index(drop=True)[columns]
