"""The relay pages whoever is on call for the alert's region and tier, and an ack link
acknowledges the posfleet alert in the store (which is what stops the escalation)."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from notify_fakes import FakeRobot, alert, drain, post, webhook

from collector.actions import Actor, Role, add_override, set_rotation
from collector.oncall import Person
from collector.store import db as store_db
from collector.store.migrate import ensure_schema
from collector.store.times import to_db

OPS = Actor("olga", Role.OPERATOR)
ANN = Person("Ann", "13800000001", "ann")
BOB = Person("Bob", "13800000002", "bob")
SINCE = "2026-11-30T07:48:00.000000+00:00"


def _new_store(target: str) -> None:
    conn = store_db.connect(target)
    ensure_schema(conn)
    conn.close()


@pytest.fixture
def db(store_url: str, clock) -> str:
    """A store on each backend (SQLite file, PostgreSQL database) with north's rotations."""
    path = store_url
    _new_store(path)
    conn = store_db.connect(path)
    with conn:
        conn.execute("INSERT INTO regions (region_id, name) VALUES ('north', 'North')")
    for tier, who in ((1, ANN), (2, BOB)):
        set_rotation(
            conn,
            OPS,
            region_id="north",
            tier=tier,
            members=[who],
            start_local=datetime(2026, 11, 1, 9, 0),
            shift=timedelta(weeks=1),
            now=clock.now(),
        )
    conn.close()
    return path


def _page(level: int, i: int = 1) -> dict:
    return webhook(
        [alert(i, alertname="PosfleetGatewayDown", extra_labels={"escalation": str(level)})]
    )


@pytest.mark.parametrize(
    ("level", "who", "phone"),
    [(1, "Ann", "13800000001"), (2, "Bob", "13800000002"), (5, "Bob", "13800000002")],
)
def test_dingtalk_page_names_and_mentions_the_on_call_person_of_its_tier(
    make_relay, clock, db, level, who, phone
):
    with FakeRobot("dingtalk", monotonic=clock.monotonic, wall=clock.time) as robot:
        relay = make_relay(
            {"noc": {"type": "dingtalk", "url": robot.url, "lang": "en"}}, db=str(db)
        )
        assert post(f"http://127.0.0.1:{relay.port}/alertmanager", _page(level)) == 200
        drain(relay, clock)
    (msg,) = robot.accepted()
    assert msg.mentioned() == [phone]  # level 5 is capped at north's highest tier, 2
    # Markdown neutralised: parentheses are full-width (notify.render.md_text).
    assert f"**On call:** {who} {phone} （north tier {min(level, 2)}）" in msg.text()


def test_a_stale_lower_level_copy_of_the_same_outage_mentions_nobody_else(make_relay, clock, db):
    # Prometheus replaced the level-1 alert by the level-2 one; Alertmanager still lists both.
    same = {"since": SINCE}
    page = webhook(
        [
            alert(1, alertname="PosfleetGatewayDown", extra_labels={**same, "escalation": "1"}),
            alert(1, alertname="PosfleetGatewayDown", extra_labels={**same, "escalation": "2"}),
        ]
    )
    page["alerts"][1]["fingerprint"] = "fp-level2"
    with FakeRobot("dingtalk", monotonic=clock.monotonic, wall=clock.time) as robot:
        relay = make_relay({"noc": {"type": "dingtalk", "url": robot.url}}, db=str(db))
        assert post(f"http://127.0.0.1:{relay.port}/alertmanager", page) == 200
        drain(relay, clock)
    assert [m.mentioned() for m in robot.accepted()] == [["13800000002"]]


def test_wecom_and_feishu_mention_by_chat_user_id(make_relay, clock, db):
    with (
        FakeRobot("wecom", monotonic=clock.monotonic, wall=clock.time) as wecom,
        FakeRobot("feishu", monotonic=clock.monotonic, wall=clock.time) as feishu,
    ):
        relay = make_relay(
            {
                "wc": {"type": "wecom", "url": wecom.url},
                "fs": {"type": "feishu", "url": feishu.url},
            },
            db=str(db),
        )
        assert post(f"http://127.0.0.1:{relay.port}/alertmanager", _page(2)) == 200
        drain(relay, clock)
    assert [m.mentioned() for m in wecom.accepted()] == [["bob"]]
    assert [m.mentioned() for m in feishu.accepted()] == [["bob"]]
    assert "值班" in feishu.accepted()[0].text()


def test_an_override_is_paged_instead_of_the_rotation(make_relay, clock, db):
    conn = store_db.connect(db)
    try:
        add_override(
            conn,
            OPS,
            region_id="north",
            tier=1,
            person=Person("Cai", "13800000003"),
            starts_at=clock.now() - timedelta(hours=1),
            ends_at=clock.now() + timedelta(hours=1),
            now=clock.now(),
        )
    finally:
        conn.close()
    with FakeRobot("dingtalk", monotonic=clock.monotonic, wall=clock.time) as robot:
        relay = make_relay({"noc": {"type": "dingtalk", "url": robot.url}}, db=str(db))
        assert post(f"http://127.0.0.1:{relay.port}/alertmanager", _page(1)) == 200
        drain(relay, clock)
    assert [m.mentioned() for m in robot.accepted()] == [["13800000003"]]


def test_sms_goes_to_the_on_call_phone_of_the_tier(make_relay, clock, db):
    with FakeRobot("sms", monotonic=clock.monotonic, wall=clock.time) as sms:
        relay = make_relay(
            {
                "sms": {
                    "type": "http",
                    "url": sms.url,
                    "to_oncall": True,
                    "body": {"PhoneNumbers": "{to}", "Text": "{text}"},
                }
            },
            db=str(db),
        )
        assert post(f"http://127.0.0.1:{relay.port}/alertmanager", _page(2)) == 200
        drain(relay, clock)
    assert [r.body["PhoneNumbers"] for r in sms.accepted()] == ["13800000002"]


def test_sms_to_on_call_with_nobody_on_call_is_retried_not_dropped(make_relay, clock, store_url):
    empty = store_url
    _new_store(empty)
    with FakeRobot("sms", monotonic=clock.monotonic, wall=clock.time) as sms:
        relay = make_relay(
            {"sms": {"type": "http", "url": sms.url, "to_oncall": True}},
            db=str(empty),
            give_up_after_s=60.0,
        )
        assert post(f"http://127.0.0.1:{relay.port}/alertmanager", _page(1)) == 200
        drain(relay, clock)
    assert sms.received == []
    assert (
        relay.registry.get_sample_value(
            "posfleet_notify_notifications_total", {"channel": "sms", "result": "failed"}
        )
        == 1
    )


def _ack_link(text: str) -> str:
    (url,) = re.findall(r"\((http://[^)\s]+/ack\?t=[^)\s]+)\)", text)
    return url


def _store_alert(db: str, clock) -> int:
    conn = store_db.connect(db)
    with conn:
        (alert_id,) = conn.execute(
            "INSERT INTO alerts (kind, subject_type, subject_id, severity, state, region_id, "
            "site_id, gateway_id, started_at, fired_at, escalation) VALUES ('gateway_down', "
            "'gateway', 'gw-0001', 'critical', 'firing', 'north', 'site-1', 'gw-0001', ?, ?, 1) "
            "RETURNING id",
            (to_db(clock.now() - timedelta(minutes=13)), SINCE),
        ).fetchone()
        # Another outage of the same gateway, resolved: never the one acknowledged.
        conn.execute(
            "INSERT INTO alerts (kind, subject_type, subject_id, severity, state, region_id, "
            "site_id, gateway_id, started_at, fired_at, resolved_at) VALUES ('gateway_down', "
            "'gateway', 'gw-0001', 'critical', 'resolved', 'north', 'site-1', 'gw-0001', ?, ?, ?)",
            ("2026-11-29T07:00:00.000000+00:00",) * 3,
        )
    conn.close()
    return int(alert_id)


def test_an_ack_link_acknowledges_the_posfleet_alert_in_the_store_and_audits_it(
    make_relay, clock, db
):
    alert_id = _store_alert(db, clock)
    with FakeRobot("dingtalk", monotonic=clock.monotonic, wall=clock.time) as robot:
        relay = make_relay({"noc": {"type": "dingtalk", "url": robot.url}}, db=str(db))
        page = webhook(
            [
                alert(
                    1,
                    alertname="PosfleetGatewayDown",
                    extra_labels={"escalation": "1", "since": SINCE},
                )
            ]
        )
        assert post(f"http://127.0.0.1:{relay.port}/alertmanager", page) == 200
        drain(relay, clock)
        link = _ack_link(robot.accepted()[0].text())
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["t"][0]
        form = urllib.parse.urlencode({"t": token, "name": "Ann"}).encode()
        with urllib.request.urlopen(
            urllib.request.Request(f"http://127.0.0.1:{relay.port}/ack", data=form), timeout=10
        ) as resp:
            assert resp.status == 200
    conn = store_db.connect(db)
    assert conn.execute("SELECT acked_by FROM alerts WHERE id = ?", (alert_id,)).fetchone() == (
        "chat:Ann",
    )
    assert conn.execute("SELECT count(*) FROM alerts WHERE acked_by IS NOT NULL").fetchone() == (1,)
    rows = conn.execute("SELECT actor, action, subject, details FROM audit_log").fetchall()
    conn.close()
    acts = [(a, b, c) for a, b, c, _ in rows]
    assert ("chat:Ann", "alert.acknowledge", f"alert:{alert_id}") in acts
    (ack,) = [json.loads(d) for _, b, _, d in rows if b == "notify.ack"]
    assert (ack["by"], ack["store"]) == ("Ann", "acked")
    (delivered,) = [json.loads(d) for _, b, _, d in rows if b == "notify.delivered"]
    assert delivered["oncall"] == [{"name": "Ann", "region": "north", "tier": 1}]
    assert (
        relay.registry.get_sample_value("posfleet_notify_store_acks_total", {"result": "acked"})
        == 1
    )


def test_an_escalated_page_is_audited_with_whom_it_went_to(make_relay, clock, db):
    with FakeRobot("dingtalk", monotonic=clock.monotonic, wall=clock.time) as robot:
        relay = make_relay({"noc": {"type": "dingtalk", "url": robot.url}}, db=str(db))
        assert post(f"http://127.0.0.1:{relay.port}/alertmanager", _page(2)) == 200
        drain(relay, clock)
    conn = store_db.connect(db)
    rows = conn.execute(
        "SELECT subject, details FROM audit_log WHERE action = 'notify.escalated'"
    ).fetchall()
    conn.close()
    ((subject, details),) = rows
    assert subject == "alert:fp000001"
    d = json.loads(details)
    assert (d["level"], d["oncall"]) == (2, [{"name": "Bob", "tier": 2}])


def test_every_shipped_fleet_rule_maps_back_to_its_store_kind():
    # The ack link finds the store's alert by kind: a rule renamed without this mapping
    # would leave acks unable to stop the escalation.
    import yaml

    from notify.oncall import kind_of

    rules = Path(__file__).resolve().parents[2] / "deploy/prometheus/rules/posfleet.rules.yml"
    pairs = [
        (r["alert"], m.group(1))
        for g in yaml.safe_load(rules.read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
        and (m := re.search(r'posfleet_alert_firing(?::held)?\{alertname="(\w+)"', r["expr"]))
    ]
    assert len(pairs) >= 9
    assert [(name, kind_of(name)) for name, _ in pairs] == pairs


def test_a_wecom_page_over_4096_bytes_is_cut_but_keeps_the_on_call_line_and_mention(
    make_relay, clock, db
):
    """The on-call line and the <@userid> tag count against WeCom's 4096 bytes too."""
    long = {k: "长" * 200 for k in ("site_name", "merchant", "terminal", "acquirer", "address")}
    page = webhook(
        [
            alert(
                1,
                alertname="PosfleetGatewayDown",
                extra_labels={"escalation": "1", **long},
                annotations={"summary_zh": "断" * 400, "description_zh": "说" * 3000},
            )
        ]
    )
    with FakeRobot("wecom", monotonic=clock.monotonic, wall=clock.time) as robot:
        relay = make_relay({"noc": {"type": "wecom", "url": robot.url}}, db=str(db))
        assert post(f"http://127.0.0.1:{relay.port}/alertmanager", page) == 200
        drain(relay, clock)
    assert robot.refused() == [], [m.answer for m in robot.refused()]
    (msg,) = robot.accepted()
    assert msg.mentioned() == ["ann"]
    assert "**值班:** Ann 13800000001 （north 第 1 级）" in msg.text()
    assert "部分内容已截断" in msg.text()
    assert "[处理手册](https://runbooks.example/gateway-down.md)" in msg.text()
