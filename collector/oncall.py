"""Who is on call: rotations per region and tier, overrides, evaluated in local time.

Pure: the store's rows come in as values (``Rotation``, ``Override``) and ``now`` is a
parameter. A rotation hands over at local wall-clock times: a weekly rotation that starts
Monday 09:00 hands over every Monday at 09:00 in the region's zone, across daylight-saving
changes (so a shift in a DST week is an hour longer or shorter in real time). A handover
whose local time does not exist (the spring-forward gap) is read with the offset before the
gap, as clocks that were not yet moved would show it (02:30 becomes 03:30); one that exists
twice (fall back) happens at its first occurrence.

Tiers: 1 is the technician, 2 the supervisor, 3 the manager...; a page's escalation level
names its tier, capped at the highest tier the region has (``tier_for``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Shanghai"
MIN_SHIFT = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    phone: str = ""  # mobile: SMS, and DingTalk's @-mention by mobile
    im_id: str = ""  # chat user id for @-mentions (WeCom userid, Feishu open_id, DingTalk userId)


@dataclass(frozen=True, slots=True)
class Rotation:
    region_id: str
    tier: int
    members: tuple[Person, ...]
    start_local: datetime  # naive: wall-clock time of the first handover in ``tz``
    shift: timedelta
    tz: str = DEFAULT_TZ


@dataclass(frozen=True, slots=True)
class Override:
    region_id: str
    tier: int
    person: Person
    starts_at: datetime  # aware
    ends_at: datetime  # aware, exclusive
    id: int = 0


@dataclass(frozen=True, slots=True)
class Handover:
    at: datetime  # aware UTC
    region_id: str
    tier: int
    person: Person


def local_to_utc(naive: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time in ``tz`` as aware UTC; a time in the spring-forward gap is read
    with the offset before the gap (fold=0), i.e. as the equivalent time after the jump."""
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _boundary(r: Rotation, tz: ZoneInfo, k: int) -> datetime:
    return local_to_utc(r.start_local + k * r.shift, tz)


def shift_index(r: Rotation, now: datetime) -> int | None:
    """The index of the shift running at ``now`` (0 = the first), None before the start."""
    if r.shift < MIN_SHIFT:
        raise ValueError(f"shift {r.shift} is shorter than {MIN_SHIFT}")
    tz = ZoneInfo(r.tz)
    if now < _boundary(r, tz, 0):
        return None
    local_now = now.astimezone(tz).replace(tzinfo=None)
    k = max(int((local_now - r.start_local) // r.shift), 0)
    # The guess from wall-clock arithmetic can be one off around a DST change: walk to the
    # shift whose [start, next start) holds now. Boundaries never go backwards for shifts of
    # at least an hour (MIN_SHIFT), so this ends.
    while k > 0 and _boundary(r, tz, k) > now:
        k -= 1
    while _boundary(r, tz, k + 1) <= now:
        k += 1
    return k


def on_rotation(r: Rotation, now: datetime) -> Person | None:
    if not r.members:
        return None
    k = shift_index(r, now)
    return None if k is None else r.members[k % len(r.members)]


def _override(
    overrides: Iterable[Override], region_id: str, tier: int, now: datetime
) -> Override | None:
    # The newest override wins when two overlap: it is the later decision.
    best: Override | None = None
    for o in overrides:
        covers = o.region_id == region_id and o.tier == tier and o.starts_at <= now < o.ends_at
        if covers and (best is None or o.id > best.id):
            best = o
    return best


def on_call(
    schedules: Iterable[Rotation],
    overrides: Iterable[Override],
    region_id: str,
    tier: int,
    now: datetime,
) -> Person | None:
    """The person on call for ``region_id`` at ``tier`` at ``now``: an override covering now
    wins over the rotation; None when nobody is (no rotation, before its start, no members)."""
    o = _override(overrides, region_id, tier, now)
    if o is not None:
        return o.person
    for r in schedules:
        if r.region_id == region_id and r.tier == tier:
            return on_rotation(r, now)
    return None


def tiers(
    schedules: Iterable[Rotation], overrides: Iterable[Override], region_id: str
) -> list[int]:
    return sorted(
        {r.tier for r in schedules if r.region_id == region_id}
        | {o.tier for o in overrides if o.region_id == region_id}
    )


def tier_for(
    schedules: Sequence[Rotation], overrides: Sequence[Override], region_id: str, level: int
) -> int | None:
    """The tier paged at escalation ``level``: the level itself, capped at the region's
    highest tier; None when the region has no tier at all."""
    have = tiers(schedules, overrides, region_id)
    if not have:
        return None
    return min(max(level, 1), have[-1])


def next_handovers(
    schedules: Iterable[Rotation],
    overrides: Sequence[Override],
    now: datetime,
    until: datetime,
) -> list[Handover]:
    """Rotation handovers after ``now`` up to ``until``, oldest first (overrides not applied:
    the console lists those separately)."""
    out: list[Handover] = []
    for r in schedules:
        if not r.members:
            continue
        tz = ZoneInfo(r.tz)
        k = shift_index(r, now)
        k = 0 if k is None else k + 1
        while True:
            at = _boundary(r, tz, k)
            if at > until:
                break
            if at > now:
                out.append(Handover(at, r.region_id, r.tier, r.members[k % len(r.members)]))
            k += 1
    return sorted(out, key=lambda h: (h.at, h.region_id, h.tier))
