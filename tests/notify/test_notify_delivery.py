"""Delivery guarantees on one relay: retries deduplicated, failures retried with backoff,
given up only after the configured time, every outcome in the console's audit log."""

from __future__ import annotations

import itertools
import json
import urllib.parse
import urllib.request

import pytest
from notify_fakes import FakeRobot, alert, drain, post, webhook

from collector.store import db as store_db
from collector.store.migrate import ensure_schema


def _new_store(target: str) -> str:
    conn = store_db.connect(target)
    ensure_schema(conn)
    conn.close()
    return target


def _audit_rows(db: str) -> list[tuple[str, str, str, dict]]:
    conn = store_db.connect(db)
    rows = conn.execute(
        "SELECT actor, action, subject, details FROM audit_log ORDER BY id"
    ).fetchall()
    conn.close()
    return [(a, b, c, json.loads(d)) for a, b, c, d in rows]


def test_alertmanager_retrying_the_same_notification_pages_once(make_relay, clock):
    with FakeRobot("dingtalk", monotonic=clock.monotonic, wall=clock.time) as robot:
        relay = make_relay({"noc": {"type": "dingtalk", "url": robot.url}})
        hook = f"http://127.0.0.1:{relay.port}/alertmanager"
        page = webhook([alert(1), alert(2)])
        assert post(hook, page) == 200
        assert post(hook, page) == 200  # Alertmanager did not see our first 200
        drain(relay, clock)
        # The same group later with one alert resolved is news, not a retry.
        resolved = webhook([alert(1), alert(2, status="resolved")])
        resolved["alerts"][1]["endsAt"] = "2026-11-30T08:00:00Z"
        assert post(hook, resolved) == 200
        drain(relay, clock)
    assert len(robot.accepted()) == 2
    reg = relay.registry
    assert reg.get_sample_value("posfleet_notify_received_total", {"result": "duplicate"}) == 1
    assert reg.get_sample_value("posfleet_notify_received_total", {"result": "stored"}) == 2


def test_sms_provider_answering_500_is_retried_with_growing_backoff_then_delivered(
    make_relay, clock
):
    with FakeRobot(
        "sms", auth="Bearer sms-token", monotonic=clock.monotonic, wall=clock.time, fail_next=3
    ) as sms:
        relay = make_relay(
            {
                "sms": {
                    "type": "http",
                    "url": sms.url,
                    "auth": "Bearer sms-token",
                    "to": ["13800138000"],
                    "lang": "zh-CN",
                    "ok_field": "Code",
                    "ok_value": "OK",
                    "body": {"PhoneNumbers": "{to}", "Text": "{text}", "SignName": "posfleet"},
                }
            },
            backoff_initial_s=2.0,
            backoff_max_s=60.0,
        )
        assert post(f"http://127.0.0.1:{relay.port}/alertmanager", webhook([alert(1)])) == 200
        drain(relay, clock)
    attempts = sms.received
    assert [r.accepted for r in attempts] == [False, False, False, True]
    gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
    # Exponential with jitter in [0.5, 1] x 2, 4, 8 s.
    for gap, full in zip(gaps, (2.0, 4.0, 8.0), strict=True):
        assert full / 2 <= gap <= full + 0.01, gaps
    body = attempts[-1].body
    assert body["PhoneNumbers"] == "13800138000"
    assert body["SignName"] == "posfleet"
    assert "GatewayDown" in body["Text"]
    assert "gw-0001" in body["Text"]
    assert (
        relay.registry.get_sample_value(
            "posfleet_notify_notifications_total", {"channel": "sms", "result": "retry"}
        )
        == 3
    )


def test_every_delivery_and_every_give_up_is_an_audit_row_in_the_posfleet_store(
    make_relay, clock, store_url
):
    db = _new_store(store_url)
    with (
        FakeRobot("wecom", monotonic=clock.monotonic, wall=clock.time) as ok_robot,
        FakeRobot("dingtalk", down=True, monotonic=clock.monotonic, wall=clock.time) as dead_robot,
    ):
        relay = make_relay(
            {
                "ok": {"type": "wecom", "url": ok_robot.url},
                "dead": {"type": "dingtalk", "url": dead_robot.url},
            },
            db=str(db),
            give_up_after_s=600.0,
            backoff_initial_s=10.0,
            backoff_max_s=120.0,
        )
        assert post(f"http://127.0.0.1:{relay.port}/alertmanager", webhook([alert(1)])) == 200
        spent = drain(relay, clock)
    # Given up at the first attempt after 600 s, which is at most one maximal backoff later.
    (last,) = relay.spool.conn.execute(
        "SELECT max(sent_at) - (SELECT min(received_at) FROM inbox) FROM messages"
    ).fetchone()
    assert 600.0 <= last <= 600.0 + 120.0
    assert spent == pytest.approx(last, abs=0.1)
    rows = _audit_rows(db)
    assert [(a, b) for a, b, _, _ in rows] == [
        ("posfleet-notify", "notify.delivered"),
        ("posfleet-notify", "notify.failed"),
    ]
    delivered, failed = rows[0][3], rows[1][3]
    # What the console's audit page shows (its own query, filtered by actor).
    from dashboard.queries import audit_log

    conn = store_db.connect(db)
    shown, total = audit_log(conn, "posfleet-notify", 50, 0)
    conn.close()
    assert total == 2
    assert set(shown["action"]) == {"notify.delivered", "notify.failed"}
    assert delivered["channel"] == "ok"
    assert delivered["alerts"][0]["fingerprint"] == "fp000001"
    assert failed["channel"] == "dead"
    assert failed["error"] == "HTTP 503"
    assert failed["attempts"] > 3
    assert (
        relay.registry.get_sample_value(
            "posfleet_notify_notifications_total", {"channel": "dead", "result": "failed"}
        )
        == 1
    )


def _ack_link(text: str) -> str:
    start = text.index("/ack?t=")
    end = text.index(")", start)
    return text[text.rindex("(", 0, start) + 1 : end]


def test_ack_link_shows_a_form_and_only_its_post_records_the_ack(make_relay, clock, store_url):
    db = _new_store(store_url)
    with FakeRobot("dingtalk", monotonic=clock.monotonic, wall=clock.time) as robot:
        relay = make_relay({"noc": {"type": "dingtalk", "url": robot.url}}, db=str(db))
        base = f"http://127.0.0.1:{relay.port}"
        assert post(f"{base}/alertmanager", webhook([alert(1)])) == 200
        drain(relay, clock)
        link = _ack_link(robot.accepted()[0].text())
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["t"][0]
        # A chat app previewing the link does a GET: that must not acknowledge anything.
        with urllib.request.urlopen(f"{base}/ack?t={urllib.parse.quote(token)}", timeout=5) as resp:
            page = resp.read().decode()
        assert "<form method='post'" in page
        assert "确认（认领）此告警：GatewayDown north site-1 gw-0001" in page
        assert relay.spool.ack_state("fp000001", "2026-11-30T07:48:00Z") == (None, None)
        (paged,) = relay.spool.conn.execute(
            "SELECT first_paged_at FROM alerts WHERE fingerprint = 'fp000001'"
        ).fetchone()
        assert paged == clock.time()  # the escalation seam: when it was first paged

        def submit(t: str) -> int:
            return post(f"{base}/ack", urllib.parse.urlencode({"t": t, "name": "李工"}).encode())

        assert submit(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]) == 403
        assert submit(token) == 200
        acked_at, by = relay.spool.ack_state("fp000001", "2026-11-30T07:48:00Z")
        assert acked_at is not None
        assert by == "李工"
        assert submit(token) == 200  # again: already acknowledged, no second audit row
        clock.advance(relay.config.ack_ttl_s + 1)
        assert submit(token) == 410
    acks = [r for r in _audit_rows(db) if r[1] == "notify.ack"]
    assert len(acks) == 1
    assert acks[0][2] == "alert:fp000001"
    assert acks[0][3]["by"] == "李工"
    assert (
        relay.registry.get_sample_value("posfleet_notify_acks_total", {"result": "bad_signature"})
        == 1
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "malformed_json"),
        (json.dumps({"version": "3", "alerts": []}).encode(), "wrong_version"),
        (
            json.dumps(
                {"version": "4", "receiver": "x", "status": "firing", "alerts": [{"labels": {}}]}
            ).encode(),
            "wrong_schema",
        ),
    ],
)
def test_bad_webhook_bodies_are_refused_with_a_reason_and_counted(make_relay, clock, body, reason):
    relay = make_relay({"noc": {"type": "dingtalk", "url": "http://127.0.0.1:9/robot/send"}})
    assert post(f"http://127.0.0.1:{relay.port}/alertmanager", body) == 400
    assert (
        relay.registry.get_sample_value("posfleet_notify_rejected_total", {"reason": reason}) == 1
    )
    assert relay.spool.depth() == {}


def test_a_receiver_without_a_route_is_kept_and_counted_not_lost(make_relay, clock):
    relay = make_relay({"noc": {"type": "dingtalk", "url": "http://127.0.0.1:9/robot/send"}})
    assert (
        post(
            f"http://127.0.0.1:{relay.port}/alertmanager",
            webhook([alert(1)], receiver="south-oncall"),
        )
        == 200
    )
    assert (
        relay.registry.get_sample_value("posfleet_notify_rejected_total", {"reason": "unrouted"})
        == 1
    )
    (stored,) = relay.spool.conn.execute(
        "SELECT count(*) FROM inbox WHERE receiver = 'south-oncall'"
    ).fetchone()
    assert stored == 1


def test_the_spool_forgets_finished_work_after_its_keep_time_but_never_pending_work(
    make_relay, clock
):
    with FakeRobot("dingtalk", monotonic=clock.monotonic, wall=clock.time) as robot:
        relay = make_relay({"noc": {"type": "dingtalk", "url": robot.url}})
        hook = f"http://127.0.0.1:{relay.port}/alertmanager"
        assert post(hook, webhook([alert(1)])) == 200
        drain(relay, clock)
        robot.down = True
        assert post(hook, webhook([alert(2)])) == 200
        relay.sender.pump()
    clock.advance(15 * 86400)
    assert relay.spool.prune(clock.time() - 14 * 86400) == 1
    (inbox,) = relay.spool.conn.execute("SELECT count(*) FROM inbox").fetchone()
    assert inbox == 1
    assert relay.spool.depth() == {"noc": 1}


def test_escalated_alerts_are_counted_by_bounded_level(make_relay, clock):
    with FakeRobot("dingtalk", monotonic=clock.monotonic, wall=clock.time) as robot:
        relay = make_relay({"noc": {"type": "dingtalk", "url": robot.url}})
        hook = f"http://127.0.0.1:{relay.port}/alertmanager"
        for i, level in enumerate(["0", "1", "2", "2", "5", "x"]):
            assert post(hook, webhook([alert(i, extra_labels={"escalation": level})])) == 200
        drain(relay, clock)
    text = robot.accepted()[2].text()
    assert "升级级别 2" in text
    got = {
        level: relay.registry.get_sample_value(
            "posfleet_notify_escalations_total", {"channel": "noc", "level": level}
        )
        for level in ("1", "2", "3+")
    }
    assert got == {"1": 1, "2": 2, "3+": 1}
