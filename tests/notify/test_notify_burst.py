"""A burst of pages to one robot: all delivered, in digests, never over the robot's limit."""

from __future__ import annotations

import re

from notify_fakes import FakeRobot, alert, drain, post, webhook


def _gateways_per_message(robot: FakeRobot) -> dict[str, int]:
    seen: dict[str, int] = {}
    for r in robot.accepted():
        for gw in set(re.findall(r"gw-\d{4}", r.text())):
            seen[gw] = seen.get(gw, 0) + 1
    return seen


def test_burst_of_200_pages_to_one_dingtalk_robot_is_delivered_in_digests_within_its_limit(
    make_relay, clock
):
    with FakeRobot(
        "dingtalk", secret="SECburst", monotonic=clock.monotonic, wall=clock.time
    ) as robot:
        relay = make_relay({"noc": {"type": "dingtalk", "url": robot.url, "secret": robot.secret}})
        hook = f"http://127.0.0.1:{relay.port}/alertmanager"
        for i in range(200):
            assert post(hook, webhook([alert(i)])) == 200
        spent = drain(relay, clock)

    assert robot.refused() == [], [r.answer for r in robot.refused()]
    assert robot.max_in_window(60.0) <= 20
    # Every page is in exactly one accepted message: none lost, none twice.
    assert _gateways_per_message(robot) == {f"gw-{i:04d}": 1 for i in range(200)}
    assert len(robot.accepted()) <= 20, "a burst this size fits in one window when digested"
    assert spent < 60.0
    reg = relay.registry
    assert reg.get_sample_value("posfleet_notify_digests_total", {"channel": "noc"}) == len(
        robot.accepted()
    )
    assert (
        reg.get_sample_value(
            "posfleet_notify_notifications_total", {"channel": "noc", "result": "delivered"}
        )
        == 200
    )
    assert reg.get_sample_value("posfleet_notify_queue_depth", {"channel": "noc"}) == 0


def test_pages_trickling_in_go_out_singly_until_the_window_is_spent_then_as_digests(
    make_relay, clock
):
    with FakeRobot("wecom", monotonic=clock.monotonic, wall=clock.time) as robot:
        relay = make_relay({"noc": {"type": "wecom", "url": robot.url, "lang": "en"}})
        hook = f"http://127.0.0.1:{relay.port}/alertmanager"
        for i in range(120):
            assert post(hook, webhook([alert(i)])) == 200
            relay.sender.pump()
            clock.advance(0.2)
        drain(relay, clock)

    assert robot.refused() == []
    assert robot.max_in_window(60.0) <= 20
    assert _gateways_per_message(robot) == {f"gw-{i:04d}": 1 for i in range(120)}
    texts = [r.text() for r in robot.accepted()]
    singles = [t for t in texts if "Alert digest" not in t]
    digests = [t for t in texts if "Alert digest" in t]
    assert len(singles) == 20  # the window's worth, while it had room
    assert digests
    assert all("none dropped" in t for t in digests)


def test_a_robot_that_says_too_fast_gets_a_digest_after_its_window_not_a_drop(make_relay, clock):
    # Someone else's script shares the robot and spent its window: the relay's own count
    # says there is room, the robot says 130101. The relay must back off and digest.
    with FakeRobot("dingtalk", monotonic=clock.monotonic, wall=clock.time) as robot:
        for _ in range(20):
            robot.handle(
                "/robot/send",
                {"access_token": robot.token},
                {},
                b'{"msgtype":"markdown","markdown":{"title":"x","text":"y"}}',
            )
        relay = make_relay({"noc": {"type": "dingtalk", "url": robot.url}}, backoff_initial_s=5.0)
        hook = f"http://127.0.0.1:{relay.port}/alertmanager"
        for i in range(30):
            assert post(hook, webhook([alert(i)])) == 200
        drain(relay, clock)

    refused = robot.refused()
    assert refused
    assert all(r.answer["errcode"] == 130101 for r in refused)
    assert _gateways_per_message(robot) == {f"gw-{i:04d}": 1 for i in range(30)}
    assert (
        relay.registry.get_sample_value(
            "posfleet_notify_notifications_total", {"channel": "noc", "result": "rate_limited"}
        )
        >= 1
    )


def test_a_restarted_relay_remembers_what_it_sent_in_the_robots_current_window(tmp_path, clock):
    from notify_fakes import write_config
    from prometheus_client import CollectorRegistry

    from notify.config import load
    from notify.server import Relay

    with FakeRobot("dingtalk", monotonic=clock.monotonic, wall=clock.time) as robot:
        cfg = load(write_config(tmp_path, {"noc": {"type": "dingtalk", "url": robot.url}}))
        first = Relay(cfg, CollectorRegistry(), clock=clock).start(sender=False)
        for i in range(20):
            assert post(f"http://127.0.0.1:{first.port}/alertmanager", webhook([alert(i)])) == 200
            first.sender.pump()
        first.stop()
        clock.advance(5.0)
        second = Relay(cfg, CollectorRegistry(), clock=clock).start(sender=False)
        try:
            for i in range(20, 25):
                assert (
                    post(f"http://127.0.0.1:{second.port}/alertmanager", webhook([alert(i)])) == 200
                )
            drain(second, clock)
        finally:
            second.stop()
    assert robot.refused() == []
    assert robot.max_in_window(60.0) <= 20
    assert _gateways_per_message(robot) == {f"gw-{i:04d}": 1 for i in range(25)}


def test_feishu_burst_keeps_both_its_limits_of_100_a_minute_and_5_a_second(make_relay, clock):
    with FakeRobot(
        "feishu",
        rate=100,
        per_s=60.0,
        extra_limits=[(5, 1.0)],
        monotonic=clock.monotonic,
        wall=clock.time,
    ) as robot:
        relay = make_relay({"noc": {"type": "feishu", "url": robot.url, "lang": "en"}})
        hook = f"http://127.0.0.1:{relay.port}/alertmanager"
        for i in range(60):
            assert post(hook, webhook([alert(i)])) == 200
        drain(relay, clock)
    assert robot.refused() == []
    assert robot.max_in_window(1.0) <= 5
    assert robot.max_in_window(60.0) <= 100
    # The minute's budget has room for all 60: they go singly, paced at 5 a second.
    assert len(robot.accepted()) == 60
    assert _gateways_per_message(robot) == {f"gw-{i:04d}": 1 for i in range(60)}
