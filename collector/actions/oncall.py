"""On-call schedules: set a region's rotation for a tier, add and remove overrides.

Read side (``load_oncall``) turns the rows into ``collector.oncall`` values for the console
and posfleet-notify; who is on call is decided there, purely.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector.actions.base import Actor, InvalidAction, NotFound, Role, _audit, _require
from collector.oncall import DEFAULT_TZ, MIN_SHIFT, Override, Person, Rotation
from collector.store import db
from collector.store.times import from_db, to_db

MAX_TIER = 9
MAX_MEMBERS = 100
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
# Phone numbers and chat ids end up in robot JSON and SMS provider URLs: keep them plain.
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")
_IM_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def _person(p: Person, where: str) -> Person:
    name = " ".join(p.name.split())
    if not name:
        raise InvalidAction(f"{where}: a name is required")
    if len(name) > 80:
        raise InvalidAction(f"{where}: name longer than 80 characters")
    phone = p.phone.strip()
    if phone and not _PHONE.match(phone):
        raise InvalidAction(f"{where}: phone {phone!r} is not a phone number (digits, +, -)")
    im_id = p.im_id.strip()
    if im_id and not _IM_ID.match(im_id):
        raise InvalidAction(f"{where}: chat id {im_id!r} may use letters, digits and _.@- only")
    return Person(name, phone.replace(" ", "").replace("-", ""), im_id)


def _check_region(conn: db.Connection, region_id: str) -> None:
    if conn.execute("SELECT 1 FROM regions WHERE region_id = ?", (region_id,)).fetchone() is None:
        raise NotFound(f"region {region_id!r} is not in the inventory; import it first")


def _check_tier(tier: int) -> None:
    if not 1 <= tier <= MAX_TIER:
        raise InvalidAction(f"tier {tier} out of range: use 1 (technician) to {MAX_TIER}")


def set_rotation(
    conn: db.Connection,
    actor: Actor,
    *,
    region_id: str,
    tier: int,
    members: Sequence[Person],
    start_local: datetime,
    shift: timedelta,
    tz: str = DEFAULT_TZ,
    now: datetime,
) -> Rotation:
    """Create or replace the rotation of ``region_id`` at ``tier``."""
    _require(actor, Role.OPERATOR, "edit on-call rotations")
    _check_tier(tier)
    if start_local.tzinfo is not None:
        raise InvalidAction("the rotation start is a local wall-clock time (no zone)")
    if shift < MIN_SHIFT:
        raise InvalidAction(f"a shift must last at least {MIN_SHIFT} (got {shift})")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidAction(f"unknown time zone {tz!r}; use e.g. {DEFAULT_TZ}") from None
    if not members:
        raise InvalidAction("a rotation needs at least one person")
    if len(members) > MAX_MEMBERS:
        raise InvalidAction(f"more than {MAX_MEMBERS} people in one rotation")
    people = tuple(_person(p, f"person {i + 1}") for i, p in enumerate(members))
    start = start_local.replace(second=0, microsecond=0)
    rotation = Rotation(region_id, tier, people, start, shift, tz)
    with conn:
        _check_region(conn, region_id)
        before = conn.execute(
            "SELECT members, start_local, shift_s, tz FROM oncall_rotations "
            "WHERE region_id = ? AND tier = ?",
            (region_id, tier),
        ).fetchone()
        conn.execute(
            "INSERT INTO oncall_rotations (region_id, tier, tz, start_local, shift_s, members, "
            "updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (region_id, tier) DO UPDATE SET tz = excluded.tz, "
            "start_local = excluded.start_local, shift_s = excluded.shift_s, "
            "members = excluded.members, updated_by = excluded.updated_by, "
            "updated_at = excluded.updated_at",
            (
                region_id,
                tier,
                tz,
                start.strftime(LOCAL_FORMAT),
                int(shift.total_seconds()),
                _members_json(people),
                actor.name,
                to_db(now),
            ),
        )
        _audit(
            conn,
            actor,
            "oncall.rotation",
            f"oncall:{region_id}/{tier}",
            now,
            {
                "members": [p.name for p in people],
                "start_local": start.strftime(LOCAL_FORMAT),
                "shift_s": int(shift.total_seconds()),
                "tz": tz,
                "replaced": bool(before),
            },
        )
    return rotation


def add_override(
    conn: db.Connection,
    actor: Actor,
    *,
    region_id: str,
    tier: int,
    person: Person,
    starts_at: datetime,
    ends_at: datetime,
    note: str = "",
    now: datetime,
) -> int:
    """``person`` covers ``tier`` of ``region_id`` from ``starts_at`` to ``ends_at``."""
    _require(actor, Role.OPERATOR, "add on-call overrides")
    _check_tier(tier)
    p = _person(person, "override")
    if ends_at <= starts_at:
        raise InvalidAction(
            f"override ends ({to_db(ends_at)}) before it starts ({to_db(starts_at)})"
        )
    if ends_at <= now:
        raise InvalidAction(f"override ends ({to_db(ends_at)}) in the past")
    with conn:
        _check_region(conn, region_id)
        cur = conn.execute(
            "INSERT INTO oncall_overrides (region_id, tier, name, phone, im_id, starts_at, "
            "ends_at, note, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "RETURNING id",
            (
                region_id,
                tier,
                p.name,
                p.phone,
                p.im_id,
                to_db(starts_at),
                to_db(ends_at),
                note.strip()[:200],
                actor.name,
                to_db(now),
            ),
        )
        oid = int(cur.fetchone()[0])
        _audit(
            conn,
            actor,
            "oncall.override",
            f"oncall:{region_id}/{tier}",
            now,
            {
                "id": oid,
                "name": p.name,
                "starts_at": to_db(starts_at),
                "ends_at": to_db(ends_at),
                "note": note.strip()[:200],
            },
        )
    return oid


def remove_override(conn: db.Connection, actor: Actor, override_id: int, now: datetime) -> None:
    _require(actor, Role.OPERATOR, "remove on-call overrides")
    with conn:
        row = conn.execute(
            "SELECT region_id, tier, name FROM oncall_overrides WHERE id = ?", (override_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"override {override_id} does not exist")
        conn.execute("DELETE FROM oncall_overrides WHERE id = ?", (override_id,))
        _audit(
            conn,
            actor,
            "oncall.override_removed",
            f"oncall:{row[0]}/{row[1]}",
            now,
            {"id": override_id, "name": row[2]},
        )


def _members_json(people: Sequence[Person]) -> str:
    return json.dumps(
        [{"name": p.name, "phone": p.phone, "im_id": p.im_id} for p in people], ensure_ascii=False
    )


def load_oncall(
    conn: db.Connection, now: datetime | None = None
) -> tuple[list[Rotation], list[Override]]:
    """Every rotation, and the overrides that have not ended by ``now`` (all when None)."""
    rotations: list[Rotation] = []
    for region, tier, tz, start, shift_s, members in conn.execute(
        "SELECT region_id, tier, tz, start_local, shift_s, members FROM oncall_rotations "
        "ORDER BY region_id, tier"
    ):
        people = tuple(
            Person(str(m.get("name", "")), str(m.get("phone", "")), str(m.get("im_id", "")))
            for m in json.loads(members)
            if isinstance(m, dict)
        )
        rotations.append(
            Rotation(
                str(region),
                int(tier),
                people,
                # A wall-clock time in the rotation's zone, not a stored instant: naive on purpose.
                datetime.strptime(start, LOCAL_FORMAT),  # noqa: DTZ007
                timedelta(seconds=max(int(shift_s), int(MIN_SHIFT.total_seconds()))),
                str(tz),
            )
        )
    sql = "SELECT id, region_id, tier, name, phone, im_id, starts_at, ends_at FROM oncall_overrides"
    args: tuple[str, ...] = ()
    if now is not None:
        sql += " WHERE ends_at > ?"
        args = (to_db(now),)
    overrides = [
        Override(str(r), int(t), Person(n, ph, im), from_db(s), from_db(e), int(i))
        for i, r, t, n, ph, im, s, e in conn.execute(sql + " ORDER BY starts_at, id", args)
    ]
    return rotations, overrides
