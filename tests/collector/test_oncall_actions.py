"""On-call actions against a real SQLite store: validated, audited, read back as values."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from collector.actions import (
    Actor,
    InvalidAction,
    NotFound,
    PermissionDenied,
    Role,
    add_override,
    load_oncall,
    remove_override,
    set_rotation,
)
from collector.oncall import Person, on_call
from collector.store import db
from collector.store.migrate import ensure_schema

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
OPS = Actor("olga", Role.OPERATOR)


@pytest.fixture
def conn(store_url: str) -> Iterator[db.Connection]:
    c = db.connect(store_url)
    ensure_schema(c)
    with c:
        c.execute("INSERT INTO regions (region_id, name) VALUES ('north', 'North')")
    try:
        yield c
    finally:
        c.close()


def test_a_rotation_is_stored_audited_and_read_back_with_its_people(conn) -> None:
    set_rotation(
        conn,
        OPS,
        region_id="north",
        tier=1,
        members=[Person(" Li  Wei ", "138-0000-0001", "liwei"), Person("Zhang", "+8613900000002")],
        start_local=datetime(2026, 11, 30, 9, 0),
        shift=timedelta(hours=12),
        now=NOW,
    )
    (rotations, overrides) = load_oncall(conn, NOW)
    (r,) = rotations
    assert r.members == (
        Person("Li Wei", "13800000001", "liwei"),
        Person("Zhang", "+8613900000002"),
    )
    assert (r.region_id, r.tier, r.tz, r.shift) == (
        "north",
        1,
        "Asia/Shanghai",
        timedelta(hours=12),
    )
    assert overrides == []
    # 09:00 in Shanghai is 01:00 UTC: Li Wei until 13:00 UTC, then Zhang.
    assert on_call(rotations, [], "north", 1, NOW).name == "Li Wei"
    assert (
        on_call(rotations, [], "north", 1, datetime(2026, 11, 30, 13, tzinfo=UTC)).name == "Zhang"
    )
    ((actor, action, subject, details),) = conn.execute(
        "SELECT actor, action, subject, details FROM audit_log"
    ).fetchall()
    assert (actor, action, subject) == ("olga", "oncall.rotation", "oncall:north/1")
    assert json.loads(details)["members"] == ["Li Wei", "Zhang"]


def test_setting_a_rotation_again_replaces_it(conn) -> None:
    for who in ("Ann", "Bob"):
        set_rotation(
            conn,
            OPS,
            region_id="north",
            tier=2,
            members=[Person(who)],
            start_local=datetime(2026, 11, 30, 9, 0),
            shift=timedelta(weeks=1),
            now=NOW,
        )
    (r,), _ = load_oncall(conn)
    assert [p.name for p in r.members] == ["Bob"]
    assert json.loads(conn.execute("SELECT details FROM audit_log ORDER BY id DESC").fetchone()[0])[
        "replaced"
    ]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"region_id": "atlantis"}, NotFound),
        ({"tier": 0}, InvalidAction),
        ({"members": []}, InvalidAction),
        ({"members": [Person("")]}, InvalidAction),
        ({"members": [Person("Ann", "call me")]}, InvalidAction),
        ({"members": [Person("Ann", "", "<@all>")]}, InvalidAction),
        ({"shift": timedelta(minutes=30)}, InvalidAction),
        ({"tz": "Mars/Olympus"}, InvalidAction),
    ],
)
def test_a_bad_rotation_is_refused_and_writes_nothing(conn, kwargs, error) -> None:
    args = {
        "region_id": "north",
        "tier": 1,
        "members": [Person("Ann")],
        "start_local": datetime(2026, 11, 30, 9, 0),
        "shift": timedelta(hours=12),
        "now": NOW,
    } | kwargs
    with pytest.raises(error):
        set_rotation(conn, OPS, **args)
    assert conn.execute("SELECT count(*) FROM oncall_rotations").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == (0,)


def test_a_viewer_may_not_edit_on_call(conn) -> None:
    with pytest.raises(PermissionDenied):
        add_override(
            conn,
            Actor("vic", Role.VIEWER),
            region_id="north",
            tier=1,
            person=Person("Vic"),
            starts_at=NOW,
            ends_at=NOW + timedelta(hours=1),
            now=NOW,
        )


def test_an_override_wins_until_removed_and_each_step_is_audited(conn) -> None:
    set_rotation(
        conn,
        OPS,
        region_id="north",
        tier=1,
        members=[Person("Ann")],
        start_local=datetime(2026, 11, 1, 9, 0),
        shift=timedelta(days=1),
        now=NOW,
    )
    oid = add_override(
        conn,
        OPS,
        region_id="north",
        tier=1,
        person=Person("Bob", "13800000002"),
        starts_at=NOW,
        ends_at=NOW + timedelta(hours=8),
        note="Ann at the dentist",
        now=NOW,
    )
    rotations, overrides = load_oncall(conn, NOW)
    assert on_call(rotations, overrides, "north", 1, NOW + timedelta(hours=1)) == Person(
        "Bob", "13800000002"
    )
    # An override that has ended is not loaded for "now" any more.
    assert load_oncall(conn, NOW + timedelta(hours=8))[1] == []
    remove_override(conn, OPS, oid, NOW)
    rotations, overrides = load_oncall(conn, NOW)
    assert on_call(rotations, overrides, "north", 1, NOW).name == "Ann"
    assert [a for (a,) in conn.execute("SELECT action FROM audit_log ORDER BY id")] == [
        "oncall.rotation",
        "oncall.override",
        "oncall.override_removed",
    ]


@pytest.mark.parametrize(
    ("region", "starts", "ends", "error"),
    [
        ("atlantis", NOW, NOW + timedelta(hours=1), NotFound),
        ("north", NOW, NOW, InvalidAction),
        ("north", NOW, NOW - timedelta(hours=1), InvalidAction),
        ("north", NOW - timedelta(hours=3), NOW - timedelta(hours=1), InvalidAction),
    ],
)
def test_a_bad_override_is_refused(conn, region, starts, ends, error) -> None:
    with pytest.raises(error):
        add_override(
            conn,
            OPS,
            region_id=region,
            tier=1,
            person=Person("Bob"),
            starts_at=starts,
            ends_at=ends,
            now=NOW,
        )
    assert conn.execute("SELECT count(*) FROM oncall_overrides").fetchone() == (0,)
