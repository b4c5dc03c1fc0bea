"""Who is on call (collector.oncall): pure, fake times, hypothesis over rotations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.oncall import (
    Override,
    Person,
    Rotation,
    next_handovers,
    on_call,
    tier_for,
)

ANN, BOB, CAT, DAN = Person("Ann", "13800000001"), Person("Bob"), Person("Cat"), Person("Dan")
NY = "America/New_York"  # DST: 2026-03-08 02:00 -> 03:00, 2026-11-01 02:00 -> 01:00

people = st.lists(
    st.builds(Person, st.text("abcdefgh", min_size=1, max_size=6)), min_size=1, max_size=5
)
zones = st.sampled_from(["Asia/Shanghai", NY, "Europe/Berlin", "Australia/Lord_Howe", "UTC"])
shifts = st.sampled_from(
    [timedelta(hours=h) for h in (1, 8, 12, 24, 24 * 7)] + [timedelta(minutes=90)]
)
starts = st.datetimes(datetime(2025, 1, 1), datetime(2027, 1, 1)).map(
    lambda d: d.replace(second=0, microsecond=0)
)
instants = st.datetimes(datetime(2025, 1, 1), datetime(2028, 1, 1), timezones=st.just(UTC))


def _rot(members: list[Person], start: datetime, shift: timedelta, tz: str) -> Rotation:
    return Rotation("north", 1, tuple(members), start, shift, tz)


def test_weekly_rotation_hands_over_at_nine_local_across_both_dst_changes() -> None:
    r = Rotation("north", 1, (ANN, BOB, CAT), datetime(2026, 3, 2, 9, 0), timedelta(weeks=1), NY)
    ny = ZoneInfo(NY)
    # Week 2 starts Monday 2026-03-09 09:00 EDT (13:00 UTC), the day after spring forward.
    assert on_call([r], [], "north", 1, datetime(2026, 3, 9, 12, 59, tzinfo=UTC)) == ANN
    assert on_call([r], [], "north", 1, datetime(2026, 3, 9, 13, 0, tzinfo=UTC)) == BOB
    # After fall back, Monday 2026-11-02 09:00 EST is 14:00 UTC.
    week = (datetime(2026, 11, 2) - datetime(2026, 3, 2)).days // 7
    before, at = datetime(2026, 11, 2, 13, 59, tzinfo=UTC), datetime(2026, 11, 2, 14, tzinfo=UTC)
    assert on_call([r], [], "north", 1, before) == r.members[(week - 1) % 3]
    assert on_call([r], [], "north", 1, at) == r.members[week % 3]
    assert at.astimezone(ny).hour == 9


def test_a_handover_inside_the_spring_forward_gap_happens_at_the_shifted_time() -> None:
    # 12 h shifts at 02:30 / 14:30 local: 2026-03-08 02:30 does not exist in New York.
    r = Rotation("north", 1, (ANN, BOB), datetime(2026, 3, 1, 2, 30), timedelta(hours=12), NY)
    gap_shift = 2 * 7  # 2026-03-08 02:30 is shift 14 (Ann's)
    assert on_call([r], [], "north", 1, datetime(2026, 3, 8, 6, 59, tzinfo=UTC)) == BOB  # 01:59 EST
    assert on_call([r], [], "north", 1, datetime(2026, 3, 8, 7, 29, tzinfo=UTC)) == BOB  # 03:29 EDT
    assert on_call([r], [], "north", 1, datetime(2026, 3, 8, 7, 30, tzinfo=UTC)) == ANN  # 03:30 EDT
    assert r.members[gap_shift % 2] == ANN


def test_overrides_win_newest_first_and_only_inside_their_window() -> None:
    r = Rotation("north", 2, (ANN,), datetime(2026, 1, 1), timedelta(days=1))
    t0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
    o1 = Override("north", 2, BOB, t0, t0 + timedelta(hours=4), id=1)
    o2 = Override("north", 2, CAT, t0 + timedelta(hours=1), t0 + timedelta(hours=2), id=2)
    other = Override("south", 2, DAN, t0, t0 + timedelta(hours=4), id=3)
    ov = [o2, o1, other]
    assert on_call([r], ov, "north", 2, t0 - timedelta(seconds=1)) == ANN
    assert on_call([r], ov, "north", 2, t0) == BOB
    assert on_call([r], ov, "north", 2, t0 + timedelta(minutes=90)) == CAT
    assert on_call([r], ov, "north", 2, t0 + timedelta(hours=4)) == ANN  # end is exclusive
    assert on_call([r], ov, "north", 1, t0) is None  # tier 1 has nobody


def test_gaps_return_nobody() -> None:
    r = Rotation("north", 1, (ANN,), datetime(2026, 6, 1, 8), timedelta(hours=12))
    empty = Rotation("south", 1, (), datetime(2026, 1, 1), timedelta(hours=12))
    assert on_call([r], [], "north", 1, datetime(2026, 5, 31, 23, 59, tzinfo=UTC)) is None
    assert on_call([r], [], "north", 1, datetime(2026, 6, 1, 0, 0, tzinfo=UTC)) == ANN  # 08:00 CST
    assert on_call([r, empty], [], "south", 1, datetime(2026, 6, 2, tzinfo=UTC)) is None
    assert on_call([r], [], "east", 1, datetime(2026, 6, 2, tzinfo=UTC)) is None


def test_escalation_level_is_the_tier_capped_at_the_regions_highest() -> None:
    rs = [
        Rotation("north", 1, (ANN,), datetime(2026, 1, 1), timedelta(days=1)),
        Rotation("north", 2, (BOB,), datetime(2026, 1, 1), timedelta(days=1)),
    ]
    assert [tier_for(rs, [], "north", lvl) for lvl in (0, 1, 2, 3, 7)] == [1, 1, 2, 2, 2]
    assert tier_for(rs, [], "south", 2) is None


@settings(max_examples=300, deadline=None)
@given(people, starts, shifts, zones, instants)
def test_exactly_the_member_of_the_running_shift_is_on_call(members, start, shift, tz, now):
    r = _rot(members, start, shift, tz)
    got = on_call([r], [], "north", 1, now)
    zone = ZoneInfo(tz)
    first = start.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if now < first:
        assert got is None
        return
    # Independent of the module: count the handovers (local wall-clock times, resolved like
    # a clock on the wall: fold 0) at or before now.
    k = 0
    while (start + (k + 1) * shift).replace(tzinfo=zone, fold=0).astimezone(UTC) <= now:
        k += 1
        if k > 20000:
            return  # far future with short shifts: not what this property is about
    assert got == members[k % len(members)]


@settings(max_examples=200, deadline=None)
@given(people, starts, shifts, zones, instants, st.integers(1, 3), st.integers(1, 72))
def test_an_override_covering_now_always_wins(members, start, shift, tz, now, tier, hours):
    r = Rotation("north", tier, tuple(members), start, shift, tz)
    o = Override("north", tier, DAN, now - timedelta(hours=1), now + timedelta(hours=hours), 1)
    assert on_call([r], [o], "north", tier, now) == DAN
    assert on_call([r], [o], "north", tier, o.ends_at) == on_call([r], [], "north", tier, o.ends_at)


@settings(max_examples=100, deadline=None)
@given(people, starts, shifts, zones, instants)
def test_each_listed_handover_changes_to_the_person_it_names(members, start, shift, tz, now):
    r = _rot(members, start, shift, tz)
    for h in next_handovers([r], [], now, now + 4 * shift):
        assert h.at > now
        assert on_call([r], [], "north", 1, h.at) == h.person
