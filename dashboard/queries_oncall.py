"""Reads for the On-call page: who is on call now, the next handovers, the schedules.

Who is on call is decided by ``collector.oncall`` (the same function the relay pages with);
these functions only shape its answers into frames, with times in each region's zone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast
from zoneinfo import ZoneInfo

import pandas as pd

from collector.actions import load_oncall
from collector.oncall import DEFAULT_TZ, Rotation, next_handovers, on_call, tiers
from collector.store.db import Connection

if TYPE_CHECKING:
    import sqlite3  # the collector's readers are typed sqlite3 until its port (issue #14)


def _zone(rotations: list[Rotation], region: str) -> str:
    return next((r.tz for r in rotations if r.region_id == region), DEFAULT_TZ)


def _local(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def regions(conn: Connection) -> list[str]:
    return [str(r) for (r,) in conn.execute("SELECT region_id FROM regions ORDER BY region_id")]


def oncall_now(conn: Connection, now: datetime) -> pd.DataFrame:
    """One row per region and tier that has a rotation or an override."""
    rotations, overrides = load_oncall(cast("sqlite3.Connection", conn), now)
    rows = []
    for region in sorted({r.region_id for r in rotations} | {o.region_id for o in overrides}):
        tz = _zone(rotations, region)
        for tier in tiers(rotations, overrides, region):
            p = on_call(rotations, overrides, region, tier, now)
            covering = [
                o
                for o in overrides
                if o.region_id == region and o.tier == tier and o.starts_at <= now < o.ends_at
            ]
            rows.append(
                {
                    "region": region,
                    "tier": tier,
                    "on_call": p.name if p else "(nobody)",
                    "phone": p.phone if p else "",
                    "chat_id": p.im_id if p else "",
                    "source": "override" if covering else ("rotation" if p else ""),
                    "local_time": _local(now, tz),
                    "tz": tz,
                }
            )
    return pd.DataFrame(
        rows,
        columns=["region", "tier", "on_call", "phone", "chat_id", "source", "local_time", "tz"],
    )


def handovers(conn: Connection, now: datetime, days: int = 14) -> pd.DataFrame:
    rotations, overrides = load_oncall(cast("sqlite3.Connection", conn), now)
    rows = [
        {
            "at_local": _local(h.at, _zone(rotations, h.region_id)),
            "tz": _zone(rotations, h.region_id),
            "region": h.region_id,
            "tier": h.tier,
            "to": h.person.name,
        }
        for h in next_handovers(rotations, overrides, now, now + timedelta(days=days))
    ]
    return pd.DataFrame(rows, columns=["at_local", "tz", "region", "tier", "to"])


def schedule(conn: Connection, now: datetime) -> pd.DataFrame:
    """Every rotation (members in order) and every override not yet ended: the CSV export."""
    rotations, overrides = load_oncall(cast("sqlite3.Connection", conn), now)
    rows = []
    for r in rotations:
        for i, p in enumerate(r.members):
            rows.append(
                {
                    "kind": "rotation",
                    "region": r.region_id,
                    "tier": r.tier,
                    "order": i + 1,
                    "name": p.name,
                    "phone": p.phone,
                    "chat_id": p.im_id,
                    "starts": r.start_local.strftime("%Y-%m-%d %H:%M"),
                    "ends": "",
                    "shift_h": r.shift.total_seconds() / 3600,
                    "tz": r.tz,
                    "override_id": None,
                }
            )
    for o in overrides:
        tz = _zone(rotations, o.region_id)
        rows.append(
            {
                "kind": "override",
                "region": o.region_id,
                "tier": o.tier,
                "order": None,
                "name": o.person.name,
                "phone": o.person.phone,
                "chat_id": o.person.im_id,
                "starts": _local(o.starts_at, tz),
                "ends": _local(o.ends_at, tz),
                "shift_h": None,
                "tz": tz,
                "override_id": o.id,
            }
        )
    cols = [
        "kind", "region", "tier", "order", "name", "phone", "chat_id", "starts", "ends",
        "shift_h", "tz", "override_id",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def rotation_of(conn: Connection, region: str, tier: int) -> Rotation | None:
    rotations, _ = load_oncall(cast("sqlite3.Connection", conn))
    return next((r for r in rotations if r.region_id == region and r.tier == tier), None)
